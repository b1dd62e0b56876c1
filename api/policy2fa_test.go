package api

import (
	"bytes"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// twoFactorAdmin enrols the test's operator in TOTP and replaces e.admin
// with a two-factor session, which the policy does not limit (an
// operator turning require_2fa_admins on enrols first).
func (e *testEnv) twoFactorAdmin(now *atomic.Int64) {
	e.t.Helper()
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	secret, _ := e.enrolTOTP(e.admin, clock())
	now.Add(int64(30 * time.Second))
	r := e.do("POST", "/v1/login", map[string]string{"login": "admin", "password": testAdminPassword, "otp": totpCode(e.t, secret, clock())})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("operator's two-factor login: %d %s", r.Status, r.Body)
	}
	e.admin = r.json(e.t)["token"].(string)
}

// TestPolicy_CoveredUsersEverywhere is the attack of issue 26's review:
// with require_2fa_admins, an admin without a second factor got a full
// /v1 session and every seed dialect's session with the password alone
// (only forward auth asked for more). Now:
//   - /v1 signs it in to enrol: the answer says second_factor_setup_required
//     and the session reaches only its own account routes (whoami, its
//     sessions, its second factors), not the admin API or app passwords;
//     the portal signs it in to its account page but makes no app password;
//   - the seed dialects refuse its password and its app passwords, in
//     their own bad-credentials shape (the same answer as a wrong
//     password), unless the operator allows dialect passwords;
//   - once it has a second factor, /v1 needs the code, the dialects take
//     only app passwords, and a two-factor session reaches everything,
//     while the password-only session it enrolled with stays limited.
func TestPolicy_CoveredUsersEverywhere(t *testing.T) {
	e, now := stepUpEnv(t)
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.twoFactorAdmin(now)
	e.createUser("ada", "ada-password-123", map[string]any{"admin": true})
	e.createUser("ned", "ned-password-123", nil)
	r := e.do("POST", "/v1/me/app-passwords", map[string]string{"name": "old knox client"}, bearerH(e.login("ada", "ada-password-123")))
	if r.Status != http.StatusCreated {
		t.Fatalf("app password before the policy: %d %s", r.Status, r.Body)
	}
	adaAP := r.json(t)["password"].(string)
	e.patchSettings(map[string]any{"require_2fa_admins": true})

	// /v1: signed in to enrol, and limited to that.
	r = e.do("POST", "/v1/login", map[string]string{"login": "ada", "password": "ada-password-123"})
	if r.Status != http.StatusCreated || r.json(t)["second_factor_setup_required"] != true {
		t.Fatalf("covered admin without a second factor on /v1: %d %s", r.Status, r.Body)
	}
	limited := r.json(t)["token"].(string)
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/session", 200}, {"GET", "/v1/sessions", 200}, {"GET", "/v1/me/second-factor", 200},
		{"GET", "/v1/users", 403}, {"GET", "/v1/me/app-passwords", 403}, {"POST", "/v1/introspect", 403},
	} {
		r := e.do(c.method, c.path, nil, bearerH(limited))
		if r.Status != c.want || (c.want == 403 && errCode(t, r) != "second_factor_setup_required") {
			t.Errorf("limited session, %s %s: %d %s, want %d", c.method, c.path, r.Status, r.Body, c.want)
		}
	}
	// The portal: signed in, the account page shows, no app password.
	b := newBrowser(t, e)
	if r := b.signIn("ada", "ada-password-123", ""); r.Status != http.StatusSeeOther {
		t.Fatalf("portal sign-in: %d %s", r.Status, r.Body)
	}
	if r := b.do("GET", "/auth/account", ""); r.Status != 200 {
		t.Errorf("account page: %d", r.Status)
	}
	if r := b.do("POST", "/auth/account/app-passwords", "name=phished"); r.Status != http.StatusForbidden {
		t.Errorf("an app password from the portal's limited session: %d", r.Status)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "ned", "password": "ned-password-123"}); r.json(t)["second_factor_setup_required"] != nil {
		t.Errorf("a user the policy does not cover was told to set up a second factor: %s", r.Body)
	}

	// The seed dialects: refused as a wrong password is, password or app password.
	refusedLikeWrongPassword := func(what, d, password string) {
		t.Helper()
		got := e.loginFrom(d, "198.51.100.20", "ada", password)
		wrong := e.loginFrom(d, "198.51.100.20", "ada", "wrong-password-1")
		if got.Status == okStatus[d] || got.Status != wrong.Status || !bytes.Equal(got.Body, wrong.Body) {
			t.Errorf("%s via %s: %d %s; a wrong password: %d %s", what, d, got.Status, got.Body, wrong.Status, wrong.Body)
		}
	}
	for _, d := range []string{"odoo", "knox", "jwt"} {
		refusedLikeWrongPassword("covered admin's password", d, "ada-password-123")
		if r := e.loginFrom(d, "198.51.100.20", "ned", "ned-password-123"); r.Status != okStatus[d] {
			t.Errorf("uncovered user via %s: %d %s", d, r.Status, r.Body)
		}
	}
	for _, d := range []string{"odoo", "knox"} {
		refusedLikeWrongPassword("covered admin's app password without a second factor", d, adaAP)
	}
	e.patchSettings(map[string]any{"dialect_password_with_2fa": true})
	if r := e.loginFrom("knox", "198.51.100.20", "ada", "ada-password-123"); r.Status != okStatus["knox"] {
		t.Errorf("knox with the operator's allowance: %d %s", r.Status, r.Body)
	}
	e.patchSettings(map[string]any{"dialect_password_with_2fa": false})

	// Enrolling works from the limited session; it stays limited.
	secret, _ := e.enrolTOTP(limited, clock())
	if r := e.do("GET", "/v1/users", nil, bearerH(limited)); r.Status != 403 {
		t.Errorf("the password-only session after enrolling: %d", r.Status)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "ada", "password": "ada-password-123"}); errCode(t, r) != "second_factor_required" {
		t.Errorf("covered admin with TOTP, password alone on /v1: %d %s", r.Status, r.Body)
	}
	now.Add(int64(30 * time.Second))
	r = e.do("POST", "/v1/login", map[string]string{"login": "ada", "password": "ada-password-123", "otp": totpCode(t, secret, clock())})
	if r.Status != http.StatusCreated || r.json(t)["second_factor_setup_required"] != nil {
		t.Fatalf("two-factor login: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/users", nil, bearerH(r.json(t)["token"].(string))); r.Status != 200 {
		t.Errorf("two-factor session on the admin API: %d %s", r.Status, r.Body)
	}
	for _, d := range []string{"odoo", "knox", "jwt"} {
		refusedLikeWrongPassword("covered admin with TOTP, password alone", d, "ada-password-123")
	}
	if r := e.loginFrom("knox", "198.51.100.20", "ada", adaAP); r.Status != okStatus["knox"] {
		t.Errorf("covered admin with TOTP, app password: %d %s", r.Status, r.Body)
	}
}
