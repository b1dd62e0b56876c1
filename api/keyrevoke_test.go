package api

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// keyEnv is a node with a clock the test moves and a second active key,
// so the first (which signed tok) can be retired or revoked.
func keyEnv(t *testing.T) (e *testEnv, now *atomic.Int64, kid1, tok string) {
	now = new(atomic.Int64)
	now.Store(time.Now().UnixNano())
	e = newTestEnv(t, func(_ *cluster.Config, a *auth.ServiceConfig, _ *Config) {
		a.Now = func() time.Time { return time.Unix(0, now.Load()) }
	})
	kid1 = e.waitActiveKey()
	e.createUser("user@odoo.com", "user-password", nil)
	tok = e.jwtLogin("user@odoo.com", "user-password")
	if r := e.do("POST", "/v1/keys", map[string]any{"alg": "HS256", "activate": true}, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	e.patchSettings(map[string]any{"jwt_dialect_kid": r0(e)})
	return e, now, kid1, tok
}

// r0 is the active kid, which the JWT dialect is moved to explicitly.
func r0(e *testEnv) string { _, kid := e.svc.Keys(); return kid }

func me(e *testEnv, tok string) int {
	return e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+tok).Status
}

// Attack: a retired key verified forever. Now it verifies for the grace
// period (by default the JWT lifetime) and then not at all.
func TestKeys_RetiredKeyVerifiesOnlyForItsGrace(t *testing.T) {
	e, now, kid1, tok := keyEnv(t)
	e.patchSettings(map[string]any{"jwt_retired_grace_seconds": 3600})
	if r := e.do("DELETE", "/v1/keys/"+kid1, nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("retire: %d %s", r.Status, r.Body)
	}
	if st := me(e, tok); st != 200 {
		t.Fatalf("a token of a just-retired key: %d", st)
	}
	now.Add(int64(time.Hour + time.Second))
	if st := me(e, tok); st != statusTokenInvalid {
		t.Fatalf("a token of a key retired past its grace: %d", st)
	}
}

// A compromised key is revoked at once: every token it signed is refused
// from the acknowledgement on; the active key cannot be revoked.
func TestKeys_RevokeRefusesEveryTokenAtOnce(t *testing.T) {
	e, _, kid1, tok := keyEnv(t)
	if st := me(e, tok); st != 200 {
		t.Fatalf("before the revocation: %d", st)
	}
	if r := e.do("POST", "/v1/keys/"+kid1+"/revoke", nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if st := me(e, tok); st != statusTokenInvalid {
		t.Fatalf("a token of a revoked key: %d", st)
	}
	if r := e.do("POST", "/v1/keys/"+r0(e)+"/revoke", nil, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("revoking the active key: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/keys/nope/revoke", nil, bearerH(e.admin)); r.Status != 404 {
		t.Fatalf("revoking an unknown key: %d %s", r.Status, r.Body)
	}
	// New logins sign with the new key and verify.
	if st := me(e, e.jwtLogin("user@odoo.com", "user-password")); st != 200 {
		t.Fatalf("a new token: %d", st)
	}
}
