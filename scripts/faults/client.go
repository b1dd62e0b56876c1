package faults

import (
	"github.com/sessiond/sessiond/cluster/reqsign"

	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Client speaks the native API to every node. It keeps no state about the
// cluster: each call names the node it goes to.
type Client struct {
	URLs       []string
	IDs        []string
	clusterKey string
	hc         *http.Client
	// AdminToken authenticates admin calls once AdminLogin ran.
	AdminToken string
}

// NewClient returns a client for nodes at urls.
func NewClient(urls, ids []string, clusterKey string) *Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second}
	return &Client{URLs: urls, IDs: ids, clusterKey: clusterKey, hc: &http.Client{Transport: tr}}
}

// Answer is an HTTP answer: Status 0 means none arrived (Err says why).
type Answer struct {
	Status int
	Body   []byte
	Index  uint64
	Node   string
	Err    error
}

// signWithClusterKey, as a header name given to do, signs the request with
// the cluster key instead of setting a header.
const signWithClusterKey = "sign-with-cluster-key"

func (c *Client) do(ctx context.Context, node int, method, path, token string, body any, hdr map[string]string) Answer {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URLs[node]+path, rd)
	if err != nil {
		return Answer{Err: err}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		if k == signWithClusterKey {
			// The cluster key never travels: the request carries an HMAC
			// signature made with it (cluster/reqsign), for this node alone.
			if err := reqsign.Sign(req, reqsign.Key(c.clusterKey), c.IDs[node]); err != nil {
				return Answer{Err: err}
			}
			continue
		}
		req.Header.Set(k, v)
	}
	return c.send(req)
}

// send does req and reads the answer with the node's headers.
func (c *Client) send(req *http.Request) Answer {
	resp, err := c.hc.Do(req)
	if err != nil {
		return Answer{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := Answer{Status: resp.StatusCode, Body: data, Node: resp.Header.Get("X-Sessiond-Node")}
	a.Index, _ = strconv.ParseUint(resp.Header.Get("X-Sessiond-Index"), 10, 64)
	if err != nil {
		a.Status, a.Err = 0, err
	}
	return a
}

// Ready reports whether node i answers /readyz with 200.
func (c *Client) Ready(ctx context.Context, i int) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return c.do(ctx, i, http.MethodGet, "/readyz", "", nil, nil).Status == http.StatusOK
}

// LoginResult is what a login returns.
type LoginResult struct {
	Token     string
	ExpiresAt int64 // unix ns, 0 = none
}

// Login posts /v1/login.
func (c *Client) Login(ctx context.Context, node int, login, password string) (LoginResult, Answer) {
	a := c.do(ctx, node, http.MethodPost, "/v1/login", "", map[string]string{"login": login, "password": password}, nil)
	var out struct {
		Token   string `json:"token"`
		Session struct {
			ExpiresAt *string `json:"expires_at"`
		} `json:"session"`
	}
	var r LoginResult
	if a.Status == http.StatusCreated && json.Unmarshal(a.Body, &out) == nil {
		r.Token = out.Token
		if out.Session.ExpiresAt != nil {
			if t, err := time.Parse(time.RFC3339, *out.Session.ExpiresAt); err == nil {
				r.ExpiresAt = t.UnixNano()
			}
		}
	}
	return r, a
}

// Validate gets /v1/session at a consistency level.
func (c *Client) Validate(ctx context.Context, node int, token, level string) Answer {
	return c.do(ctx, node, http.MethodGet, "/v1/session?consistency="+level, token, nil, nil)
}

// Logout posts /v1/logout with the token.
func (c *Client) Logout(ctx context.Context, node int, token string) Answer {
	return c.do(ctx, node, http.MethodPost, "/v1/logout", token, nil, nil)
}

// LogoutAll posts /v1/logoutall authenticated by token, validated at level.
func (c *Client) LogoutAll(ctx context.Context, node int, token, level string) Answer {
	return c.do(ctx, node, http.MethodPost, "/v1/logoutall?consistency="+level, token, nil, nil)
}

// AdminLogin logs in as admin on node i and keeps the token.
func (c *Client) AdminLogin(ctx context.Context, node int, password string) error {
	r, a := c.Login(ctx, node, "admin", password)
	if r.Token == "" {
		return fmt.Errorf("faults: admin login on %s: status %d %s %v", c.IDs[node], a.Status, a.Body, a.Err)
	}
	c.AdminToken = r.Token
	return nil
}

// CreateUser creates a user through node i.
func (c *Client) CreateUser(ctx context.Context, node int, login, password string) Answer {
	return c.do(ctx, node, http.MethodPost, "/v1/users", c.AdminToken,
		map[string]any{"login": login, "password": password}, nil)
}

// PatchSettings changes replicated settings through node i.
func (c *Client) PatchSettings(ctx context.Context, node int, settings map[string]any) Answer {
	return c.do(ctx, node, http.MethodPatch, "/v1/settings", c.AdminToken, settings, nil)
}

// Status is GET /v1/cluster on node i, authenticated by the cluster key.
func (c *Client) Status(ctx context.Context, node int, hash bool) (NodeState, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	path := "/v1/cluster"
	if hash {
		path += "?hash=true"
	}
	a := c.do(ctx, node, http.MethodGet, path, "", nil, map[string]string{signWithClusterKey: ""})
	st := NodeState{Node: c.IDs[node]}
	if a.Status != http.StatusOK {
		if a.Err != nil {
			return st, a.Err
		}
		return st, fmt.Errorf("status %d: %s", a.Status, a.Body)
	}
	var out struct {
		State     string `json:"state"`
		Leader    string `json:"leader"`
		Term      uint64 `json:"term"`
		Applied   uint64 `json:"applied_index"`
		StateHash string `json:"state_hash"`
		Lease     bool   `json:"lease_valid"`
	}
	if err := json.Unmarshal(a.Body, &out); err != nil {
		return st, err
	}
	st.State, st.Leader, st.Term, st.Applied, st.StateHash = out.State, out.Leader, out.Term, out.Applied, out.StateHash
	st.LeaseValid = out.Lease
	return st, nil
}
