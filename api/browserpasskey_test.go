package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/internal/browsertest"
)

// TestBrowser_Passkey drives chromium with the DevTools virtual
// authenticator (ctap2, internal, resident keys, user verification)
// through a round-robin proxy in front of three nodes, at
// http://localhost (a secure context; the relying party is "localhost"):
// passkey.js registers a key on the account page, its begin and finish
// served by different nodes; the browser signs out, then signs in with
// the passkey and no password, again begun on one node and finished on
// another, and lands on its account page.
func TestBrowser_Passkey(t *testing.T) {
	if testing.Short() {
		t.Skip("starts chromium; skipped under -short")
	}
	chromium := browsertest.Chromium(t)
	start := time.Now()
	opt := func(_ *cluster.Config, a *auth.ServiceConfig, c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		a.Limiter.Burst = 1000
	}
	n1 := newTestEnv(t, opt)
	nodes := []*testEnv{n1, joinTestEnv(t, n1, "t2", opt), joinTestEnv(t, n1, "t3", opt)}
	n1.createUser("rosa", "rosa-password-1", nil)

	// The proxy: /auth/ round robin over the nodes, the browser's Host
	// passed on as X-Forwarded-Host; which node served each ceremony call.
	var next atomic.Int64
	var mu sync.Mutex
	servedBy := map[string][]int{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(next.Add(1)) % len(nodes)
		if strings.Contains(r.URL.Path, "passkey") && r.Method == "POST" {
			mu.Lock()
			servedBy[r.URL.Path] = append(servedBy[r.URL.Path], i)
			mu.Unlock()
		}
		u, _ := url.Parse(nodes[i].URL)
		r.Header.Set("X-Forwarded-Host", r.Host)
		r.Header.Set("X-Forwarded-Proto", "http")
		httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	base := strings.Replace(front.URL, "127.0.0.1", "localhost", 1)

	a := browsertest.Browser(t, chromium, 2*time.Minute)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(a, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	if _, err := chromedp.Call(a, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(a, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}}); err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	errorText := func() string {
		v, _ := chromedp.Run(a, chromedp.Evaluate[string](`(document.getElementById("passkey-error") || {}).textContent || ""`))
		return v
	}
	differ := func(path string) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		b, f := servedBy[path+"begin"], servedBy[path+"finish"]
		if len(b) == 0 || len(f) == 0 || b[len(b)-1] == f[len(f)-1] {
			t.Errorf("%sbegin served by %v, finish by %v: want different nodes", path, b, f)
		}
	}

	// Sign in with the password, add a passkey on the account page.
	run("account", chromedp.Navigate(base+"/auth/account"), chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("login"), "rosa"), chromedp.SendKeys(chromedp.ID("password"), "rosa-password-1"),
		chromedp.Click(chromedp.ID("signin")), chromedp.WaitVisible(chromedp.ID("passkey-register")))
	run("register", chromedp.SendKeys(chromedp.ID("passkey-name"), "virtual key"), chromedp.Click(chromedp.ID("passkey-register")))
	waitFor := func(what, sel string) { // the page the script goes on to, or its error
		t.Helper()
		wctx, wcancel := context.WithTimeout(a, 20*time.Second)
		defer wcancel()
		if err := chromedp.Do(wctx, chromedp.WaitVisible(chromedp.CSS(sel))); err != nil {
			t.Fatalf("%s: %v; the page says %q", what, err, errorText())
		}
	}
	waitFor("registering", "#passkeys tbody tr")
	differ("/auth/account/passkeys/")

	// Sign out, then sign in with the passkey alone.
	run("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitNotPresent(chromedp.ID("signout")))
	run("sign-in page", chromedp.Navigate(base+"/auth/?rd="+url.QueryEscape("/auth/account")), chromedp.WaitVisible(chromedp.ID("passkey-signin")),
		chromedp.Click(chromedp.ID("passkey-signin")))
	waitFor("passwordless sign-in", "#sessions")
	differ("/auth/passkey/")
	if n := len(n1.svc.Passkeys(2)); n != 1 {
		t.Errorf("%d passkeys stored, want 1", n)
	}
	t.Logf("browser walk: %s", time.Since(start).Round(time.Millisecond))
}
