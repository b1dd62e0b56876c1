package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
)

// knoxLogin logs in through /auth/login/ and returns the token.
func (e *testEnv) knoxLogin(username, password string) string {
	e.t.Helper()
	r := e.do("POST", "/auth/login/", map[string]string{"username": username, "password": password})
	if r.Status != 200 {
		e.t.Fatalf("knox login %s: %d %s", username, r.Status, r.Body)
	}
	return r.json(e.t)["token"].(string)
}

func tokenH(tok string) string { return "Authorization: Token " + tok }

func TestKnox_Login(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john", "john-password", nil)
	for name, r := range map[string]resp{
		"json":               e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"}),
		"form":               e.raw("POST", "/auth/login/", form("username", "john", "password", "john-password"), formCT),
		"surrounding spaces": e.do("POST", "/auth/login/", map[string]string{"username": " john ", "password": "john-password"}),
	} {
		m := r.json(t)
		if r.Status != 200 || len(m) != 2 || m["expiry"] != nil || r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %s", name, r.Status, r.Body)
		}
		if _, present := m["expiry"]; !present {
			t.Fatalf("%s: no expiry key", name)
		}
		if tok, _ := m["token"].(string); !auth.ValidTokenSyntax(tok, 64) {
			t.Fatalf("%s: token %q", name, m["token"])
		}
	}
	// With a TTL, expiry is the ISO 8601 time.
	e.patchSettings(map[string]any{"knox_ttl_seconds": 36000})
	r := e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"})
	exp, err := time.Parse(time.RFC3339Nano, r.json(t)["expiry"].(string))
	if err != nil || !strings.HasSuffix(r.json(t)["expiry"].(string), "Z") {
		t.Fatalf("expiry %s: %v", r.Body, err)
	}
	if d := time.Until(exp); d < 9*time.Hour || d > 10*time.Hour+time.Minute {
		t.Fatalf("expiry %v is not 10 h out", exp)
	}
}

func TestKnox_LoginErrors(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john", "john-password", nil)
	const bad = `{"non_field_errors": ["Unable to log in with provided credentials."]}`
	const req = `["This field is required."]`
	const blank = `["This field may not be blank."]`
	cases := []struct {
		name, body, ctype string
		status            int
		want              string
	}{
		{"wrong password", `{"username":"john","password":"wrong-password"}`, "application/json", 400, bad},
		{"unknown user", `{"username":"jane","password":"wrong-password"}`, "application/json", 400, bad},
		{"number password", `{"username":"john","password":12345678}`, "application/json", 400, bad},
		{"control char", `{"username":"jo\u0001hn","password":"john-password"}`, "application/json", 400, bad},
		{"missing username", `{"password":"john-password"}`, "application/json", 400, `{"username": ` + req + `}`},
		{"misspelled username", `{"user":"john","password":"john-password"}`, "application/json", 400, `{"username": ` + req + `}`},
		{"missing both", `{}`, "application/json", 400, `{"username": ` + req + `, "password": ` + req + `}`},
		{"no body", "", "", 400, `{"username": ` + req + `, "password": ` + req + `}`},
		{"blank username", `{"username":"  ","password":"john-password"}`, "application/json", 400, `{"username": ` + blank + `}`},
		{"blank both", `{"username":"","password":""}`, "application/json", 400, `{"username": ` + blank + `, "password": ` + blank + `}`},
		{"null", `{"username":null,"password":"x"}`, "application/json", 400, `{"username": ["This field may not be null."]}`},
		{"not a string", `{"username":true,"password":["x"]}`, "application/json", 400, `{"username": ["Not a valid string."], "password": ["Not a valid string."]}`},
		{"nul", `{"username":"jo\u0000hn","password":"x"}`, "application/json", 400, `{"username": ["Null characters are not allowed."]}`},
		{"form missing password", form("username", "john"), formCT, 400, `{"password": ` + req + `}`},
		{"form blank", form("username", "john", "password", ""), formCT, 400, `{"password": ` + blank + `}`},
		{"form wrong", form("username", "john", "password", "nope-nope"), formCT, 400, bad},
		{"text body", "username=john", "text/plain", 415, `{"detail": "Unsupported media type \"text/plain\" in request."}`},
		{"over limit", `{"username":"john","password":"` + strings.Repeat("p", 20000) + `"}`, "application/json", 413, `{"detail": "Request body too large."}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantJSON(t, e.raw("POST", "/auth/login/", c.body, c.ctype), c.status, c.want)
		})
	}
	for name, body := range map[string]string{
		"empty": "", "null": "null", "array": `[]`, "trailing": `{"username":"john","password":"john-password"}x`,
		"duplicate":    `{"username":"jane","username":"john","password":"john-password"}`,
		"invalid utf8": "{\"username\":\"jo\xffhn\",\"password\":\"john-password\"}",
	} {
		r := e.raw("POST", "/auth/login/", body, "application/json")
		if d, _ := r.json(t)["detail"].(string); r.Status != 400 || !strings.HasPrefix(d, "JSON parse error - ") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	for _, p := range []string{"/auth/login/", "/auth/logout/", "/auth/logoutall/"} {
		r := e.raw("GET", p, "", "")
		wantJSON(t, r, 405, `{"detail": "Method \"GET\" not allowed."}`)
		if r.Header.Get("Allow") != "POST" {
			t.Fatalf("%s Allow %q", p, r.Header.Get("Allow"))
		}
	}
	if r := e.raw("POST", "/auth/login/extra", "", ""); r.Status != 404 {
		t.Fatalf("subpath: %d", r.Status)
	}
	// A spent guess budget is no lock and no tell: from a client that never
	// logged in to the account, the right password gets the same answer
	// as an unknown login.
	for i := 0; i < 5; i++ {
		e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "wrong-password"})
	}
	r := e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"})
	if r.Status != 400 || string(r.Body) != `{"non_field_errors":["`+msgKnoxBadLogin+`"]}`+"\n" {
		t.Fatalf("spent: %d %s", r.Status, r.Body)
	}
}

func TestKnox_LogoutAndHeaders(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john", "john-password", nil)
	t1, t2 := e.knoxLogin("john", "john-password"), e.knoxLogin("john", "john-password")
	native := e.login("john", "john-password")
	detail := func(m string) string { return `{"detail": "` + m + `"}` }
	cases := []struct {
		name   string
		header []string
		want   string
	}{
		{"no header", nil, detail("Authentication credentials were not provided.")},
		{"other scheme", []string{"Authorization: Bearer " + t1}, detail("Authentication credentials were not provided.")},
		{"scheme only", []string{"Authorization: Token"}, detail("Invalid token header. No credentials provided.")},
		{"spaces", []string{"Authorization: Token " + t1 + " extra"}, detail("Invalid token header. Token string should not contain spaces.")},
		{"short", []string{"Authorization: Token abc"}, detail("Invalid token.")},
		{"odd length", []string{"Authorization: Token " + t1[:63]}, detail("Invalid token.")},
		{"10KB", []string{"Authorization: Token " + strings.Repeat("a", 10<<10)}, detail("Invalid token.")},
		{"unknown", []string{"Authorization: Token " + strings.Repeat("a", 64)}, detail("Invalid token.")},
		{"uppercase", []string{"Authorization: Token " + strings.ToUpper(t1)}, detail("Invalid token.")},
		{"native token", []string{"Authorization: Token " + native}, detail("Invalid token.")},
	}
	before := e.node.FSM().AppliedIndex()
	for _, c := range cases {
		for _, p := range []string{"/auth/logout/", "/auth/logoutall/"} {
			r := e.raw("POST", p, "", "", c.header...)
			wantJSON(t, r, 401, c.want)
			if r.Header.Get("WWW-Authenticate") != "Token" {
				t.Fatalf("%s %s: WWW-Authenticate %q", c.name, p, r.Header.Get("WWW-Authenticate"))
			}
		}
	}
	if after := e.node.FSM().AppliedIndex(); after != before {
		t.Fatalf("refused logouts changed the state: %d -> %d", before, after)
	}
	// Logout with a lower-case scheme: 200, empty body; only that token ends.
	r := e.raw("POST", "/auth/logout/", "", "", "Authorization: token   "+t1)
	if r.Status != 200 || len(r.Body) != 0 {
		t.Fatalf("logout: %d %q", r.Status, r.Body)
	}
	wantJSON(t, e.raw("POST", "/auth/logout/", "", "", tokenH(t1)), 401, detail("Invalid token."))
	if r := e.raw("POST", "/auth/logout/", "", "", tokenH(t2)); r.Status != 200 {
		t.Fatalf("other token after logout: %d %s", r.Status, r.Body)
	}
}

func TestKnox_TokenLimit(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john", "john-password", nil)
	e.patchSettings(map[string]any{"token_limit_per_user": 2})
	e.knoxLogin("john", "john-password")
	e.knoxLogin("john", "john-password")
	r := e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"})
	wantJSON(t, r, 403, `{"error": "Maximum amount of tokens allowed per user exceeded."}`)
}

// TestDialects_LogoutAllEndsEveryKind: one user with sessions of every
// dialect and /v1; knox logoutall ends all of them at one Raft index.
func TestDialects_LogoutAllEndsEveryKind(t *testing.T) {
	e := newTestEnv(t)
	id := e.createUser("mixed@odoo.com", "mixed-password", nil)
	e.createUser("other@odoo.com", "other-password", nil)
	sid := e.odooLogin("mixed@odoo.com", "mixed-password")
	jwtTok := e.jwtLogin("mixed@odoo.com", "mixed-password")
	k1, k2 := e.knoxLogin("mixed@odoo.com", "mixed-password"), e.knoxLogin("mixed@odoo.com", "mixed-password")
	native := e.login("mixed@odoo.com", "mixed-password")
	otherTok := e.knoxLogin("other@odoo.com", "other-password")
	// Every kind is valid first, and /v1/introspect knows each.
	for _, tok := range []string{sid, jwtTok, k2, native} {
		r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(e.admin))
		if m := r.json(t); m["active"] != true || m["sub"] != itoa(id) {
			t.Fatalf("introspect before: %s", r.Body)
		}
	}
	st := e.node.FSM().State()
	if n := len(st.UserSessions(id)); n != 5 {
		t.Fatalf("want 5 sessions, got %d", n)
	}
	before := e.node.FSM().AppliedIndex()
	r := e.raw("POST", "/auth/logoutall/", "", "", tokenH(k1))
	if r.Status != 200 || len(r.Body) != 0 {
		t.Fatalf("logoutall: %d %q", r.Status, r.Body)
	}
	if n := len(e.node.FSM().State().UserSessions(id)); n != 0 {
		t.Fatalf("%d sessions survived logoutall", n)
	}
	if after := e.node.FSM().AppliedIndex(); after != before+1 {
		t.Fatalf("logoutall took entries %d..%d, want one", before+1, after)
	}
	for _, level := range []string{"stale", "default", "consistent"} {
		q := "?consistency=" + level
		if r := e.raw("POST", "/session/auth/logout"+q, "", "", "X-Openerp-Session-Id: "+sid); r.Status != 401 {
			t.Errorf("%s: odoo sid after logoutall: %d", level, r.Status)
		}
		if r := e.raw("GET", "/api/me"+q, "", "", "Authorization: Bearer "+jwtTok); r.Status != 498 {
			t.Errorf("%s: jwt after logoutall: %d", level, r.Status)
		}
		if r := e.raw("POST", "/auth/logout/"+q, "", "", tokenH(k2)); r.Status != 401 {
			t.Errorf("%s: knox after logoutall: %d", level, r.Status)
		}
		if r := e.do("GET", "/v1/session"+q, nil, bearerH(native)); r.Status != 401 {
			t.Errorf("%s: native after logoutall: %d", level, r.Status)
		}
	}
	// Another user's session is untouched.
	if r := e.raw("POST", "/auth/logout/", "", "", tokenH(otherTok)); r.Status != 200 {
		t.Fatalf("other user's token: %d", r.Status)
	}
	// Bad consistency levels are the caller's error, in each dialect's shape.
	tok := e.knoxLogin("mixed@odoo.com", "mixed-password")
	if r := e.raw("POST", "/auth/logout/?consistency=bogus", "", "", tokenH(tok)); r.Status != http.StatusBadRequest {
		t.Fatalf("bogus level: %d %s", r.Status, r.Body)
	}
}

// TestDialects_ThrottleAndUnavailableShapes: the address throttle and a
// node that cannot commit or confirm a read answer in each dialect's shape
// with 429/503 and Retry-After.
func TestDialects_ThrottleAndUnavailableShapes(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john@odoo.com", "john-password", nil)
	jwtTok := e.jwtLogin("john@odoo.com", "john-password")
	knoxTok := e.knoxLogin("john@odoo.com", "john-password")
	sid := e.odooLogin("john@odoo.com", "john-password")
	for i := 0; ; i++ {
		r := e.do("POST", "/auth/login/", map[string]string{"username": "nobody" + itoa(uint64(i)), "password": "wrong-password"})
		if r.Status == 429 {
			if d := r.json(t)["detail"].(string); !strings.HasPrefix(d, "Request was throttled.") || r.Header.Get("Retry-After") == "" {
				t.Fatalf("throttled: %s %v", r.Body, r.Header)
			}
			break
		}
		if r.Status != 400 || i > 50 {
			t.Fatalf("attempt %d: %d %s", i, r.Status, r.Body)
		}
	}
	// Odoo's own cooldown shape: 403 Forbidden (with Retry-After).
	if r := e.do("POST", "/session/auth/login", map[string]string{"login": "nobody", "password": "wrong-password"}); r.Status != 403 ||
		string(r.Body) != `{"code":403,"name":"Forbidden"}`+"\n" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("odoo while throttled: %d %q %v", r.Status, r.Body, r.Header)
	}
	wantJSON(t, e.raw("POST", "/api/login", form("email", "nobody", "password", "x"), formCT), 429,
		`{"success": false, "message": "Too many attempts, try again later", "data": null}`)

	e.node.Shutdown(context.Background())
	cases := []struct {
		name string
		r    resp
		want func(map[string]any) bool
	}{
		{"odoo logout", e.raw("POST", "/session/auth/logout?consistency=consistent", "", "", "X-Openerp-Session-Id: "+sid),
			func(m map[string]any) bool { return m["code"] == float64(503) && m["name"] == "Service Unavailable" }},
		{"jwt me", e.raw("GET", "/api/me?consistency=consistent", "", "", "Authorization: Bearer "+jwtTok),
			func(m map[string]any) bool { return m["success"] == false && m["message"] == "Service Unavailable" }},
		{"knox logout", e.raw("POST", "/auth/logout/?consistency=consistent", "", "", tokenH(knoxTok)),
			func(m map[string]any) bool { return m["detail"] == "Service temporarily unavailable, try again later." }},
	}
	for _, c := range cases {
		if c.r.Status != 503 || c.r.Header.Get("Retry-After") == "" || !c.want(c.r.json(t)) {
			t.Errorf("%s: %d %v %s", c.name, c.r.Status, c.r.Header.Get("Retry-After"), c.r.Body)
		}
	}
}
