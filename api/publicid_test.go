package api

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// jtiOf reads a JWT's jti without verifying it (the test minted it).
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &claims); err != nil {
		t.Fatal(err)
	}
	return claims["jti"].(string)
}

// shownIDs are the ids a JWT's session is shown under: its entry in
// /v1/sessions, forward auth's header, introspection's sid and jti.
func shownIDs(t *testing.T, e *testEnv, tok string) (listed, header, sid, jti string) {
	t.Helper()
	r := e.do("GET", "/v1/sessions", nil, bearerH(tok))
	var list struct {
		Sessions []struct {
			ID      string `json:"id"`
			Current bool   `json:"current"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal(r.Body, &list); err != nil || r.Status != 200 {
		t.Fatalf("sessions: %d %s", r.Status, r.Body)
	}
	for _, s := range list.Sessions {
		if s.Current {
			listed = s.ID
		}
	}
	a := e.authzDo("GET", "/v1/authz", bearerH(tok))
	in := e.raw("POST", "/v1/introspect", form("token", tok), formCT, bearerH(e.admin)).json(t)
	sid, _ = in["sid"].(string)
	jti, _ = in["jti"].(string)
	return listed, a.Header.Get("X-Sessiond-Session-Id"), sid, jti
}

// A JWT's jti is a secret: the session is listed, sent to apps and
// introspected under a public id unrelated to it; introspection's jti is
// the token's own claim (RFC 7662 §2.2), which the caller already holds.
func TestJWT_PublicIDIsNotTheJTI(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("user@odoo.com", "user-password", nil)
	tok := e.jwtLogin("user@odoo.com", "user-password")
	jti := jtiOf(t, tok)
	listed, header, sid, ijti := shownIDs(t, e, tok)
	if listed == "" || listed == jti || header != listed || sid != listed {
		t.Fatalf("public ids: listed %q header %q sid %q (jti %q)", listed, header, sid, jti)
	}
	if ijti != jti {
		t.Fatalf("introspection jti %q, want the token's own %q", ijti, jti)
	}
	// Logout still finds the session by the jti's digest.
	if r := e.raw("POST", "/api/logout", "", "", bearerH(tok)); r.Status != 200 {
		t.Fatalf("logout: %d %s", r.Status, r.Body)
	}
	if r := e.raw("GET", "/api/me", "", "", bearerH(tok)); r.Status != statusTokenInvalid {
		t.Fatalf("after logout: %d", r.Status)
	}
}

// A JWT session created by a leader from before public ids has ID == jti.
// It keeps validating, logging out and being revoked by id; what leaves
// the node is an alias, never its stored id.
func TestJWT_LegacySessionWithJTIAsIDKeepsWorking(t *testing.T) {
	e := newTestEnv(t)
	kid := e.waitActiveKey()
	uid := e.createUser("old@odoo.com", "old-password-1", nil)
	native := e.login("old@odoo.com", "old-password-1")
	legacy := func() (tok, jti string) {
		jti, err := auth.NewID()
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now()
		sess := fsm.Session{ID: jti, Digest: auth.DigestToken(jti), Kind: fsm.KindJWT, UserID: uid,
			Created: now.UnixNano(), ExpiresAt: now.Add(time.Hour).UnixNano()}
		if _, err := e.node.Apply(context.Background(), &fsm.CreateSession{Session: sess}); err != nil {
			t.Fatal(err)
		}
		return signWith(t, jwt.SigningMethodHS256, testJWTSecret, kid, jwt.MapClaims{
			"sub": itoa(uid), "uid": uid, "lgn": "old@odoo.com", "jti": jti, "exp": now.Add(time.Hour).Unix(),
		}), jti
	}
	tok, jti := legacy()
	if r := e.raw("GET", "/api/me", "", "", bearerH(tok)); r.Status != 200 {
		t.Fatalf("legacy JWT refused: %d %s", r.Status, r.Body)
	}
	listed, header, sid, _ := shownIDs(t, e, tok)
	if !auth.ValidTokenSyntax(listed, auth.IDLen) || listed == jti || header != listed || sid != listed {
		t.Fatalf("legacy session shown as listed %q header %q sid %q (jti %q)", listed, header, sid, jti)
	}
	if r := e.do("GET", "/v1/sessions", nil, bearerH(native)); strings.Contains(string(r.Body), jti) {
		t.Fatal("another session's listing shows the legacy jti")
	}
	// Revoked by its alias, from another session of the user.
	if r := e.do("DELETE", "/v1/sessions/"+listed, nil, bearerH(native)); r.Status != 204 {
		t.Fatalf("delete by alias: %d %s", r.Status, r.Body)
	}
	if r := e.raw("GET", "/api/me", "", "", bearerH(tok)); r.Status != statusTokenInvalid {
		t.Fatalf("legacy JWT after delete by alias: %d", r.Status)
	}
	// And by its own logout.
	tok2, _ := legacy()
	if r := e.raw("POST", "/api/logout", "", "", bearerH(tok2)); r.Status != 200 {
		t.Fatalf("legacy logout: %d %s", r.Status, r.Body)
	}
	if r := e.raw("GET", "/api/me", "", "", bearerH(tok2)); r.Status != statusTokenInvalid {
		t.Fatalf("legacy JWT after logout: %d", r.Status)
	}
}
