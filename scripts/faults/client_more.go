package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// KnoxLogin posts knox's /auth/login/ and returns the token, so the
// workload holds sessions of more than one kind (a logoutall that forgets
// a kind leaves a knox token valid, which P2 sees).
func (c *Client) KnoxLogin(ctx context.Context, node int, login, password string) (LoginResult, Answer) {
	a := c.do(ctx, node, http.MethodPost, "/auth/login/", "", map[string]string{"username": login, "password": password}, nil)
	var out struct {
		Token  string  `json:"token"`
		Expiry *string `json:"expiry"`
	}
	var r LoginResult
	if a.Status == http.StatusOK && json.Unmarshal(a.Body, &out) == nil {
		r.Token = out.Token
		if out.Expiry != nil {
			if t, err := time.Parse(time.RFC3339Nano, *out.Expiry); err == nil {
				r.ExpiresAt = t.UnixNano()
			}
		}
		a.Status = http.StatusCreated // the workload's "login acknowledged"
	}
	return r, a
}

// userID reads the id of a created user from its 201 body (0 if absent).
func userID(a Answer) uint64 {
	var out struct {
		ID uint64 `json:"id"`
	}
	if a.Status == http.StatusCreated {
		json.Unmarshal(a.Body, &out)
	}
	return out.ID
}

// PatchUser changes user id through node i (admin): a new password or
// disabled=true ends every session of the user.
func (c *Client) PatchUser(ctx context.Context, node int, id uint64, patch map[string]any) Answer {
	return c.do(ctx, node, http.MethodPatch, fmt.Sprintf("/v1/users/%d", id), c.AdminToken, patch, nil)
}
