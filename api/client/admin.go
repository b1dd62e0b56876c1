package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// CreateUser creates an account (POST /v1/users) with an admin's token.
// It is the one call never repeated after an ambiguous failure: the
// error then wraps ErrUnknownOutcome, and a later ListUsers tells.
func (c *Client) CreateUser(ctx context.Context, adminToken string, nu NewUser) (*User, error) {
	var out User
	_, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/users", token: adminToken, body: nu}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListUsers lists the accounts of db ("" = every db, or the server's
// default) (GET /v1/users).
func (c *Client) ListUsers(ctx context.Context, adminToken, db string) ([]User, error) {
	req := &request{method: http.MethodGet, path: "/v1/users", token: adminToken, repeatable: true}
	if db != "" {
		req.query = url.Values{"db": {db}}
	}
	var out struct {
		Users []User `json:"users"`
	}
	_, err := c.do(ctx, req, &out)
	return out.Users, err
}

// GetUser returns one account (GET /v1/users/{id}).
func (c *Client) GetUser(ctx context.Context, adminToken string, id uint64) (*User, error) {
	var out User
	_, err := c.do(ctx, &request{method: http.MethodGet, path: userPath(id), token: adminToken, repeatable: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes an account (PATCH /v1/users/{id}); setting the same
// values twice is harmless, so it is retried like a read.
func (c *Client) UpdateUser(ctx context.Context, adminToken string, id uint64, up UserUpdate) (*User, error) {
	var out User
	_, err := c.do(ctx, &request{method: http.MethodPatch, path: userPath(id), token: adminToken, body: up, repeatable: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser deletes an account and ends its sessions (DELETE
// /v1/users/{id}).
func (c *Client) DeleteUser(ctx context.Context, adminToken string, id uint64) error {
	req := &request{method: http.MethodDelete, path: userPath(id), token: adminToken, repeatable: true}
	_, err := c.do(ctx, req, nil)
	return forgiveRepeat(req, err, ErrNotFound)
}

// UserSessions lists the sessions of an account (GET /v1/users/{id}/sessions).
func (c *Client) UserSessions(ctx context.Context, adminToken string, id uint64) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	_, err := c.do(ctx, &request{method: http.MethodGet, path: userPath(id) + "/sessions", token: adminToken, repeatable: true}, &out)
	return out.Sessions, err
}

// RevokeUserSessions ends every session of an account (DELETE
// /v1/users/{id}/sessions).
func (c *Client) RevokeUserSessions(ctx context.Context, adminToken string, id uint64) error {
	_, err := c.do(ctx, &request{method: http.MethodDelete, path: userPath(id) + "/sessions", token: adminToken, repeatable: true}, nil)
	return err
}

func userPath(id uint64) string { return "/v1/users/" + strconv.FormatUint(id, 10) }

// ClusterStatus returns the answering node's view of the cluster (GET
// /v1/cluster). It authenticates with adminToken, or with the cluster key
// (WithClusterKey) when adminToken is empty.
func (c *Client) ClusterStatus(ctx context.Context, adminToken string) (*ClusterStatus, error) {
	var out ClusterStatus
	req := &request{method: http.MethodGet, path: "/v1/cluster", token: adminToken, clusterKey: adminToken == "", repeatable: true}
	meta, err := c.do(ctx, req, &out)
	if err != nil {
		return nil, err
	}
	out.Meta = meta
	return &out, nil
}

// Health reports whether a node's process is up (GET /healthz). Each node
// is asked at most once, without waiting: nil means one answered 200.
func (c *Client) Health(ctx context.Context) error {
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/healthz", repeatable: true, onePass: true}, nil)
	return err
}

// Ready reports whether a node would take traffic (GET /readyz: it knows
// a leader and has caught up). Each node is asked at most once, without
// waiting: nil means one answered 200. Build a client over one address to
// ask about one node.
func (c *Client) Ready(ctx context.Context) error {
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/readyz", repeatable: true, onePass: true}, nil)
	return err
}

// Unlock clears an account's failed logins and spent guess budget (POST
// /v1/cluster/unlock): the break-glass that works while the admin account
// itself is being guessed at. It authenticates with adminToken, or with the
// cluster key (WithClusterKey) when adminToken is empty.
func (c *Client) Unlock(ctx context.Context, adminToken, db, login string) (*User, error) {
	var out User
	req := &request{method: http.MethodPost, path: "/v1/cluster/unlock", token: adminToken, clusterKey: adminToken == "",
		body: map[string]string{"db": db, "login": login}, repeatable: true}
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetOperator grants (operator true) or takes back the cluster operator
// role of the user db/login (POST /v1/cluster/operator). With adminToken
// "" the call is signed with the cluster key (WithClusterKey): the
// break-glass way to name the first operator of a cluster upgraded from a
// release without roles. Otherwise adminToken must be the operator's.
func (c *Client) SetOperator(ctx context.Context, adminToken, db, login string, operator bool) (*User, error) {
	var out User
	req := &request{method: http.MethodPost, path: "/v1/cluster/operator", token: adminToken, clusterKey: adminToken == "",
		body: map[string]any{"db": db, "login": login, "operator": operator}, repeatable: true}
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// FirstAdmin creates the first admin of a cluster that has none (POST
// /v1/cluster/first-admin), signed with the cluster key (WithClusterKey):
// the way to a first admin for a cluster bootstrapped without
// SESSIOND_ADMIN_PASSWORD. The account is an admin of db and the
// cluster's operator. A cluster with an admin answers ErrConflict.
func (c *Client) FirstAdmin(ctx context.Context, db, login, password string) (*User, error) {
	var out User
	req := &request{method: http.MethodPost, path: "/v1/cluster/first-admin", clusterKey: true,
		body: map[string]string{"db": db, "login": login, "password": password}}
	if _, err := c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
