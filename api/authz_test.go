package api

import (
	"context"
	"io"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// withAuthz configures forward auth: the test server's peer (127.0.0.1)
// is a trusted proxy, a login URL and one allowed host.
func withAuthz(rules string) envOpt {
	return func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		c.AuthzLoginURL = "https://login.example.com/signin"
		c.AuthzRedirectHosts = []string{"app.example.com"}
		if rules != "" {
			rs, err := ParseAuthzRules([]byte(rules))
			if err != nil {
				panic(err)
			}
			c.AuthzRules = rs
		}
	}
}

// authzDo sends a forward-auth request without following a redirect.
func (e *testEnv) authzDo(method, path string, headers ...string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// TestAuthz_EveryDialectsToken: a token of each dialect, carried as its
// dialect carries it, passes with the user's identity; the answer is not
// cacheable and has no body.
func TestAuthz_EveryDialectsToken(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("zoe@example.com", "zoe-password-123", map[string]any{"name": "Zoë Q", "email": "zoe@example.com"})
	cases := map[string]string{
		"native": bearerH(e.login("zoe@example.com", "zoe-password-123")),
		"knox":   "Authorization: Token " + e.knoxLogin("zoe@example.com", "zoe-password-123"),
		"jwt":    bearerH(e.jwtLogin("zoe@example.com", "zoe-password-123")),
	}
	sid := e.odooLogin("zoe@example.com", "zoe-password-123")
	cases["odoo-cookie"] = "Cookie: session_id=" + sid
	cases["odoo-header"] = "X-Openerp-Session-Id: " + sid
	for name, h := range cases {
		for _, method := range []string{"GET", "POST", "HEAD"} {
			r := e.authzDo(method, "/v1/authz", h)
			if r.Status != 200 || len(r.Body) != 0 {
				t.Fatalf("%s %s: %d %s", name, method, r.Status, r.Body)
			}
			want := map[string]string{
				"Remote-User": "zoe@example.com", "Remote-Email": "zoe@example.com", "Remote-Name": "Zoë Q",
				"Remote-Groups": "users", "X-Sessiond-Login": "zoe@example.com", "X-Sessiond-Admin": "false",
				"X-Sessiond-Db": "sessiond", "Cache-Control": "no-store",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s: %s = %q, want %q", name, k, got, v)
				}
			}
			kind := strings.TrimSuffix(strings.TrimSuffix(name, "-cookie"), "-header")
			if got := r.Header.Get("X-Sessiond-Session-Kind"); got != kind {
				t.Errorf("%s: kind %q", name, got)
			}
			if r.Header.Get("X-Sessiond-User-Id") == "" || len(r.Header.Get("X-Sessiond-Session-Id")) != auth.IDLen {
				t.Errorf("%s: ids %v", name, r.Header)
			}
		}
	}
	if r := e.authzDo("GET", "/v1/authz", bearerH(e.admin)); r.Header.Get("Remote-Groups") != "admins" || r.Header.Get("X-Sessiond-Admin") != "true" {
		t.Fatalf("admin: %d %v", r.Status, r.Header)
	}
}

// TestAuthz_RefusedTokens: missing, malformed, unknown and revoked tokens
// are 401 with WWW-Authenticate and no identity header; an Authorization
// of another scheme is not mistaken for a sessiond one.
func TestAuthz_RefusedTokens(t *testing.T) {
	e := newTestEnv(t)
	tok := e.login("admin", testAdminPassword)
	if r := e.do("POST", "/v1/logout", nil, bearerH(tok)); r.Status != 204 {
		t.Fatalf("logout: %d", r.Status)
	}
	for name, h := range map[string]string{
		"none":      "X-Nothing: 1",
		"basic":     "Authorization: Basic YWRtaW46YWRtaW4=",
		"malformed": "Authorization: Bearer zz",
		"unknown":   bearerH(strings.Repeat("ab", 32)),
		"revoked":   bearerH(tok),
		"knox bad":  "Authorization: Token " + strings.Repeat("0", 64),
		"cookie":    "Cookie: session_id=" + strings.Repeat("1", 40),
		"bad jwt":   bearerH("eyJhbGciOiJIUzI1NiJ9.e30.x"),
	} {
		r := e.authzDo("GET", "/v1/authz", h)
		if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %v", name, r.Status, r.Header)
		}
		if r.Header.Get("Remote-User") != "" || r.Header.Get("X-Sessiond-Login") != "" {
			t.Errorf("%s: identity on a refusal", name)
		}
	}
}

// Attack: a user whose name carries CR LF must not add a header of its
// own to what the proxy copies upstream.
func TestAuthz_HeaderInjectionSanitised(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("mallory", "mallory-password", map[string]any{"name": "M\r\nRemote-Groups: admins", "email": "m@x.y\nX: 1"})
	r := e.authzDo("GET", "/v1/authz", bearerH(e.login("mallory", "mallory-password")))
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if got := r.Header.Values("Remote-Groups"); len(got) != 1 || got[0] != "users" {
		t.Fatalf("groups %q", got)
	}
	if n := r.Header.Get("Remote-Name"); n != "M  Remote-Groups: admins" || r.Header.Get("X") != "" {
		t.Fatalf("name %q, headers %v", n, r.Header)
	}
	if got := headerValue("a\x00b\x7fc\td"); got != "a b c d" {
		t.Fatalf("headerValue %q", got)
	}
}

// TestAuthz_LoginRedirect: a browser without a session is sent to the
// login URL with the original URL, only when it names an allowed host and
// comes from a trusted proxy; an API client still gets 401; nginx's
// auth_request mode gets the Location on a 401.
func TestAuthz_LoginRedirect(t *testing.T) {
	e := newTestEnv(t, withAuthz(""))
	html := "Accept: text/html,application/xhtml+xml"
	fwd := []string{html, "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: /x?y=1"}
	r := e.authzDo("GET", "/v1/authz", fwd...)
	want := "https://login.example.com/signin?rd=" + url.QueryEscape("https://app.example.com/x?y=1")
	if r.Status != 302 || r.Header.Get("Location") != want {
		t.Fatalf("redirect: %d %q", r.Status, r.Header.Get("Location"))
	}
	if r := e.authzDo("GET", "/v1/authz", html, "X-Original-URL: https://app.example.com/p"); r.Header.Get("Location") != "https://login.example.com/signin?rd="+url.QueryEscape("https://app.example.com/p") {
		t.Fatalf("X-Original-URL: %d %q", r.Status, r.Header.Get("Location"))
	}
	// Attack: the original URL names another host: no rd, no open redirect.
	for _, h := range []string{"X-Original-URL: https://evil.example.net/p", "X-Original-URL: https://app.example.com@evil.example.net/",
		"X-Original-URL: javascript://app.example.com/%0aalert(1)", "X-Forwarded-Host: evil.example.net"} {
		if r := e.authzDo("GET", "/v1/authz", html, h); r.Status != 302 || r.Header.Get("Location") != e.srv.cfg.AuthzLoginURL {
			t.Fatalf("%s: %d %q", h, r.Status, r.Header.Get("Location"))
		}
	}
	if r := e.authzDo("GET", "/v1/authz", fwd[1:]...); r.Status != 401 {
		t.Fatalf("API client: %d", r.Status)
	}
	r = e.authzDo("GET", "/v1/authz?mode=auth_request", fwd...)
	if r.Status != 401 || r.Header.Get("Location") != want {
		t.Fatalf("auth_request mode: %d %q", r.Status, r.Header.Get("Location"))
	}
	// Attack: from a peer that is not a trusted proxy the headers are not
	// believed at all.
	e.srv.cfg.TrustedProxies = nil
	if r := e.authzDo("GET", "/v1/authz", fwd...); r.Status != 302 || r.Header.Get("Location") != e.srv.cfg.AuthzLoginURL {
		t.Fatalf("untrusted: %d %q", r.Status, r.Header.Get("Location"))
	}
}

// TestAuthz_Rules: the longest matching prefix applies; admin, db and
// login conditions; a path the rules cannot place is refused rather than
// let through.
func TestAuthz_Rules(t *testing.T) {
	rules := `{"rules": [
		{"prefix": "/admin", "admin": true},
		{"prefix": "/admin/reports", "logins": ["Zoe"]},
		{"prefix": "/acme", "db": "acme"}
	]}`
	e := newTestEnv(t, withAuthz(rules))
	e.createUser("zoe", "zoe-password-123", nil)
	zoe := bearerH(e.login("zoe", "zoe-password-123"))
	admin := bearerH(e.admin)
	for _, c := range []struct {
		who, uri string
		want     int
	}{
		{admin, "/admin/x", 200}, {zoe, "/admin/x", 403}, {zoe, "/admin", 403}, {zoe, "/administrator", 200},
		{zoe, "/admin/reports/1", 200}, {admin, "/admin/reports", 403},
		{zoe, "/acme/x", 403}, {zoe, "/other", 200},
		// Attack: spellings the app's router reads as /admin.
		{zoe, "//admin/x", 403}, {zoe, "/a/../admin/x", 403}, {zoe, "/%61dmin/x", 403}, {zoe, "/admin?x=/other", 403},
	} {
		if r := e.authzDo("GET", "/v1/authz", c.who, "X-Forwarded-Uri: "+c.uri); r.Status != c.want {
			t.Errorf("%s as %.30s: %d, want %d", c.uri, c.who, r.Status, c.want)
		}
	}
	// No path, or a path from an untrusted peer: refused, not unchecked.
	if r := e.authzDo("GET", "/v1/authz", zoe); r.Status != 403 {
		t.Fatalf("no path: %d", r.Status)
	}
	e.srv.cfg.TrustedProxies = nil
	if r := e.authzDo("GET", "/v1/authz", admin, "X-Forwarded-Uri: /other"); r.Status != 403 {
		t.Fatalf("untrusted: %d", r.Status)
	}
	for _, bad := range []string{`{"rules":[{"prefix":"admin"}]}`, `{"rules":[{"prefix":"/a","admn":true}]}`,
		`{"rules":[{"prefix":"/a"},{"prefix":"/a/"}]}`, `{"rules":[]} {}`} {
		if _, err := ParseAuthzRules([]byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestAuthz_UnavailableIs503: a node that cannot tell answers 503 with
// Retry-After, so the proxy's pool moves on instead of logging anyone out.
func TestAuthz_UnavailableIs503(t *testing.T) {
	e := newTestEnv(t)
	tok := e.login("admin", testAdminPassword)
	e.node.Shutdown(context.Background())
	var r resp
	waitFor(t, "the node to stop answering", func() bool {
		r = e.authzDo("GET", "/v1/authz", bearerH(tok))
		return r.Status != http.StatusOK
	})
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" || r.Header.Get("Remote-User") != "" {
		t.Fatalf("%d %v %s", r.Status, r.Header, r.Body)
	}
}
