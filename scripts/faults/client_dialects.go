package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The calls below reach every dialect's login, logout and validation, so
// that a revocation path that forgets one kind of session, or a read path
// that skips a check on one route, shows in the history.

// Session kinds as the workload tracks them (the dialect that issued the
// token decides how it is presented and how it is logged out).
const (
	dialNative = "native"
	dialKnox   = "knox"
	dialOdoo   = "odoo"
	dialJWT    = "jwt"
)

// OdooLogin posts Odoo's /session/auth/login and returns the session id.
func (c *Client) OdooLogin(ctx context.Context, node int, login, password string) (LoginResult, Answer) {
	a := c.do(ctx, node, http.MethodPost, "/session/auth/login", "", map[string]string{"login": login, "password": password}, nil)
	var out struct {
		Session struct {
			SID       string `json:"sid"`
			ExpiresAt string `json:"expires_at"`
		} `json:"session"`
	}
	var r LoginResult
	if a.Status == http.StatusOK && json.Unmarshal(a.Body, &out) == nil && out.Session.SID != "" {
		r.Token = out.Session.SID
		if t, err := time.Parse("2006-01-02 15:04:05", out.Session.ExpiresAt); err == nil {
			r.ExpiresAt = t.UnixNano()
		}
		a.Status = http.StatusCreated
	}
	return r, a
}

// JWTLogin posts the JWT dialect's /api/login (a form, email = login).
// The token's expiry is not parsed: P8 examines the opaque kinds.
func (c *Client) JWTLogin(ctx context.Context, node int, login, password string) (LoginResult, Answer) {
	form := url.Values{"email": {login}, "password": {password}}.Encode()
	a := c.doRaw(ctx, node, http.MethodPost, "/api/login", "application/x-www-form-urlencoded", form, nil)
	var out struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
		Token string `json:"token"`
	}
	var r LoginResult
	if a.Status == http.StatusOK && json.Unmarshal(a.Body, &out) == nil {
		r.Token = out.Data.Token
		if r.Token == "" {
			r.Token = out.Token
		}
		if r.Token != "" {
			a.Status = http.StatusCreated
		}
	}
	return r, a
}

// doRaw sends a body that is not JSON with extra headers.
func (c *Client) doRaw(ctx context.Context, node int, method, path, ctype, body string, hdr map[string]string) Answer {
	req, err := http.NewRequestWithContext(ctx, method, c.URLs[node]+path, strings.NewReader(body))
	if err != nil {
		return Answer{Err: err}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return c.send(req)
}

// credHeader is how a token of kind is presented to forward auth.
func credHeader(kind, tok string) map[string]string {
	switch kind {
	case dialKnox:
		return map[string]string{"Authorization": "Token " + tok}
	case dialOdoo:
		return map[string]string{"X-Openerp-Session-Id": tok}
	}
	return map[string]string{"Authorization": "Bearer " + tok}
}

// Authz is forward auth (GET /v1/authz) with tok presented as its dialect
// does: 200 accepted, 401 refused.
func (c *Client) Authz(ctx context.Context, node int, kind, tok string) Answer {
	return c.doRaw(ctx, node, http.MethodGet, "/v1/authz", "", "", credHeader(kind, tok))
}

// Introspect is RFC 7662 introspection by the admin: the answer's active
// field becomes status 200 (active) or 401 (inactive), so it classifies as
// a validation.
func (c *Client) Introspect(ctx context.Context, node int, tok string) Answer {
	return introspectVerdict(c.do(ctx, node, http.MethodPost, "/v1/introspect", c.AdminToken, map[string]string{"token": tok}, nil))
}

// introspectVerdict maps an introspection answer onto a validation's.
func introspectVerdict(a Answer) Answer {
	if a.Status == http.StatusOK {
		var out struct {
			Active bool `json:"active"`
		}
		if err := json.Unmarshal(a.Body, &out); err != nil {
			a.Status, a.Err = 0, err
		} else if !out.Active {
			a.Status = http.StatusUnauthorized
		}
	}
	return a
}

// DialectLogout ends the session of tok through its own dialect's logout.
func (c *Client) DialectLogout(ctx context.Context, node int, kind, tok string) Answer {
	switch kind {
	case dialOdoo:
		return c.doRaw(ctx, node, http.MethodPost, "/session/auth/logout", "application/json", "{}", credHeader(kind, tok))
	case dialJWT:
		return c.doRaw(ctx, node, http.MethodPost, "/api/logout", "", "", credHeader(kind, tok))
	}
	return c.Logout(ctx, node, tok)
}

// LogoutAllKeep posts /v1/logoutall?keep_current=true: every session of
// the caller's user ends except the calling one.
func (c *Client) LogoutAllKeep(ctx context.Context, node int, token string) Answer {
	return c.do(ctx, node, http.MethodPost, "/v1/logoutall?keep_current=true", token, nil, nil)
}

// RevokeByID deletes one of the caller's own sessions by its ID.
func (c *Client) RevokeByID(ctx context.Context, node int, token, id string) Answer {
	return c.do(ctx, node, http.MethodDelete, "/v1/sessions/"+id, token, nil, nil)
}

// DeleteUser deletes user id (admin): every session of the user ends.
func (c *Client) DeleteUser(ctx context.Context, node int, id uint64) Answer {
	return c.do(ctx, node, http.MethodDelete, fmt.Sprintf("/v1/users/%d", id), c.AdminToken, nil, nil)
}

// sessionID reads session.id from a native login's body.
func sessionID(body []byte) string {
	var out struct {
		Session struct {
			ID string `json:"id"`
		} `json:"session"`
	}
	json.Unmarshal(body, &out)
	return out.Session.ID
}
