package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/internal/browsertest"
)

// frontProxy is a forward-auth proxy in front of the nodes, as nginx's
// auth_request is: /auth/ goes to a node (round robin), anything else is
// checked with /v1/authz on a node (the browser's cookie, the original
// URL) and answered by the "app" when allowed, else redirected where
// authz says.
func frontProxy(t *testing.T, nodes []*testEnv) string {
	var next atomic.Int64
	pick := func() *testEnv { return nodes[int(next.Add(1))%len(nodes)] }
	var front *httptest.Server
	front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.TrimPrefix(front.URL, "http://")
		n := pick()
		if strings.HasPrefix(r.URL.Path, "/auth/") {
			u, _ := url.Parse(n.URL)
			rp := httputil.NewSingleHostReverseProxy(u)
			r.Header.Set("X-Forwarded-Host", host)
			r.Header.Set("X-Forwarded-Proto", "http")
			rp.ServeHTTP(w, r)
			return
		}
		req, _ := http.NewRequest("GET", n.URL+"/v1/authz", nil)
		req.Header.Set("Cookie", r.Header.Get("Cookie"))
		req.Header.Set("Accept", r.Header.Get("Accept"))
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", host)
		req.Header.Set("X-Forwarded-Uri", r.URL.RequestURI())
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		switch {
		case res.StatusCode == http.StatusOK:
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<!doctype html><title>app</title><p id=app>app page for "+res.Header.Get("Remote-User")+"</p>")
		case res.Header.Get("Location") != "":
			http.Redirect(w, r, res.Header.Get("Location"), http.StatusFound)
		default:
			http.Error(w, "refused", res.StatusCode)
		}
	}))
	t.Cleanup(front.Close)
	return front.URL
}

// TestBrowser_SecondFactorPortal drives chromium through a forward-auth
// proxy in front of three nodes sharing a fake clock: the account page
// enrols TOTP (the key read off the page, the code computed by the test),
// a second browser signs in with password then code on the portal's own
// page and lands on the rd it asked for, a two_factor path lets it
// through, and a max_age path, once the clock passes the age, sends it
// back to the portal, which re-prompts and returns it to rd.
func TestBrowser_SecondFactorPortal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium; skipped under -short")
	}
	chromium := browsertest.Chromium(t)
	start := time.Now()
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	rules, err := ParseAuthzRules([]byte(`{"rules":[{"prefix":"/app/secure","two_factor":true},{"prefix":"/app/fresh","max_age":"5m"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	opt := func(_ *cluster.Config, a *auth.ServiceConfig, c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.AuthzRules = rules
		a.Now = clock
		a.Limiter.Burst = 1000
	}
	n1 := newTestEnv(t, opt)
	nodes := []*testEnv{n1, joinTestEnv(t, n1, "t2", opt), joinTestEnv(t, n1, "t3", opt)}
	n1.createUser("quinn", "quinn-password-1", nil)
	base := frontProxy(t, nodes)

	a := browsertest.Browser(t, chromium, 2*time.Minute)
	run := func(ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		v, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return v
	}
	location := func(ctx context.Context) string {
		v, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	password := func(ctx context.Context) {
		run(ctx, "password", chromedp.WaitVisible(chromedp.ID("password")),
			chromedp.SendKeys(chromedp.ID("login"), "quinn"), chromedp.SendKeys(chromedp.ID("password"), "quinn-password-1"),
			chromedp.Click(chromedp.ID("signin")), chromedp.WaitNotPresent(chromedp.ID("signin")))
	}
	code := func(ctx context.Context, secret string) {
		now.Add(int64(30 * time.Second)) // a step not spent yet
		run(ctx, "code", chromedp.WaitVisible(chromedp.ID("otp")),
			chromedp.SendKeys(chromedp.ID("otp"), totpCode(t, secret, clock())),
			chromedp.Click(chromedp.ID("verify")), chromedp.WaitNotPresent(chromedp.ID("verify")))
	}

	// Enrol on the account page.
	run(a, "account", chromedp.Navigate(base+"/auth/account"))
	password(a)
	run(a, "begin", chromedp.WaitVisible(chromedp.ID("totp-begin")), chromedp.Click(chromedp.ID("totp-begin")),
		chromedp.WaitVisible(chromedp.ID("totp-key")))
	secret := strings.TrimSpace(text(a, "#totp-key"))
	// The QR code image loads (polled: an image loads after the page).
	qctx, qcancel := context.WithTimeout(a, 20*time.Second)
	_, err = chromedp.Run(qctx, chromedp.Poll[bool](`(() => { const i = document.getElementById("totp-qr"); return i.complete && i.naturalWidth > 0 })()`))
	qcancel()
	if err != nil {
		t.Fatalf("the QR code image did not load: %v", err)
	}
	run(a, "confirm", chromedp.SendKeys(chromedp.ID("totp-code"), totpCode(t, secret, clock())),
		chromedp.Click(chromedp.ID("totp-confirm")), chromedp.WaitVisible(chromedp.ID("recovery-codes")))
	if n, err := chromedp.Run(a, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`)); err != nil || n != 10 {
		t.Fatalf("%d recovery codes shown (%v)", n, err)
	}

	// Another browser: the app sends it to the portal; password, then code.
	b, cancelB := chromedp.NewContext(a, chromedp.WithNewBrowserContext())
	defer cancelB()
	if err := chromedp.Do(b); err != nil {
		t.Fatal(err)
	}
	secure := base + "/app/secure/page?x=1"
	run(b, "visit", chromedp.Navigate(secure))
	if at := location(b); !strings.HasPrefix(at, base+"/auth/") || !strings.Contains(at, url.QueryEscape(secure)) {
		t.Fatalf("the app sent the browser to %s", at)
	}
	password(b)
	code(b, secret)
	if app := text(b, "#app"); !strings.Contains(app, "quinn") { // waits for the app page
		t.Fatalf("after the code the app shows %q", app)
	}
	if at := location(b); at != secure {
		t.Fatalf("after the code: %s", at)
	}

	// max_age: through the age, then back to the portal and to rd.
	fresh := base + "/app/fresh/doc"
	run(b, "fresh", chromedp.Navigate(fresh), chromedp.WaitVisible(chromedp.ID("app")))
	now.Add(int64(6 * time.Minute))
	run(b, "stale", chromedp.Navigate(fresh), chromedp.WaitVisible(chromedp.ID("password")))
	if at := location(b); !strings.Contains(at, "reauth=1") {
		t.Fatalf("stale sign-in went to %s", at)
	}
	run(b, "password again", chromedp.Clear(chromedp.ID("login")))
	password(b)
	code(b, secret)
	run(b, "back at the app", chromedp.WaitVisible(chromedp.ID("app")))
	if at := location(b); at != fresh {
		t.Fatalf("after the re-prompt the browser is at %s, want %s", at, fresh)
	}
	t.Logf("browser walk: %s", time.Since(start).Round(time.Millisecond))
}
