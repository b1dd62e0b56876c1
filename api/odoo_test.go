package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// odooLogin logs in through /session/auth/login and returns the sid.
func (e *testEnv) odooLogin(login, password string) string {
	e.t.Helper()
	r := e.do("POST", "/session/auth/login", map[string]string{"login": login, "password": password})
	if r.Status != 200 {
		e.t.Fatalf("odoo login %s: %d %s", login, r.Status, r.Body)
	}
	return r.json(e.t)["session"].(map[string]any)["sid"].(string)
}

// sessionCookie finds the session_id cookie a response sets.
func sessionCookie(r resp) *http.Cookie {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if c.Name == "session_id" {
			return c
		}
	}
	return nil
}

func TestOdoo_LoginSessionInfo(t *testing.T) {
	e := newTestEnv(t)
	id := e.createUser("alice", "alice-password", map[string]any{"name": "Alice A", "company_id": 7, "company_name": "Acme"})
	start := time.Now().UTC()
	r := e.do("POST", "/session/auth/login", map[string]string{"db": "sessiond", "login": "alice", "password": "alice-password"})
	if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("login: %d %v %s", r.Status, r.Header, r.Body)
	}
	m := r.json(t)
	sess := m["session"].(map[string]any)
	sid := sess["sid"].(string)
	if !auth.ValidTokenSyntax(sid, 40) {
		t.Fatalf("sid %q", sid)
	}
	exp, err := time.Parse("2006-01-02 15:04:05", sess["expires_at"].(string))
	if err != nil {
		t.Fatalf("expires_at %q: %v", sess["expires_at"], err)
	}
	if d := exp.Sub(start); d < 90*24*time.Hour-time.Minute || d > 90*24*time.Hour+time.Minute {
		t.Fatalf("expires_at %v is not 90 days out", exp)
	}
	delete(m, "session")
	got, _ := json.Marshal(m)
	want := `{"active_ids_limit":20000,"company_id":7,"currencies":{"1":{"digits":[69,2],"position":"before","symbol":"$"}},` +
		`"db":"sessiond","display_switch_company_menu":false,"home_action_id":false,"is_admin":false,"is_system":false,` +
		`"max_file_upload_size":134217728,"name":"Alice A","partner_display_name":"Alice A","partner_id":` + itoa(id) +
		`,"server_version":"15.0","server_version_info":[15,0,0,"final",0,""],"show_effect":true,"support_url":"https://www.odoo.com/buy","uid":` + itoa(id) +
		`,"user_companies":{"allowed_companies":{"7":{"id":7,"name":"Acme","sequence":10}},"current_company":7},` +
		`"user_context":{"lang":"en_US","tz":"UTC","uid":` + itoa(id) + `},"username":"alice","web.base.url":"` + e.URL + `"}`
	if string(got) != want {
		t.Fatalf("session_info\n got %s\nwant %s", got, want)
	}
	c := sessionCookie(r)
	if c == nil || c.Value != sid || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" ||
		c.MaxAge < 90*24*3600-60 {
		t.Fatalf("cookie %+v", c)
	}
	// The session is an Odoo session with the configured lifetimes.
	st, ok := e.node.FSM().State().Session(fsm.Digest(auth.DigestToken(sid)))
	if !ok || st.Kind != fsm.KindOdoo || st.IdleTimeout != int64(7*24*time.Hour) || st.ExpiresAt-st.Created != int64(90*24*time.Hour) {
		t.Fatalf("stored session %+v", st)
	}
	// The admin is is_admin / is_system.
	r = e.raw("POST", "/session/auth/login", `{"login":"admin","password":"`+testAdminPassword+`"}`, "application/json")
	if m := r.json(t); r.Status != 200 || m["is_admin"] != true || m["is_system"] != true {
		t.Fatalf("admin: %d %s", r.Status, r.Body)
	}
	// Not with credentials in the query string (logs keep URLs; a form
	// post with credentials only in the query is a login CSRF): refused
	// in base_rest's shape.
	for _, q := range []string{"?login=admin&password=" + testAdminPassword, "?password=" + testAdminPassword} {
		r = e.raw("POST", "/session/auth/login"+q, "login=admin", formCT)
		if m := r.json(t); r.Status != 400 || m["code"] != float64(400) || m["name"] != "Bad Request" {
			t.Fatalf("query %s: %d %s", q, r.Status, r.Body)
		}
	}
}

func TestOdoo_CookieRules(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", nil)
	body := `{"login":"alice","password":"alice-password"}`
	// An explicit session (param or header) gets no cookie.
	if r := e.raw("POST", "/session/auth/login?session_id=abc", body, "application/json"); r.Status != 200 || sessionCookie(r) != nil {
		t.Fatalf("param: %d cookie %v", r.Status, sessionCookie(r))
	}
	if r := e.raw("POST", "/session/auth/login", body, "application/json", "X-Openerp-Session-Id: abc"); r.Status != 200 || sessionCookie(r) != nil {
		t.Fatalf("header: %d cookie %v", r.Status, sessionCookie(r))
	}
	// Re-login with a cookie rotates: the old session ends.
	old := e.odooLogin("alice", "alice-password")
	r := e.raw("POST", "/session/auth/login", body, "application/json", "Cookie: session_id="+old)
	if r.Status != 200 || sessionCookie(r) == nil || sessionCookie(r).Value == old {
		t.Fatalf("re-login: %d %v", r.Status, sessionCookie(r))
	}
	if r := e.raw("POST", "/session/auth/logout", "", "", "Cookie: session_id="+old); r.Status != 401 {
		t.Fatalf("rotated-out sid still valid: %d", r.Status)
	}

	tls := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.TLS = true })
	tls.createUser("alice", "alice-password", nil)
	if c := sessionCookie(tls.raw("POST", "/session/auth/login", body, "application/json")); c == nil || !c.Secure {
		t.Fatalf("cookie under TLS: %+v", c)
	}
}

func TestOdoo_LogoutSources(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", nil)
	for _, how := range []string{"param", "header", "cookie"} {
		t.Run(how, func(t *testing.T) {
			sid := e.odooLogin("alice", "alice-password")
			send := func() resp {
				switch how {
				case "param":
					return e.raw("POST", "/session/auth/logout?session_id="+sid, "", "")
				case "header":
					return e.raw("POST", "/session/auth/logout", "", "", "X-Openerp-Session-Id: "+sid)
				}
				return e.raw("POST", "/session/auth/logout", "", "", "Cookie: session_id="+sid)
			}
			r := send()
			wantJSON(t, r, 200, `{"message": "Successful logout"}`)
			if c := sessionCookie(r); c == nil || c.MaxAge >= 0 || c.Value != "" {
				t.Fatalf("cookie not cleared: %+v", c)
			}
			wantJSON(t, send(), 401, `{"code": 401, "name": "Unauthorized"}`)
		})
	}
	// Order: param, then header, then cookie.
	a, b, c := e.odooLogin("alice", "alice-password"), e.odooLogin("alice", "alice-password"), e.odooLogin("alice", "alice-password")
	if r := e.raw("POST", "/session/auth/logout?session_id="+a, "", "", "X-Openerp-Session-Id: "+b, "Cookie: session_id="+c); r.Status != 200 {
		t.Fatalf("logout a: %d", r.Status)
	}
	if r := e.raw("POST", "/session/auth/logout?session_id=", "", "", "X-Openerp-Session-Id: "+b, "Cookie: session_id="+c); r.Status != 200 {
		t.Fatalf("logout b (empty param falls through): %d", r.Status)
	}
	for sid, want := range map[string]int{a: 401, b: 401, c: 200} {
		if r := e.raw("POST", "/session/auth/logout", "", "", "X-Openerp-Session-Id: "+sid); r.Status != want {
			t.Fatalf("sid %s: %d, want %d", sid[:6], r.Status, want)
		}
	}
}

func TestOdoo_Errors(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", nil)
	const json = "application/json"
	cases := []struct {
		name, path, body, ctype string
		status                  int
		want                    string
	}{
		{"wrong password", "", `{"login":"alice","password":"wrong-password"}`, json, 403, `{"code":403,"name":"Forbidden"}`},
		{"unknown user", "", `{"login":"bob","password":"wrong-password"}`, json, 403, `{"code":403,"name":"Forbidden"}`},
		{"missing login", "", `{"password":"alice-password"}`, json, 400, `{"code":400,"name":"Bad Request","description":"login is required"}`},
		{"missing password", "", `{"login":"alice"}`, json, 400, `{"code":400,"name":"Bad Request","description":"password is required"}`},
		{"empty login", "", `{"login":"","password":"alice-password"}`, json, 400, `{"code":400,"name":"Bad Request","description":"login is required"}`},
		{"login not a string", "", `{"login":["alice"],"password":"alice-password"}`, json, 400, `{"code":400,"name":"Bad Request","description":"login must be a string"}`},
		{"db not a string", "", `{"db":1,"login":"alice","password":"alice-password"}`, json, 400, `{"code":400,"name":"Bad Request","description":"db must be a string"}`},
		{"unknown db", "", `{"db":"nope","login":"alice","password":"alice-password"}`, json, 400, `{"code":400,"name":"Bad Request","description":"unknown database"}`},
		{"no params", "", "", "", 400, `{"code":400,"name":"Bad Request","description":"login is required"}`},
		{"query missing password", "?login=alice", "", "", 400, `{"code":400,"name":"Bad Request","description":"password is required"}`},
		{"form body", "", "login=alice&password=alice-password", formCT, 415, `{"code":415,"name":"Unsupported Media Type"}`},
		{"over limit", "", `{"login":"alice","password":"` + strings.Repeat("p", 20000) + `"}`, json, 413, `{"code":413,"name":"Request Entity Too Large"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantJSON(t, e.raw("POST", "/session/auth/login"+c.path, c.body, c.ctype), c.status, c.want)
		})
	}
	for name, body := range map[string]string{
		"empty": "", "null": "null", "array": `[{"login":"alice","password":"alice-password"}]`, "scalar": `"x"`,
		"trailing": `{"login":"alice","password":"alice-password"} {}`, "truncated": `{"login":"alice"`,
		"duplicate":    `{"login":"bob","login":"alice","password":"alice-password"}`,
		"invalid utf8": "{\"login\":\"ali\xffce\",\"password\":\"alice-password\"}",
		"deep":         `{"login":"alice","password":"alice-password","x":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `}`,
		"control char": `{"login":"ali\u0001ce","password":"alice-password"}`,
	} {
		r := e.raw("POST", "/session/auth/login", body, json)
		if m := r.json(t); r.Status != 400 || m["code"] != float64(400) || m["name"] != "Bad Request" {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	for _, p := range []string{"/session/auth/login", "/session/auth/logout"} {
		r := e.raw("GET", p, "", "")
		wantJSON(t, r, 405, `{"code":405,"name":"Method Not Allowed"}`)
		if r.Header.Get("Allow") != "POST" {
			t.Fatalf("Allow %q", r.Header.Get("Allow"))
		}
	}
	sid := e.odooLogin("alice", "alice-password")
	before := e.node.FSM().AppliedIndex()
	for name, h := range map[string][]string{
		"none":        nil,
		"empty":       {"X-Openerp-Session-Id: "},
		"short":       {"X-Openerp-Session-Id: abc"},
		"uppercase":   {"X-Openerp-Session-Id: " + strings.ToUpper(sid)},
		"64 hex":      {"X-Openerp-Session-Id: " + strings.Repeat("a", 64)},
		"10KB":        {"X-Openerp-Session-Id: " + strings.Repeat("a", 10<<10)},
		"unknown":     {"X-Openerp-Session-Id: " + strings.Repeat("a", 40)},
		"bad cookie":  {"Cookie: session_id=" + strings.Repeat("z", 40)},
		"sid+space":   {"X-Openerp-Session-Id: " + sid + " x"},
		"bearer only": {"Authorization: Bearer " + sid},
	} {
		wantJSON(t, e.raw("POST", "/session/auth/logout", "", "", h...), 401, `{"code":401,"name":"Unauthorized"}`)
		_ = name
	}
	if after := e.node.FSM().AppliedIndex(); after != before {
		t.Fatalf("refused logouts changed the state: %d -> %d", before, after)
	}
	// Others' failures do not lock alice out: this client logged in to
	// her account before (TestGuessing_* has strangers and owners apart).
	for i := 0; i < 5; i++ {
		e.do("POST", "/session/auth/login", map[string]string{"login": "alice", "password": "wrong-password"})
	}
	r := e.do("POST", "/session/auth/login", map[string]string{"login": "alice", "password": "alice-password"})
	if r.Status != 200 {
		t.Fatalf("owner after failures: %d %s", r.Status, r.Body)
	}
}
