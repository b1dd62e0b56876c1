package client

import (
	"context"
	"errors"
	"net/http"
	"net/url"
)

// Login creates a session (POST /v1/login). A wrong login or password is
// ErrBadCredentials. A login repeated after an ambiguous failure can at
// worst leave one extra session whose token nobody holds.
func (c *Client) Login(ctx context.Context, lr LoginRequest) (*LoginResponse, error) {
	var out LoginResponse
	meta, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/login", body: lr, repeatable: true}, &out)
	if err != nil {
		return nil, err
	}
	out.Meta = meta
	return &out, nil
}

// Session validates token and returns its session and user (GET
// /v1/session). consistency is "", "default", "consistent" or "stale".
// An unknown, revoked or expired token is ErrInvalidToken.
func (c *Client) Session(ctx context.Context, token, consistency string) (*Whoami, error) {
	if token == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "no_credentials", Message: "no token given"}
	}
	req := &request{method: http.MethodGet, path: "/v1/session", token: token, repeatable: true}
	if consistency != "" {
		req.query = url.Values{"consistency": {consistency}}
	}
	var out Whoami
	meta, err := c.do(ctx, req, &out)
	if err != nil {
		return nil, err
	}
	out.Meta = meta
	return &out, nil
}

// Logout ends the session of token (POST /v1/logout). If a retry follows
// an attempt that may have succeeded, the token being already invalid
// counts as success.
func (c *Client) Logout(ctx context.Context, token string) error {
	req := &request{method: http.MethodPost, path: "/v1/logout", token: token, repeatable: true}
	_, err := c.do(ctx, req, nil)
	return forgiveRepeat(req, err, ErrInvalidToken)
}

// LogoutAll ends every session of the token's user (POST /v1/logoutall),
// or all but the caller's own when keepCurrent.
func (c *Client) LogoutAll(ctx context.Context, token string, keepCurrent bool) error {
	req := &request{method: http.MethodPost, path: "/v1/logoutall", token: token, repeatable: true}
	if keepCurrent {
		req.query = url.Values{"keep_current": {"true"}}
	}
	_, err := c.do(ctx, req, nil)
	if keepCurrent {
		return err
	}
	return forgiveRepeat(req, err, ErrInvalidToken)
}

// Sessions lists the live sessions of the token's user (GET /v1/sessions).
func (c *Client) Sessions(ctx context.Context, token string) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	_, err := c.do(ctx, &request{method: http.MethodGet, path: "/v1/sessions", token: token, repeatable: true}, &out)
	return out.Sessions, err
}

// RevokeSession ends one of the caller's own sessions by its public ID
// (DELETE /v1/sessions/{id}).
func (c *Client) RevokeSession(ctx context.Context, token, id string) error {
	req := &request{method: http.MethodDelete, path: "/v1/sessions/" + url.PathEscape(id), token: token, repeatable: true}
	_, err := c.do(ctx, req, nil)
	return forgiveRepeat(req, err, ErrNotFound)
}

// Introspect asks whether token is active (POST /v1/introspect, RFC
// 7662), with the credentials of an admin (adminToken). An inactive token
// is not an error: the answer has Active=false.
func (c *Client) Introspect(ctx context.Context, adminToken, token string) (*Introspection, error) {
	var out Introspection
	body := map[string]string{"token": token}
	_, err := c.do(ctx, &request{method: http.MethodPost, path: "/v1/introspect", token: adminToken, body: body, repeatable: true}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// forgiveRepeat turns want into success when an earlier attempt of req
// may already have done what was asked.
func forgiveRepeat(req *request, err error, want error) error {
	if err != nil && req.ambiguous && errors.Is(err, want) {
		return nil
	}
	return err
}
