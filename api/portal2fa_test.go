package api

import (
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// stepUpEnv is a portal behind a trusted proxy, with a fake clock and
// forward-auth rules that ask for two factors and a recent sign-in.
func stepUpEnv(t *testing.T) (*testEnv, *atomic.Int64) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	rules, err := ParseAuthzRules([]byte(`{"rules":[{"prefix":"/secure","two_factor":true},{"prefix":"/fresh","max_age":"5m"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, func(_ *cluster.Config, a *auth.ServiceConfig, c *Config) {
		withPortal(c)
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.AuthzRules = rules
		a.Now = func() time.Time { return time.Unix(0, now.Load()) }
		a.Limiter.Burst = 1000
	})
	return e, &now
}

var keyInPage = regexp.MustCompile(`<code id="totp-key">([A-Z2-7]+)</code>`)

// TestPortal_SecondStepAndStepUp walks the portal with TOTP: the account
// page enrols an app (QR image and key; the code the test computes turns
// it on and shows ten recovery codes), a sign-in then asks for the code
// on its own page (a wrong code leaves the step usable, a right one
// finishes it and lands on rd; the step's cookie replayed is refused),
// forward auth passes a two_factor rule only for the two-factor session,
// a max_age rule sends a stale session back to the portal with reauth=1
// and rd, and the re-prompted sign-in returns to rd.
func TestPortal_SecondStepAndStepUp(t *testing.T) {
	e, now := stepUpEnv(t)
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.createUser("tess", "tess-password-12", nil)
	b := newBrowser(t, e)
	if r := b.signIn("tess", "tess-password-12", ""); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	pwOnly := b.cookie()
	if r := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+pwOnly, "X-Forwarded-Uri: /secure/x"); r.Status != 403 {
		t.Fatalf("two_factor rule for an account without one: %d %s", r.Status, r.Body)
	}

	// Enrol from the account page.
	r := b.do("POST", "/auth/account/totp", "")
	m := keyInPage.FindSubmatch(r.Body)
	if r.Status != 200 || m == nil || !strings.Contains(string(r.Body), `src="/auth/account/totp.png"`) {
		t.Fatalf("enrolment page: %d %s", r.Status, r.Body)
	}
	secret := string(m[1])
	if img := b.do("GET", "/auth/account/totp.png", ""); img.Status != 200 || img.Header.Get("Content-Type") != "image/png" || len(img.Body) < 100 {
		t.Fatalf("QR image: %d %v", img.Status, img.Header)
	}
	r = b.do("POST", "/auth/account/totp/confirm", url.Values{"code": {totpCode(t, secret, clock())}}.Encode())
	if r.Status != 200 || strings.Count(string(r.Body), "<li><code>") != 10 || !strings.Contains(string(r.Body), `id="recovery-left">10<`) {
		t.Fatalf("confirmation: %d %s", r.Status, r.Body)
	}

	// Sign in again: password, then the code page.
	now.Add(int64(30 * time.Second))
	c := newBrowser(t, e)
	rd := "https://app.example.com/secure/page"
	r = c.signIn("tess", "tess-password-12", rd)
	if r.Status != 200 || !strings.Contains(string(r.Body), `name="otp"`) || cookieToken(r) != "" {
		t.Fatalf("after the password: %d %s", r.Status, r.Body)
	}
	step := c.stepCookie()
	if r := c.do("POST", "/auth/signin/second", url.Values{"otp": {wrongCode(totpCode(t, secret, clock()))}}.Encode()); r.Status != 401 || !strings.Contains(string(r.Body), "wrong") {
		t.Fatalf("wrong code: %d %s", r.Status, r.Body)
	}
	r = c.do("POST", "/auth/signin/second", url.Values{"otp": {totpCode(t, secret, clock())}}.Encode())
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != rd {
		t.Fatalf("right code: %d %v %s", r.Status, r.Header, r.Body)
	}
	mfa := cookieToken(r)
	// The finished step cannot be finished again (with a fresh code).
	now.Add(int64(30 * time.Second))
	replay := newBrowser(t, e, "Cookie: sessiond_2fa="+step)
	if r := replay.do("POST", "/auth/signin/second", url.Values{"otp": {totpCode(t, secret, clock())}}.Encode()); r.Status != 401 || cookieToken(r) != "" {
		t.Fatalf("replayed step: %d %s", r.Status, r.Body)
	}
	if r := e.authzDo("GET", "/v1/authz", "Cookie: sessiond="+mfa, "X-Forwarded-Uri: /secure/x"); r.Status != 200 {
		t.Fatalf("two_factor rule, two-factor session: %d %s", r.Status, r.Body)
	}

	// max_age: fresh passes; after six minutes a browser goes back to
	// the portal (reauth, rd) and an API client gets step_up_required.
	fwd := []string{"Cookie: sessiond=" + mfa, "X-Forwarded-Proto: http", "X-Forwarded-Host: app.example.com", "X-Forwarded-Uri: /fresh/doc"}
	if r := e.authzDo("GET", "/v1/authz", fwd...); r.Status != 200 {
		t.Fatalf("fresh sign-in: %d", r.Status)
	}
	now.Add(int64(6 * time.Minute))
	r = e.authzDo("GET", "/v1/authz", append(fwd, "Accept: text/html")...)
	loc := r.Header.Get("Location")
	if r.Status != http.StatusFound || !strings.Contains(loc, "reauth=1") || !strings.Contains(loc, url.QueryEscape("http://app.example.com/fresh/doc")) {
		t.Fatalf("stale sign-in, browser: %d %q", r.Status, loc)
	}
	if r := e.authzDo("GET", "/v1/authz", fwd...); r.Status != 401 || errCode(t, r) != "step_up_required" {
		t.Fatalf("stale sign-in, API: %d %s", r.Status, r.Body)
	}
	// The portal shows the form even though the browser is signed in.
	u, _ := url.Parse(loc)
	page := c.do("GET", "/auth/?"+u.RawQuery, "")
	if page.Status != 200 || !strings.Contains(string(page.Body), `name="password"`) {
		t.Fatalf("re-prompt: %d %s", page.Status, page.Body)
	}
	back := u.Query().Get("rd")
	if r := c.signIn("tess", "tess-password-12", back); r.Status != 200 {
		t.Fatalf("re-prompted password: %d %s", r.Status, r.Body)
	}
	now.Add(int64(30 * time.Second))
	r = c.do("POST", "/auth/signin/second", url.Values{"otp": {totpCode(t, secret, clock())}}.Encode())
	if r.Status != http.StatusSeeOther || r.Header.Get("Location") != back {
		t.Fatalf("re-prompted code: %d %v", r.Status, r.Header)
	}
	fwd[0] = "Cookie: sessiond=" + cookieToken(r)
	if r := e.authzDo("GET", "/v1/authz", fwd...); r.Status != 200 {
		t.Fatalf("after the re-prompt: %d", r.Status)
	}
}

// cookie is the browser's portal session token.
func (b *browser) cookie() string { return b.cookieNamed("sessiond") }

// stepCookie is the pending sign-in's secret.
func (b *browser) stepCookie() string { return b.cookieNamed(secondStepCookie) }

func (b *browser) cookieNamed(name string) string {
	for _, path := range []string{"/", "/auth/"} {
		u, _ := url.Parse(b.e.URL + path)
		for _, c := range b.c.Jar.Cookies(u) {
			if c.Name == name {
				return c.Value
			}
		}
	}
	return ""
}

// TestAuthz_SecondFactorPolicy: with require_2fa_admins, forward auth
// refuses an admin without a second factor on every path (403: set one
// up), sends a password-only session of an admin with TOTP to sign in
// again, and admits its two-factor session; other users are unaffected
// until their db is covered by require_2fa_dbs.
func TestAuthz_SecondFactorPolicy(t *testing.T) {
	e, now := stepUpEnv(t)
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.twoFactorAdmin(now) // the policy limits the operator's password-only session too
	e.createUser("ada", "ada-password-123", map[string]any{"admin": true})
	e.createUser("ned", "ned-password-123", nil)
	ada, ned := e.login("ada", "ada-password-123"), e.login("ned", "ned-password-123")
	e.patchSettings(map[string]any{"require_2fa_admins": true})
	authz := func(tok string) int {
		return e.authzDo("GET", "/v1/authz", bearerH(tok), "X-Forwarded-Uri: /anything").Status
	}
	if st := authz(ada); st != 403 {
		t.Fatalf("admin without a second factor: %d", st)
	}
	if st := authz(ned); st != 200 {
		t.Fatalf("a user the policy does not cover: %d", st)
	}
	secret, _ := e.enrolTOTP(ada, clock())
	if st := authz(ada); st != 401 {
		t.Fatalf("admin's password-only session after enrolling: %d", st)
	}
	now.Add(int64(30 * time.Second))
	r := e.do("POST", "/v1/login", map[string]string{"login": "ada", "password": "ada-password-123", "otp": totpCode(t, secret, clock())})
	if st := authz(r.json(t)["token"].(string)); st != 200 {
		t.Fatalf("admin's two-factor session: %d", st)
	}
	e.patchSettings(map[string]any{"require_2fa_dbs": []string{"sessiond"}})
	if st := authz(ned); st != 403 {
		t.Fatalf("a user of a covered db without a second factor: %d", st)
	}
}
