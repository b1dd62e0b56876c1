package api

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// withJWTCORS names the origins whose pages may call the JWT dialect.
func withJWTCORS(origins ...string) envOpt {
	return func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.JWTCORSOrigins = origins }
}

const (
	crossSite = "Sec-Fetch-Site: cross-site"
	evilSite  = "Origin: https://evil.example"
)

// TestCrossOrigin_LoginCSRF is the attack of finding L3: a page on
// another site makes its visitor's browser log in to the Odoo dialect
// (JSON without a content type, or JSON as a no-cors fetch) so the victim
// holds the attacker's session cookie. Refused, with no cookie set; the
// same request from the site itself or from a program passes.
func TestCrossOrigin_LoginCSRF(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("mallory", "mallory-password", nil)
	body := `{"login":"mallory","password":"mallory-password"}`
	for _, c := range []struct {
		name, ctype string
		headers     []string
		want        int
	}{
		{"no content type, cross-site", "", []string{crossSite, evilSite}, 403},
		{"json, cross-site fetch", "application/json", []string{crossSite}, 403},
		{"json, foreign Origin only (older browser)", "application/json", []string{evilSite}, 403},
		{"json, Origin null", "application/json", []string{"Origin: null"}, 403},
		{"text/plain, cross-site", "text/plain", []string{crossSite}, 403},
		// Not a browser, or the site's own page: the content type decides.
		{"no content type, no browser headers", "", nil, 415},
		{"text/plain, no browser headers", "text/plain", nil, 415},
		{"json, same origin", "application/json", []string{"Sec-Fetch-Site: same-origin"}, 200},
		{"json, user typed it", "application/json", []string{"Sec-Fetch-Site: none"}, 200},
		{"json, program", "application/json", nil, 200},
	} {
		r := e.raw("POST", "/session/auth/login", body, c.ctype, c.headers...)
		if r.Status != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, r.Status, r.Body, c.want)
		}
		if c.want != 200 && r.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: refused, yet a cookie was set", c.name)
		}
	}
}

// TestCrossOrigin_EveryStateChangingRoute: every registered route that
// takes an unsafe method refuses a cross-site browser request before its
// handler runs, in its dialect's error shape; forward auth, which proxies
// call with the client's headers, is not affected.
func TestCrossOrigin_EveryStateChangingRoute(t *testing.T) {
	e := newTestEnv(t)
	checked := 0
	for _, pattern := range e.srv.table {
		method, path, found := strings.Cut(pattern, " ")
		if !found {
			method, path = "POST", pattern
		}
		if method == "GET" || path == "/v1/authz" {
			continue
		}
		path = strings.NewReplacer("{$}", "", "{id}", "1", "{kid}", "k1").Replace(path)
		r := e.raw(method, path, `{}`, "application/json", crossSite, evilSite, bearerH(e.admin))
		if r.Status != 403 || !strings.Contains(strings.ToLower(string(r.Body)), "forbidden") && !strings.Contains(string(r.Body), "cross-origin") {
			t.Errorf("%s %s: %d %s", method, path, r.Status, r.Body)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("only %d routes checked", checked)
	}
	// The admin's session survived the cross-site logout.
	if r := e.do("GET", "/v1/session", nil, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("session after the refused cross-site calls: %d", r.Status)
	}
	if r := e.raw("GET", "/v1/authz", "", "", crossSite, evilSite, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("forward auth with the client's cross-site headers: %d %s", r.Status, r.Body)
	}
}

// TestJWT_CORS (finding N14): no Access-Control-Allow-Origin unless
// configured; a configured origin gets itself back and may call from its
// pages; "*" restores the seed's behaviour.
func TestJWT_CORS(t *testing.T) {
	login := form("email", "user@odoo.com", "password", "user-password")
	setup := func(e *testEnv) { e.createUser("user@odoo.com", "user-password", nil) }

	e := newTestEnv(t)
	setup(e)
	r := e.raw("POST", "/api/login", login, formCT, crossSite, evilSite)
	if r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("default, cross-site form login: %d %v %s", r.Status, r.Header, r.Body)
	}
	if r := e.raw("POST", "/api/register", form("email", "x@y.example", "password", "pw-123456789", "name", "X"), formCT, crossSite); r.Status != 403 {
		t.Fatalf("default, cross-site register: %d %s", r.Status, r.Body)
	}

	e = newTestEnv(t, withJWTCORS("https://app.example"))
	setup(e)
	pre := e.raw("OPTIONS", "/api/login", "", "", "Origin: https://app.example", "Access-Control-Request-Method: POST")
	if pre.Status != 200 || pre.Header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(pre.Header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Fatalf("configured preflight: %d %v", pre.Status, pre.Header)
	}
	r = e.raw("POST", "/api/login", login, formCT, crossSite, "Origin: https://app.example")
	if r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.Header.Get("Vary"), "Origin") {
		t.Fatalf("configured origin: %d %v %s", r.Status, r.Header, r.Body)
	}
	r = e.raw("POST", "/api/login", login, formCT, crossSite, evilSite)
	if r.Status != 403 || r.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("other origin: %d %v", r.Status, r.Header)
	}
	// The configured origin is trusted by the JWT dialect only.
	if r := e.raw("POST", "/session/auth/login", `{"login":"user@odoo.com","password":"user-password"}`, "application/json",
		crossSite, "Origin: https://app.example"); r.Status != 403 {
		t.Fatalf("JWT CORS origin on the Odoo dialect: %d", r.Status)
	}

	e = newTestEnv(t, withJWTCORS("*"))
	setup(e)
	if r := e.raw("POST", "/api/login", login, formCT, crossSite, evilSite); r.Status != 200 || r.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("*: %d %v", r.Status, r.Header)
	}
}

// TestCookieSecure: the session cookie is Secure over TLS or behind a
// trusted proxy that says https, never on a client's own say-so.
func TestCookieSecure(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", nil)
	body := `{"login":"alice","password":"alice-password"}`
	secure := func(headers ...string) bool {
		t.Helper()
		r := e.raw("POST", "/session/auth/login", body, "application/json", headers...)
		if r.Status != 200 {
			t.Fatalf("login: %d %s", r.Status, r.Body)
		}
		c := (&http.Response{Header: r.Header}).Cookies()
		if len(c) != 1 {
			t.Fatalf("cookies %v", c)
		}
		return c[0].Secure
	}
	if secure() || secure("X-Forwarded-Proto: https") {
		t.Fatal("Secure on plain HTTP from an untrusted peer")
	}
	e.srv.cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	if !secure("X-Forwarded-Proto: https") || !secure("X-Forwarded-Proto: HTTPS") {
		t.Fatal("not Secure behind a trusted proxy saying https")
	}
	if secure("X-Forwarded-Proto: http") || secure() || secure("X-Forwarded-Proto: https", "X-Forwarded-Proto: http") {
		t.Fatal("Secure without a single https from the proxy")
	}
	e.srv.cfg.TrustedProxies = nil
	e.srv.cfg.TLS = true
	if !secure() {
		t.Fatal("not Secure on a TLS node")
	}
}
