package api

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestPathViews is the path-normalisation table: each target and the
// paths an app may route it to, or the ambiguity it is refused for.
func TestPathViews(t *testing.T) {
	for _, c := range []struct {
		target string
		want   []string // nil: refused
	}{
		{"/", []string{"/"}},
		{"/admin", []string{"/admin"}},
		{"/admin/x?y=/other", []string{"/admin/x"}},
		{"//admin/x", []string{"/admin/x"}},
		{"/./admin", []string{"/admin"}},
		{"/public/../admin", []string{"/admin"}},
		{"/../../admin", []string{"/admin"}},
		{"/%61dmin", []string{"/admin"}},
		// ;params: the literal reading and Tomcat's.
		{"/admin;x=1/", []string{"/admin;x=1", "/admin"}},
		{"/admin;jsessionid=1/x", []string{"/admin;jsessionid=1/x", "/admin/x"}},
		{"/public/..;/admin", []string{"/public/..;/admin", "/admin"}},
		{"/public;/../admin", []string{"/admin"}},
		// Encoded dots: decoded before or after dot segments are resolved.
		{"/public/%2e%2e/admin", []string{"/admin", "/public/../admin"}},
		{"/public/%2E./admin", []string{"/admin", "/public/../admin"}},
		// Encoded slashes: inside a segment, or a separator.
		{"/admin%2fx", []string{"/admin%2Fx", "/admin/x"}},
		{"/x/..%2f..%2fadmin", []string{"/x/..%2F..%2Fadmin", "/admin"}},
		// Refused: nothing settles them.
		{"/admin#x", nil},
		{"/public#/../admin", nil},
		{"/public\\..\\admin", nil},
		{"/admin%5cx", nil},
		{"/admin%00", nil},
		{"/admin\x00", nil},
		{"/admin%0a", nil},
		{"/admin x", nil},
		{"/public/%252e%252e/admin", nil},
		{"/admin%252fx", nil},
		{"/admin%253bx", nil},
		{"/admin%2500", nil},
		{"/admin%zz", nil},
		{"/admin%2", nil},
		{"admin", nil},
		{"", nil},
	} {
		got, err := pathViews(c.target)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("%q: accepted as %q, want refused", c.target, got)
		case c.want == nil:
			if !strings.Contains(err.Error(), "ambiguous path") {
				t.Errorf("%q: error %v does not say why", c.target, err)
			}
		case err != nil:
			t.Errorf("%q: %v", c.target, err)
		case !sameSet(got, c.want):
			t.Errorf("%q: views %q, want %q", c.target, got, c.want)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// TestAuthz_HeaderPrecedence is the header-precedence table: the same
// headers give the rule check and the redirect the same original request,
// and where X-Original-URL and X-Forwarded-* both speak they must agree
// (a client adds the family its proxy does not set).
func TestAuthz_HeaderPrecedence(t *testing.T) {
	e := newTestEnv(t, withAuthz(`{"rules": [{"prefix": "/admin", "admin": true}]}`))
	e.createUser("zoe", "zoe-password-123", nil)
	zoe := bearerH(e.login("zoe", "zoe-password-123"))
	html := "Accept: text/html"
	rd := func(u string) string { return e.srv.cfg.AuthzLoginURL + "?rd=" + url.QueryEscape(u) }
	bare := e.srv.cfg.AuthzLoginURL
	for _, c := range []struct {
		name     string
		headers  []string
		rule     int    // zoe's status
		redirect string // Location for a browser without a session
	}{
		{"forwarded only", []string{"X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: /admin"},
			403, rd("https://app.example.com/admin")},
		{"original only", []string{"X-Original-URL: https://app.example.com/admin"}, 403, rd("https://app.example.com/admin")},
		{"original path only", []string{"X-Original-URL: /admin", "X-Forwarded-Host: app.example.com"}, 403, rd("https://app.example.com/admin")},
		{"both agree", []string{"X-Original-URL: https://app.example.com/admin", "X-Forwarded-Proto: HTTPS",
			"X-Forwarded-Host: APP.example.com", "X-Forwarded-Uri: /admin"}, 403, rd("https://app.example.com/admin")},
		{"public path", []string{"X-Original-URL: https://app.example.com/public"}, 200, rd("https://app.example.com/public")},
		// Attack (N4): the proxy sets X-Original-URL, the client adds
		// X-Forwarded-Uri, and the reverse.
		{"client X-Forwarded-Uri", []string{"X-Original-URL: https://app.example.com/admin", "X-Forwarded-Uri: /public"}, 403, bare},
		{"client X-Original-URL", []string{"X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: /public",
			"X-Original-URL: https://app.example.com/anything-I-want"}, 403, bare},
		{"client X-Original-URL path", []string{"X-Forwarded-Uri: /admin", "X-Original-URL: /public"}, 403, bare},
		{"client X-Forwarded-Proto", []string{"X-Original-URL: https://app.example.com/p", "X-Forwarded-Proto: http"}, 403, bare},
		{"client X-Forwarded-Host", []string{"X-Original-URL: https://app.example.com/p", "X-Forwarded-Host: other.example.com"}, 403, bare},
		{"header twice", []string{"X-Forwarded-Uri: /admin", "X-Forwarded-Uri: /public"}, 403, bare},
		{"host list", []string{"X-Forwarded-Host: app.example.com, evil.example.net", "X-Forwarded-Uri: /p"}, 403, bare},
		{"relative uri", []string{"X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: public"}, 403, bare},
		{"user info", []string{"X-Original-URL: https://app.example.com@evil.example.net/public"}, 403, bare},
		{"other scheme", []string{"X-Original-URL: javascript://app.example.com/public"}, 403, bare},
		{"raw #", []string{"X-Original-URL: https://app.example.com/admin#x"}, 403, bare},
		{";params", []string{"X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: /admin;x=1/"}, 403,
			rd("https://app.example.com/admin;x=1/")},
	} {
		t.Run(c.name, func(t *testing.T) {
			if r := e.authzDo("GET", "/v1/authz", append([]string{zoe}, c.headers...)...); r.Status != c.rule {
				t.Errorf("rule: %d %s, want %d", r.Status, r.Body, c.rule)
			} else if r.Status == 403 && !strings.Contains(string(r.Body), "admins only") && !strings.Contains(string(r.Body), "ambiguous") {
				t.Errorf("refusal without a reason: %s", r.Body)
			}
			if r := e.authzDo("GET", "/v1/authz", append([]string{html}, c.headers...)...); r.Status != http.StatusFound ||
				r.Header.Get("Location") != c.redirect {
				t.Errorf("redirect: %d %q, want %q", r.Status, r.Header.Get("Location"), c.redirect)
			}
		})
	}
}

// TestAuthz_UnverifiedEmailWithheld (finding N13): a stranger registers
// with someone else's address; forward auth does not hand that address to
// apps (which link accounts by Remote-Email) until an admin verifies it.
func TestAuthz_UnverifiedEmailWithheld(t *testing.T) {
	e := newTestEnv(t, withAuthz(""))
	e.patchSettings(map[string]any{"signup_enabled": true})
	e.waitActiveKey()
	r := e.raw("POST", "/api/register", form("email", "ceo@victim.example", "password", "mallory-password-1", "name", "CEO"), formCT)
	if r.Status != 200 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	tok := e.jwtLogin("ceo@victim.example", "mallory-password-1")
	a := e.authzDo("GET", "/v1/authz", "Authorization: Bearer "+tok)
	if a.Status != 200 || a.Header.Get("Remote-User") != "ceo@victim.example" {
		t.Fatalf("authz: %d %v", a.Status, a.Header)
	}
	for _, h := range []string{"Remote-Email", "X-Sessiond-Email"} {
		if v := a.Header.Get(h); v != "" {
			t.Errorf("unverified address passed on as %s: %q", h, v)
		}
	}
	me := e.do("GET", "/v1/session", nil, "Authorization: Bearer "+tok).json(t)
	user := me["user"].(map[string]any)
	if user["email_verified"] != false {
		t.Fatalf("whoami: %v", user)
	}
	id := itoa(uint64(user["id"].(float64)))
	if p := e.do("PATCH", "/v1/users/"+id, map[string]any{"email_verified": true}, bearerH(e.admin)); p.Status != 200 || p.json(t)["email_verified"] != true {
		t.Fatalf("verify: %d %s", p.Status, p.Body)
	}
	a = e.authzDo("GET", "/v1/authz", "Authorization: Bearer "+tok)
	if a.Header.Get("Remote-Email") != "ceo@victim.example" || a.Header.Get("X-Sessiond-Email") != "ceo@victim.example" {
		t.Fatalf("verified address not passed on: %v", a.Header)
	}
}

// BenchmarkPathViews is the cost rules add to a forward-auth call: a
// plain target (one view, the common case) and the hostile spellings
// that need several.
//
//	go test ./api -run '^$' -bench PathViews -benchmem
func BenchmarkPathViews(b *testing.B) {
	for _, target := range []string{"/app/page?x=1", "/admin;jsessionid=1/x", "/public/%2e%2e/admin%2fx;p"} {
		b.Run(target, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := pathViews(target); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestAuthz_AppQueryIsNotACredential: Envoy appends the app's path and
// query to /v1/authz?p=; an app URL carrying ?token= (a reset link) is
// not refused as a credential in sessiond's URL, and such a query is
// never read as one either.
func TestAuthz_AppQueryIsNotACredential(t *testing.T) {
	e := newTestEnv(t)
	if r := e.authzDo("GET", "/v1/authz?p=/reset?token=abc&session_id=x", bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("app query: %d %s", r.Status, r.Body)
	}
	if r := e.authzDo("GET", "/v1/authz?access_token="+e.admin); r.Status != 401 {
		t.Fatalf("a token in forward auth's query was read: %d", r.Status)
	}
}
