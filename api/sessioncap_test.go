package api

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// Finding N9: at 100 sessions every login of the user was refused, in
// every dialect, while knox tokens never expire, so a script that never
// logs out (or a thief with the password) locked the owner out. Now 104
// logins of one user through every dialect all succeed; the four used
// longest ago end, each with an audit line naming it by public id (and
// no audit line holds a token); knox's own token_limit_per_user still
// refuses with knox's message.
func TestSessionCap_LoginsPastTheCapEvictTheLeastRecentlyUsed(t *testing.T) {
	rec := &auditRecorder{}
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.AuditLog = slog.New(rec) })
	e.waitActiveKey()
	if got := e.do("GET", "/v1/settings", nil, bearerH(e.admin)).json(t)["max_sessions_per_user"]; got != float64(fsm.DefaultMaxSessionsPerUser) {
		t.Fatalf("default max_sessions_per_user %v", got)
	}
	if r := e.do("PATCH", "/v1/settings", map[string]any{"max_sessions_per_user": -1}, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("negative cap: %d %s", r.Status, r.Body)
	}
	const login, pw = "capped@example.com", "capped-password"
	uid := e.createUser(login, pw, nil)
	var toks, ids []string
	for i := 0; i < fsm.DefaultMaxSessionsPerUser; i++ {
		tok := e.login(login, pw)
		toks = append(toks, tok)
		ids = append(ids, e.do("GET", "/v1/session", nil, bearerH(tok)).json(t)["session"].(map[string]any)["id"].(string))
	}
	// One past the cap in each dialect.
	toks = append(toks, e.login(login, pw), e.knoxLogin(login, pw), e.jwtLogin(login, pw), e.odooLogin(login, pw))
	if n := len(e.node.FSM().State().UserSessions(uid)); n != fsm.DefaultMaxSessionsPerUser {
		t.Fatalf("%d sessions after 104 logins, want the cap", n)
	}
	for i, tok := range toks[:4] {
		if r := e.do("GET", "/v1/session", nil, bearerH(tok)); r.Status != 401 {
			t.Fatalf("evicted session %d still valid: %d", i, r.Status)
		}
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(toks[4])); r.Status != 200 {
		t.Fatalf("the fifth session was evicted too: %d", r.Status)
	}
	var evicted []string
	for _, ev := range rec.events() {
		for _, v := range ev {
			for _, tok := range toks {
				if strings.Contains(fmt.Sprint(v), tok) {
					t.Fatalf("an audit line holds a token: %v", ev)
				}
			}
		}
		if ev["event"] == "session_evicted" {
			if ev["user_id"] != uid || ev["reason"] != "session_cap" || ev["result"] != "ok" {
				t.Fatalf("eviction line %v", ev)
			}
			evicted = append(evicted, ev["session_id"].(string))
		}
	}
	if fmt.Sprint(evicted) != fmt.Sprint(ids[:4]) {
		t.Fatalf("audited evictions %v, want the four oldest %v", evicted, ids[:4])
	}

	// Knox's own limit is knox's contract: refused, nothing evicted.
	e.patchSettings(map[string]any{"token_limit_per_user": 1})
	wantJSON(t, e.do("POST", "/auth/login/", map[string]string{"username": login, "password": pw}),
		403, `{"error": "Maximum amount of tokens allowed per user exceeded."}`)
	if n := len(e.node.FSM().State().UserSessions(uid)); n != fsm.DefaultMaxSessionsPerUser {
		t.Fatalf("knox's refusal changed the sessions: %d", n)
	}
	// The other dialects still log in.
	e.login(login, pw)
}
