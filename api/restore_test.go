package api

import (
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// restoreState is what the finding N5 repro changes after its backup:
// alice logs out, changes her password, a service client is deleted and
// a second JWT key is revoked.
type restoreState struct {
	alice            uint64
	tok, jwtTok      string
	client, secret   string
	k2, activeBefore string
}

func setUpRestore(t *testing.T, e *testEnv) (restoreState, []byte) {
	t.Helper()
	var s restoreState
	s.activeBefore = e.waitActiveKey()
	s.alice = e.createUser("alice", "alice-password-1", nil)
	s.tok = e.login("alice", "alice-password-1")
	s.jwtTok = e.jwtLogin("alice", "alice-password-1")
	s.client, s.secret = e.newClient("")
	r := e.do("POST", "/v1/keys", map[string]any{"alg": "HS256", "activate": false}, bearerH(e.admin))
	if r.Status != http.StatusCreated {
		t.Fatalf("add key: %d %s", r.Status, r.Body)
	}
	s.k2 = r.json(t)["kid"].(string)
	b := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin))
	if b.Status != 200 {
		t.Fatalf("backup: %d", b.Status)
	}
	for _, c := range []resp{
		e.do("POST", "/v1/logout", nil, bearerH(s.tok)),
		e.do("PATCH", "/v1/users/"+itoa(s.alice), map[string]any{"password": "alice-password-2"}, bearerH(e.admin)),
		e.do("DELETE", "/v1/clients/"+s.client, nil, bearerH(e.admin)),
		e.do("POST", "/v1/keys/"+s.k2+"/revoke", nil, bearerH(e.admin)),
	} {
		if c.Status/100 != 2 {
			t.Fatalf("change after the backup: %d %s", c.Status, c.Body)
		}
	}
	return s, b.Body
}

// Finding N5: restoring an older backup revived a logged-out token, an
// old password, a deleted client and a revoked key, silently. Now the
// check says what the backup brings back (and changes nothing); the
// restore, by default, ends every session from before it (the backup's
// included), activates a fresh key, retires the others, revokes the
// revoked key again, and keeps the Odoo JWT dialect on the configured
// shared secret; ?keep_sessions=true keeps the backup's sessions valid.
func TestRestore_EndsWhatTheBackupBringsBack(t *testing.T) {
	e := newTestEnv(t)
	s, backup := setUpRestore(t, e)

	if r := e.do("POST", "/v1/cluster/restore?keep_sessions=maybe", backup, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("bad keep_sessions: %d %s", r.Status, r.Body)
	}
	bad := append([]byte(nil), backup...)
	bad[len(bad)/2] ^= 1
	if r := e.do("POST", "/v1/cluster/restore/check", bad, bearerH(e.admin)); r.Status != 400 || r.json(t)["error"].(map[string]any)["code"] != "bad_backup" {
		t.Fatalf("check of a corrupt backup: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/cluster/restore/check", backup, bearerH(s.tok)); r.Status != 401 && r.Status != 403 {
		t.Fatalf("check by a logged-out non-admin: %d", r.Status)
	}
	chk := e.do("POST", "/v1/cluster/restore/check", backup, bearerH(e.admin))
	if chk.Status != 200 {
		t.Fatalf("check: %d %s", chk.Status, chk.Body)
	}
	m := chk.json(t)
	bb := m["report"].(map[string]any)["brings_back"].(map[string]any)
	if bb["sessions"].(float64) < 1 || bb["old_passwords"] != 1.0 || bb["deleted_clients"] != 1.0 || bb["revoked_keys"] != 1.0 {
		t.Fatalf("brings_back %v", bb)
	}
	if w := m["warning"].(string); !strings.Contains(w, "at least") || !strings.Contains(w, "come back as they were") {
		t.Fatalf("warning %q", w)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(s.tok)); r.Status != 401 {
		t.Fatalf("the check changed the state: logged-out token %d", r.Status)
	}

	r := e.do("POST", "/v1/cluster/restore", backup, bearerH(e.admin))
	if r.Status != 200 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	after := r.json(t)["after_restore"].(map[string]any)
	for _, tok := range []string{s.tok, e.admin} {
		if r := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok)); r.Status != 401 {
			t.Fatalf("a token from before the restore: %d", r.Status)
		}
	}
	if r := e.raw("GET", "/api/me", "", "", bearerH(s.jwtTok)); r.Status != statusTokenInvalid {
		t.Fatalf("a JWT from before the restore: %d", r.Status)
	}
	st := e.node.FSM().State()
	newKid := st.Settings().JWTActiveKid
	if newKid == s.activeBefore || newKid != after["new_kid"] {
		t.Fatalf("active key %s (before %s), answer %v", newKid, s.activeBefore, after)
	}
	if k, _ := st.Key(s.k2); k.Revoked == 0 {
		t.Fatal("the key revoked before the restore is live again")
	}
	// The configured shared secret stays the dialect's: its clients verify.
	if after["kept_configured_kid"] != s.activeBefore || st.Settings().JWTDialectKid != s.activeBefore {
		t.Fatalf("dialect key: answer %v, settings %q", after, st.Settings().JWTDialectKid)
	}
	fresh := e.jwtLogin("alice", "alice-password-1") // the backup's password: the restore cannot undo that
	if _, err := jwt.Parse(fresh, func(*jwt.Token) (any, error) { return testJWTSecret, nil }); err != nil {
		t.Fatalf("the dialect's token no longer verifies with the shared secret: %v", err)
	}

	// --keep-sessions: the backup's sessions are valid again.
	e.admin = e.login("admin", testAdminPassword)
	if r := e.do("POST", "/v1/cluster/restore?keep_sessions=true", backup, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("restore keeping sessions: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(s.tok)); r.Status != 200 {
		t.Fatalf("--keep-sessions: the backup's token %d", r.Status)
	}
}

// Without a configured secret the Odoo JWT dialect signs with the active
// key, so after a restore it signs with the fresh one.
func TestRestore_FreshKeySignsTheDialect(t *testing.T) {
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.JWTSecret = nil })
	before := e.waitActiveKey()
	backup := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin)).Body
	r := e.do("POST", "/v1/cluster/restore", backup, bearerH(e.admin))
	if r.Status != 200 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	after := r.json(t)["after_restore"].(map[string]any)
	if after["kept_configured_kid"] != nil || after["new_kid"] == before {
		t.Fatalf("after %v", after)
	}
	e.admin = e.login("admin", testAdminPassword)
	tok := e.jwtLogin("admin", testAdminPassword)
	h, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil || h.Header["kid"] != after["new_kid"] {
		t.Fatalf("the dialect signs with %v, want %v", h.Header["kid"], after["new_kid"])
	}
	if k, _ := e.node.FSM().State().Key(before); k.Retired == 0 {
		t.Fatal("the key from before the restore is not retired")
	}
}

// With an EdDSA key active (the dialect on the generated HMAC key), the
// restore activates a fresh EdDSA key and gives the dialect, which signs
// HS256 only, a fresh HS256 key of its own: JWT logins keep working.
func TestRestore_AsymmetricActiveKeyLeavesTheDialectAKey(t *testing.T) {
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.JWTSecret = nil })
	e.waitActiveKey()
	if r := e.do("POST", "/v1/keys", map[string]any{"alg": "EdDSA"}, bearerH(e.admin)); r.Status != http.StatusCreated {
		t.Fatalf("add EdDSA: %d %s", r.Status, r.Body)
	}
	backup := e.do("GET", "/v1/cluster/snapshot", nil, bearerH(e.admin)).Body
	r := e.do("POST", "/v1/cluster/restore", backup, bearerH(e.admin))
	if r.Status != 200 {
		t.Fatalf("restore: %d %s", r.Status, r.Body)
	}
	after := r.json(t)["after_restore"].(map[string]any)
	st := e.node.FSM().State()
	if k, _ := st.Key(st.Settings().JWTActiveKid); k.Alg != auth.AlgEdDSA || k.Kid != after["new_kid"] {
		t.Fatalf("active %+v, answer %v", k, after)
	}
	dk, _ := after["dialect_kid"].(string)
	if dk == "" || st.Settings().JWTDialectKid != dk {
		t.Fatalf("dialect key: answer %v, settings %q", after, st.Settings().JWTDialectKid)
	}
	e.admin = e.login("admin", testAdminPassword)
	tok := e.jwtLogin("admin", testAdminPassword)
	h, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil || h.Header["kid"] != dk || h.Header["alg"] != "HS256" {
		t.Fatalf("dialect token header %v, want kid %s", h.Header, dk)
	}
}
