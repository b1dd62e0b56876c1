package api

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// withPortal puts the test server behind a trusted proxy (its peer,
// 127.0.0.1) and gives the portal a cookie domain and redirect hosts.
func withPortal(c *Config) {
	c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	c.AuthzRedirectHosts = []string{"app.other.org:8443", "plain.other.org"}
	c.Portal.Cookies = []CookieDomain{{Domain: "example.com", DefaultRedirect: "https://app.example.com/home"}}
}

func portalOpt(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { withPortal(c) }

// browser is a cookie-keeping client that does not follow redirects and
// adds headers (the proxy's X-Forwarded-*) to every request.
type browser struct {
	t       *testing.T
	e       *testEnv
	c       *http.Client
	headers []string
}

func newBrowser(t *testing.T, e *testEnv, headers ...string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, headers: headers, c: &http.Client{Jar: jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path, body string, headers ...string) resp {
	b.t.Helper()
	var rd io.Reader
	if body != "" || method == "POST" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, b.e.URL+path, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if method == "POST" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, h := range append(append([]string(nil), b.headers...), headers...) {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

func (b *browser) signIn(login, password, rd string) resp {
	b.t.Helper()
	return b.do("POST", "/auth/signin", url.Values{"login": {login}, "password": {password}, "rd": {rd}}.Encode())
}

// cookieToken is the portal token a Set-Cookie header carries, or "".
func cookieToken(r resp) string {
	for _, c := range (&http.Response{Header: r.Header}).Cookies() {
		if strings.HasSuffix(c.Name, "sessiond") && c.MaxAge >= 0 {
			return c.Value
		}
	}
	return ""
}

// TestPortal_SignInAccountSignOut walks the portal as a person would:
// the sign-in page, a sign-in that lands on the account page, the page's
// headers, forward auth passing with the cookie, the account page
// listing both browsers' sessions and a native token, signing out the
// other browser (its next forward-auth request goes to the portal), and
// signing out.
func TestPortal_SignInAccountSignOut(t *testing.T) {
	e := newTestEnv(t, portalOpt)
	e.createUser("zoe", "zoe-password-123", map[string]any{"email": "zoe@example.com"})
	a := newBrowser(t, e, "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0 Safari/537.36")
	page := a.do("GET", "/auth/", "")
	if page.Status != 200 || !strings.Contains(string(page.Body), `name="password"`) || !strings.Contains(string(page.Body), `autocomplete="current-password"`) {
		t.Fatalf("sign-in page: %d %s", page.Status, page.Body)
	}
	for h, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Content-Type": "text/html; charset=utf-8"} {
		if got := page.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") && !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q", csp)
	}
	for _, id := range []string{"login", "password", "remember_me"} {
		if !strings.Contains(string(page.Body), `<label for="`+id+`"`) {
			t.Errorf("input %s has no label", id)
		}
	}
	if r := a.signIn("zoe", "wrong-password-1", ""); r.Status != 401 || !strings.Contains(string(r.Body), "login or password is wrong") || cookieToken(r) != "" {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	r := a.signIn("zoe", "zoe-password-123", "")
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != "/auth/account" {
		t.Fatalf("sign-in: %d %v", r.Status, r.Header)
	}
	sc := r.Header.Get("Set-Cookie")
	if !strings.HasPrefix(sc, "sessiond=") || !strings.Contains(sc, "HttpOnly") || !strings.Contains(sc, "SameSite=Lax") || strings.Contains(sc, "Max-Age") {
		t.Fatalf("cookie over plain http without remember-me: %s", sc)
	}
	tokA := cookieToken(r)
	if st := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+tokA); st.Status != 200 || st.Header.Get("Remote-User") != "zoe" {
		t.Fatalf("forward auth with the portal cookie: %d %v", st.Status, st.Header)
	}
	b := newBrowser(t, e, "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0")
	rb := b.do("POST", "/auth/signin", url.Values{"login": {"zoe"}, "password": {"zoe-password-123"}, "remember_me": {"on"}}.Encode())
	if rb.Status != 303 || !strings.Contains(rb.Header.Get("Set-Cookie"), "Max-Age=") {
		t.Fatalf("remember-me sign-in: %d %v", rb.Status, rb.Header)
	}
	tokB := cookieToken(rb)
	e.login("zoe", "zoe-password-123") // a native token shows too
	acct := a.do("GET", "/auth/account", "")
	body := string(acct.Body)
	if acct.Status != 200 || !strings.Contains(body, "Chrome on Linux") || !strings.Contains(body, "Firefox on Windows") ||
		!strings.Contains(body, "(this device)") || !strings.Contains(body, "native") {
		t.Fatalf("account page: %d %s", acct.Status, body)
	}
	if n := strings.Count(body, "(this device)"); n != 1 {
		t.Fatalf("%d sessions marked current", n)
	}
	// Sign out the other browser by its id, as its row's button does.
	idB := sessionIDOf(t, e, tokB)
	if r := a.do("POST", "/auth/account/signout", "scope=session&id="+idB); r.Status != 303 || r.Header.Get("Location") != "/auth/account?done=session" {
		t.Fatalf("sign out the other browser: %d %s", r.Status, r.Body)
	}
	if st := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+tokB, "Accept: text/html",
		"X-Forwarded-Proto: http", "X-Forwarded-Host: app.test:8080", "X-Forwarded-Uri: /page?x=1"); st.Status != http.StatusFound ||
		st.Header.Get("Location") != "http://app.test:8080/auth/?rd="+url.QueryEscape("http://app.test:8080/page?x=1") {
		t.Fatalf("signed-out browser at forward auth: %d %v", st.Status, st.Header)
	}
	// A foreign session id is a 404, and changes nothing.
	e.createUser("max", "max-password-123", nil)
	maxTok := e.login("max", "max-password-123")
	if r := a.do("POST", "/auth/account/signout", "scope=session&id="+sessionIDOf(t, e, maxTok)); r.Status != 404 {
		t.Fatalf("foreign session id: %d", r.Status)
	}
	if w := e.do("GET", "/v1/session", nil, bearerH(maxTok)); w.Status != 200 {
		t.Fatalf("the foreign session was touched: %d", w.Status)
	}
	// Sign out: the cookie is cleared and forward auth refuses it.
	out := a.do("POST", "/auth/signout", "")
	if out.Status != 303 || out.Header.Get("Location") != "/auth/signedout" || !strings.Contains(out.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %v", out.Status, out.Header)
	}
	if st := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+tokA); st.Status != 401 {
		t.Fatalf("forward auth after sign-out: %d", st.Status)
	}
}

// sessionIDOf is a token's public session id, from whoami.
func sessionIDOf(t *testing.T, e *testEnv, tok string) string {
	t.Helper()
	w := e.do("GET", "/v1/session", nil, bearerH(tok))
	if w.Status != 200 {
		t.Fatalf("whoami: %d %s", w.Status, w.Body)
	}
	return w.json(t)["session"].(map[string]any)["id"].(string)
}

// TestPortal_OthersAndPassword: "sign out other devices" keeps the
// current one; a password change asks for the current password, ends
// every other session and keeps this browser signed in.
func TestPortal_OthersAndPassword(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ann", "ann-password-123", nil)
	a := newBrowser(t, e)
	if r := a.signIn("ann", "ann-password-123", ""); r.Status != 303 {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	t1, t2 := e.login("ann", "ann-password-123"), e.login("ann", "ann-password-123")
	if r := a.do("POST", "/auth/account/signout", "scope=others"); r.Status != 303 || r.Header.Get("Location") != "/auth/account?done=others" {
		t.Fatalf("others: %d %s", r.Status, r.Body)
	}
	for _, tok := range []string{t1, t2} {
		if w := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok)); w.Status != 401 {
			t.Fatalf("another session survived: %d", w.Status)
		}
	}
	if r := a.do("GET", "/auth/account?done=others", ""); r.Status != 200 || !strings.Contains(string(r.Body), "Every other device is signed out") {
		t.Fatalf("current session after others: %d", r.Status)
	}
	t3 := e.login("ann", "ann-password-123")
	if r := a.do("POST", "/auth/account/password", "current=nope-nope-nope&new=ann-new-password-456&confirm=ann-new-password-456"); r.Status != 403 {
		t.Fatalf("wrong current password: %d", r.Status)
	}
	if r := a.do("POST", "/auth/account/password", "current=ann-password-123&new=ann-new-password-456&confirm=ann-other-password-789"); r.Status != 400 {
		t.Fatalf("mismatched new passwords: %d", r.Status)
	}
	r := a.do("POST", "/auth/account/password", "current=ann-password-123&new=ann-new-password-456&confirm=ann-new-password-456")
	if r.Status != 303 || r.Header.Get("Location") != "/auth/account?done=password" || cookieToken(r) == "" {
		t.Fatalf("password change: %d %v %s", r.Status, r.Header, r.Body)
	}
	if w := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(t3)); w.Status != 401 {
		t.Fatalf("a session survived the password change: %d", w.Status)
	}
	if r := a.do("GET", "/auth/account", ""); r.Status != 200 {
		t.Fatalf("this browser after the password change: %d", r.Status)
	}
	e.login("ann", "ann-new-password-456")
	if r := a.do("POST", "/auth/account/signout", "scope=all"); r.Status != 303 || r.Header.Get("Location") != "/auth/signedout" {
		t.Fatalf("all: %d", r.Status)
	}
	if r := a.do("GET", "/auth/account", ""); r.Status != 303 {
		t.Fatalf("account after signing out everywhere: %d", r.Status)
	}
}

// TestPortal_SecureCookies: behind a trusted TLS proxy the cookie is
// Secure and __Host- (no domain) or __Secure- (a cookie domain); the
// bare name is not read over https, so a cookie tossed over http from a
// sibling host cannot stand in for it.
func TestPortal_SecureCookies(t *testing.T) {
	e := newTestEnv(t, portalOpt)
	e.createUser("sam", "sam-password-123", nil)
	for host, want := range map[string]string{"portal.example.com": "__Secure-sessiond=", "other.test": "__Host-sessiond="} {
		b := newBrowser(t, e, "X-Forwarded-Proto: https", "X-Forwarded-Host: "+host)
		r := b.signIn("sam", "sam-password-123", "")
		sc := r.Header.Get("Set-Cookie")
		if r.Status != 303 || !strings.HasPrefix(sc, want) || !strings.Contains(sc, "Secure") {
			t.Fatalf("%s: %d %s", host, r.Status, sc)
		}
		if domain := strings.Contains(sc, "Domain=example.com"); domain != (host == "portal.example.com") {
			t.Fatalf("%s: domain attribute %s", host, sc)
		}
		tok := cookieToken(r)
		if st := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+tok, "X-Forwarded-Proto: https"); st.Status != 401 {
			t.Fatalf("bare cookie name over https: %d", st.Status)
		}
		if st := e.authzDo("GET", "/v1/authz", "Cookie: "+strings.TrimSuffix(want, "=")+"="+tok, "X-Forwarded-Proto: https"); st.Status != 200 {
			t.Fatalf("prefixed cookie: %d", st.Status)
		}
	}
}

// TestPortal_CrossSiteRefused: a form posted from another site (login
// CSRF, sign-out CSRF) is refused and changes nothing.
func TestPortal_CrossSiteRefused(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("cat", "cat-password-123", nil)
	b := newBrowser(t, e)
	for _, path := range []string{"/auth/signin", "/auth/signout", "/auth/account/signout", "/auth/account/password"} {
		r := b.do("POST", path, "login=cat&password=cat-password-123", "Sec-Fetch-Site: cross-site")
		if r.Status != 403 || cookieToken(r) != "" {
			t.Fatalf("%s cross-site: %d", path, r.Status)
		}
		r = b.do("POST", path, "login=cat&password=cat-password-123", "Origin: https://evil.test")
		if r.Status != 403 {
			t.Fatalf("%s from another origin: %d", path, r.Status)
		}
	}
}

// TestPortal_BadInput: every portal route answers bad input (empty,
// huge, wrong content type, repeated or wrongly typed fields, bad ids)
// with an HTML error page and a 4xx, and nothing changes.
func TestPortal_BadInput(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("bea", "bea-password-123", nil)
	signed := newBrowser(t, e)
	if r := signed.signIn("bea", "bea-password-123", ""); r.Status != 303 {
		t.Fatal(r.Status)
	}
	anon := newBrowser(t, e)
	huge := "login=" + strings.Repeat("x", 20<<10)
	cases := []struct {
		b            *browser
		method, path string
		body, ctype  string
		want         int
	}{
		{anon, "GET", "/auth/?rd=a&rd=b", "", "", 400},
		{anon, "GET", "/auth/?rd=" + strings.Repeat("a", 3000), "", "", 400},
		{anon, "GET", "/auth/signout?rd=a&rd=b", "", "", 400},
		{signed, "GET", "/auth/account?done=a&done=b", "", "", 400},
		{anon, "POST", "/auth/signin", "", "", 400},
		{anon, "POST", "/auth/signin", "login=bea", "", 400},
		{anon, "POST", "/auth/signin", "login=bea&login=bea&password=bea-password-123", "", 400},
		{anon, "POST", "/auth/signin", "login=bea&password=bea-password-123&remember_me=maybe", "", 400},
		{anon, "POST", "/auth/signin", `{"login":"bea","password":"bea-password-123"}`, "application/json", 415},
		{anon, "POST", "/auth/signin", "login=bea&password=bea-password-123", "multipart/form-data; boundary=x", 415},
		{anon, "POST", "/auth/signin", huge, "", 413},
		{anon, "POST", "/auth/signin", "login=%zz", "", 400},
		{anon, "POST", "/auth/signin", "login=bea%00&password=bea-password-123", "", 401},
		{anon, "POST", "/auth/signout", "rd=a&rd=b", "", 400},
		{anon, "POST", "/auth/account/signout", "scope=all", "", 401},
		{anon, "POST", "/auth/account/password", "current=a&new=b&confirm=b", "", 401},
		{signed, "POST", "/auth/account/signout", "", "", 400},
		{signed, "POST", "/auth/account/signout", "scope=everything", "", 400},
		{signed, "POST", "/auth/account/signout", "scope=session&id=xyz", "", 400},
		{signed, "POST", "/auth/account/signout", "scope=session&id=" + strings.Repeat("0", 32), "", 404},
		{signed, "POST", "/auth/account/signout", "scope=others&scope=all", "", 400},
		{signed, "POST", "/auth/account/signout", huge, "", 413},
		{signed, "POST", "/auth/account/password", "", "", 400},
		{signed, "POST", "/auth/account/password", "current=bea-password-123&new=short&confirm=short", "", 400},
		{signed, "POST", "/auth/account/password", "current=bea-password-123", "text/plain", 415},
	}
	for _, c := range cases {
		var headers []string
		if c.ctype != "" {
			headers = append(headers, "Content-Type: "+c.ctype)
		}
		r := c.b.do(c.method, c.path, c.body, headers...)
		label := c.method + " " + c.path[:min(len(c.path), 60)] + " " + c.body[:min(len(c.body), 60)]
		if r.Status != c.want {
			t.Errorf("%s: %d, want %d: %s", label, r.Status, c.want, r.Body[:min(len(r.Body), 300)])
			continue
		}
		if ct := r.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: not an HTML error page: %q", label, ct)
		}
		if cookieToken(r) != "" {
			t.Errorf("%s: set a session cookie", label)
		}
	}
	// Nothing changed: the signed-in browser still is, with one session.
	acct := signed.do("GET", "/auth/account", "")
	if acct.Status != 200 || strings.Count(string(acct.Body), `<tr id="s-`) != 1 {
		t.Fatalf("after the bad input: %d %s", acct.Status, acct.Body)
	}
}

// TestRedirectTable: the rd values of Authelia's redirection scenario
// and the bypass strings of published open-redirect advisories of
// forward-auth proxies (oauth2-proxy CVE-2020-5233 / GHSA-qqxw-m5fj-f7gv,
// GHSA-j7px-6hwj-hpjg whitespace between slashes, go-oauth2 #298 suffix
// matching), through sign-in and sign-out. The portal is reached as
// https://portal.example.com through a trusted proxy; example.com is a
// cookie domain; --authz-redirect-hosts is app.other.org:8443 and
// plain.other.org. A refused rd lands on the default (sign-in) or the
// signed-out page (sign-out).
func TestRedirectTable(t *testing.T) {
	e := newTestEnv(t, portalOpt)
	e.createUser("rita", "rita-password-123", nil)
	follow := map[string]string{
		"https://portal.example.com/app/page?x=1": "https://portal.example.com/app/page?x=1",
		"/app/page?x=1#frag":                      "https://portal.example.com/app/page?x=1#frag",
		"https://app.example.com/":                "https://app.example.com/",
		"https://deep.sub.example.com/x":          "https://deep.sub.example.com/x",
		"https://example.com/":                    "https://example.com/",
		"https://app.other.org:8443/x":            "https://app.other.org:8443/x",
		"https://plain.other.org/x":               "https://plain.other.org/x",
		"https://plain.other.org:9000/x":          "https://plain.other.org:9000/x",
		"https://portal.example.com/auth/account": "https://portal.example.com/auth/account",
		"/app/%2Fetc?next=%2Fhome%25":             "https://portal.example.com/app/%2Fetc?next=%2Fhome%25",
		"/caf%C3%A9?q=%E2%82%AC":                  "https://portal.example.com/caf%C3%A9?q=%E2%82%AC",
	}
	refuse := []string{
		"https://evil.com/", "http://evil.com/", "//evil.com", "///evil.com", "////evil.com/", `/\evil.com`, `\\evil.com`,
		`/\/evil.com`, "/\t/evil.com", "/ /evil.com", "/%09/evil.com", "/%2f%2fevil.com", "/%2F/evil.com", "/%5cevil.com",
		"%2F%2Fevil.com", "evil.com", "https:evil.com", "https:/evil.com", "https:///evil.com", "javascript:alert(1)",
		"JavaScript://example.com/%0aalert(1)", "data:text/html,<script>alert(1)</script>", "https://evilexample.com/",
		"https://example.com.evil.com/", "https://app.example.com@evil.com/", `https://evil.com\@app.example.com/`,
		"https://evil.com#@app.example.com", "https://evil.com?@app.example.com", "https://evil.com%23@app.example.com",
		"https://app.example.com%2eevil.com/", "https://app.example.com:443@evil.com/", "https://example.com:443@evil.com",
		"http://app.example.com/", "http://portal.example.com/x", "https://app.other.org/", "https://app.other.org:9443/",
		"https://portal.example.com/auth/", "https://portal.example.com/auth/?rd=https://evil.com", "/auth/",
		"/auth/signin", "https://app.example.com/auth/account?rd=https%3A%2F%2Fevil.com", "https://[::1]/",
		"https://127.0.0.1/", "https://app.example.com:abc/", "https://app.example.com./", "https://app.example.com..evil.com/",
		"https://ａpp.example.com/", "https://app.example.com\u3002evil.com/", "\x00https://app.example.com/",
		" https://app.example.com/", "https://app.example.com\t.evil.com/", "https://evil.com/https://app.example.com",
		"https://app.example.com%00/", "/x%7f", "/x%0d%0aSet-Cookie:a=b", "ftp://app.example.com/", "https://" + strings.Repeat("a", 2050) + ".example.com/",
	}
	proxy := []string{"X-Forwarded-Proto: https", "X-Forwarded-Host: portal.example.com"}
	check := func(name, rd, want, wantDefault string, send func(b *browser) resp) {
		t.Helper()
		r := send(newBrowser(t, e, proxy...))
		got := r.Header.Get("Location")
		if want == "" {
			want = wantDefault
		}
		if r.Status != http.StatusSeeOther || got != want {
			t.Errorf("%s rd=%q: %d Location %q, want %q", name, rd, r.Status, got, want)
		}
	}
	for _, rd := range append(refuse, keys(follow)...) {
		check("sign-in", rd, follow[rd], "https://app.example.com/home", func(b *browser) resp { return b.signIn("rita", "rita-password-123", rd) })
		check("sign-out", rd, follow[rd], "/auth/signedout", func(b *browser) resp {
			return b.do("POST", "/auth/signout", url.Values{"rd": {rd}}.Encode())
		})
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPortal_LastSeenCostsNoWritePerRequest: using a portal session (20
// forward-auth checks) moves its last-seen through the existing idle
// refresh, at most once per RefreshEvery, never a write per request.
func TestPortal_LastSeenCostsNoWritePerRequest(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("lee", "lee-password-123", nil)
	r := newBrowser(t, e).signIn("lee", "lee-password-123", "")
	tok := cookieToken(r)
	before := e.node.FSM().AppliedIndex()
	for i := 0; i < 20; i++ {
		if st := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+tok); st.Status != 200 {
			t.Fatalf("check %d: %d", i, st.Status)
		}
	}
	if after := e.node.FSM().AppliedIndex(); after > before+1 {
		t.Fatalf("20 uses took %d log entries", after-before)
	}
}

// TestPortal_NoNestedRedirect: forward auth never wraps the portal (or
// the login page) in another rd, so a portal mistakenly put behind
// forward auth cannot loop; an external login URL gets rd only for a
// listed host, with host:port matching that port only.
func TestPortal_NoNestedRedirect(t *testing.T) {
	e := newTestEnv(t, portalOpt)
	proxy := []string{"Accept: text/html", "X-Forwarded-Proto: https", "X-Forwarded-Host: app.example.com"}
	st := e.authzDo("GET", "/v1/authz", append(proxy, "X-Forwarded-Uri: /auth/?rd=https%3A%2F%2Fapp.example.com%2F")...)
	if st.Status != http.StatusFound || st.Header.Get("Location") != "https://app.example.com/auth/" {
		t.Fatalf("the portal behind forward auth: %d %q", st.Status, st.Header.Get("Location"))
	}
	st = e.authzDo("GET", "/v1/authz", append(proxy, "X-Forwarded-Uri: /x")...)
	if want := "https://app.example.com/auth/?rd=" + url.QueryEscape("https://app.example.com/x"); st.Header.Get("Location") != want {
		t.Fatalf("Location %q, want %q", st.Header.Get("Location"), want)
	}
	ext := newTestEnv(t, portalOpt, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.AuthzLoginURL = "https://plain.other.org/signin"
	})
	for host, withRD := range map[string]bool{"app.other.org:8443": true, "app.other.org:9443": false, "app.other.org": false, "plain.other.org:9000": true} {
		st := ext.authzDo("GET", "/v1/authz", "Accept: text/html", "X-Forwarded-Proto: https", "X-Forwarded-Host: "+host, "X-Forwarded-Uri: /p")
		loc := st.Header.Get("Location")
		if got := strings.Contains(loc, "?rd="); got != withRD || !strings.HasPrefix(loc, "https://plain.other.org/signin") {
			t.Errorf("host %s: Location %q", host, loc)
		}
	}
	st = ext.authzDo("GET", "/v1/authz", "Accept: text/html", "X-Forwarded-Proto: https", "X-Forwarded-Host: plain.other.org", "X-Forwarded-Uri: /signin?rd=x")
	if loc := st.Header.Get("Location"); loc != "https://plain.other.org/signin" {
		t.Errorf("the login page behind forward auth: %q", loc)
	}
}
