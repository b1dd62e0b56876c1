package api

import (
	"encoding/base32"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpCode is what an authenticator app shows for secret at now: computed
// with pquerna/otp, independently of sessiond's own check.
func totpCode(t *testing.T, secret string, now time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, now, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP turns TOTP on for the user of tok and returns its secret and
// recovery codes.
func (e *testEnv) enrolTOTP(tok string, now time.Time) (string, []string) {
	e.t.Helper()
	r := e.do("POST", "/v1/me/totp", nil, bearerH(tok))
	if r.Status != http.StatusCreated {
		e.t.Fatalf("begin: %d %s", r.Status, r.Body)
	}
	m := r.json(e.t)
	secret := m["secret"].(string)
	if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret); err != nil || !strings.HasPrefix(m["otpauth_url"].(string), "otpauth://totp/sessiond:") {
		e.t.Fatalf("enrolment %v: %v", m, err)
	}
	r = e.do("POST", "/v1/me/totp/confirm", map[string]string{"code": totpCode(e.t, secret, now)}, bearerH(tok))
	if r.Status != http.StatusOK {
		e.t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	var codes []string
	for _, c := range r.json(e.t)["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}
	return secret, codes
}

func errCode(t *testing.T, r resp) string {
	t.Helper()
	m, _ := r.json(t)["error"].(map[string]any)
	c, _ := m["code"].(string)
	return c
}

// TestTOTP_LoginFlow is the /v1 life of a second factor: enrol (a wrong
// confirmation code refused), a login without a code answers
// second_factor_required, the confirmation's own code is spent, the next
// step's code logs in once (amr pwd otp mfa, shown by whoami and
// introspection), a recovery code works once, the seed dialects refuse
// the password alone in their own shape, bad codes get clear errors, and
// turning it off needs the password and a recent sign-in.
func TestTOTP_LoginFlow(t *testing.T) {
	e, now := guessEnv(t)
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.createUser("bob", "bob-password-123", nil)
	tok := e.login("bob", "bob-password-123")

	r := e.do("POST", "/v1/me/totp", nil, bearerH(tok))
	secret := r.json(t)["secret"].(string)
	if r := e.do("POST", "/v1/me/totp/confirm", map[string]string{"code": "000000"}, bearerH(tok)); errCode(t, r) != "bad_second_factor" && totpCode(t, secret, clock()) != "000000" {
		t.Fatalf("wrong confirmation: %d %s", r.Status, r.Body)
	}
	secret, codes := e.enrolTOTP(tok, clock())
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if m := e.do("GET", "/v1/me/second-factor", nil, bearerH(tok)).json(t); m["totp"] != true || m["recovery_codes_left"] != 10.0 {
		t.Fatalf("status %v", m)
	}

	login := func(extra map[string]string) resp {
		body := map[string]string{"login": "bob", "password": "bob-password-123"}
		for k, v := range extra {
			body[k] = v
		}
		return e.do("POST", "/v1/login", body, from("198.51.100.5"))
	}
	if r := login(nil); r.Status != 401 || errCode(t, r) != "second_factor_required" {
		t.Fatalf("no code: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "bob", "password": "wrong-password", "otp": "123456"}); errCode(t, r) != "bad_credentials" {
		t.Fatalf("wrong password with a code: %d %s", r.Status, r.Body)
	}
	if r := login(map[string]string{"otp": totpCode(t, secret, clock())}); r.Status != 401 || errCode(t, r) != "bad_second_factor" {
		t.Fatalf("the confirmation's code again: %d %s", r.Status, r.Body)
	}
	now.Add(int64(30 * time.Second))
	code := totpCode(t, secret, clock())
	r = login(map[string]string{"otp": code})
	if r.Status != http.StatusCreated {
		t.Fatalf("login with code: %d %s", r.Status, r.Body)
	}
	tok2 := r.json(t)["token"].(string)
	amr := e.do("GET", "/v1/session", nil, bearerH(tok2)).json(t)["session"].(map[string]any)["amr"]
	if got := strings.Join(toStrings(amr), " "); got != "pwd otp mfa" {
		t.Fatalf("whoami amr %q", got)
	}
	if r := login(map[string]string{"otp": code}); errCode(t, r) != "bad_second_factor" {
		t.Fatalf("replayed code: %d %s", r.Status, r.Body)
	}
	if r := login(map[string]string{"recovery_code": codes[3]}); r.Status != http.StatusCreated {
		t.Fatalf("recovery code: %d %s", r.Status, r.Body)
	}
	if r := login(map[string]string{"recovery_code": strings.ToUpper(codes[3])}); errCode(t, r) != "bad_second_factor" {
		t.Fatalf("recovery code twice: %d %s", r.Status, r.Body)
	}
	for _, bad := range []string{"12345", "1234567", "12a456", "１２３４５６", strings.Repeat("9", 5000)} {
		if r := login(map[string]string{"otp": bad}); r.Status != 400 || errCode(t, r) != "invalid_otp" {
			t.Errorf("otp %.20q: %d %s", bad, r.Status, r.Body)
		}
	}
	if r := login(map[string]string{"otp": strings.Repeat("1", 2<<20)}); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("huge body: %d", r.Status)
	}
	// The seed dialects have no field for a code: the password alone is
	// refused in each dialect's own bad-credentials shape.
	for _, d := range []string{"odoo", "knox", "jwt"} {
		r := e.loginFrom(d, "198.51.100.5", "bob", "bob-password-123")
		if r.Status == okStatus[d] {
			t.Errorf("%s: the password alone logged in: %d %s", d, r.Status, r.Body)
		}
	}

	// Turning it off: a sign-in older than the step-up age is refused,
	// then a fresh one with the wrong password, then the right one.
	now.Add(int64(11 * time.Minute))
	if r := e.do("DELETE", "/v1/me/totp", map[string]string{"password": "bob-password-123"}, bearerH(tok2)); errCode(t, r) != "step_up_required" {
		t.Fatalf("old sign-in: %d %s", r.Status, r.Body)
	}
	r = login(map[string]string{"otp": totpCode(t, secret, clock())})
	tok3 := r.json(t)["token"].(string)
	if r := e.do("DELETE", "/v1/me/totp", map[string]string{"password": "nope-nope-nope"}, bearerH(tok3)); r.Status != 401 {
		t.Fatalf("wrong password: %d %s", r.Status, r.Body)
	}
	if r := e.do("DELETE", "/v1/me/totp", map[string]string{"password": "bob-password-123"}, bearerH(tok3)); r.Status != 204 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	if r := login(nil); r.Status != http.StatusCreated {
		t.Fatalf("login after disable: %d %s", r.Status, r.Body)
	}
}

// TestTOTP_WrongCodesSpendTheGuessBudget: someone holding the password
// guesses codes from networks the account never used; the wrong codes
// spend the account's budget like wrong passwords, so a right code from
// a stranger is then refused unchecked, while the owner (a known network)
// still signs in. A right password never resets what codes charged.
func TestTOTP_WrongCodesSpendTheGuessBudget(t *testing.T) {
	e, now := guessEnv(t)
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	e.createUser("carol", "carol-password-1", nil)
	owner := "198.51.100.20"
	r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "carol-password-1"}, from(owner))
	secret, _ := e.enrolTOTP(r.json(t)["token"].(string), clock())
	now.Add(int64(30 * time.Second))
	for i := 0; i < 8; i++ {
		r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "carol-password-1", "otp": wrongCode(totpCode(t, secret, clock()))}, from("203.0.113.9"))
		if r.Status != 401 {
			t.Fatalf("wrong code %d: %d %s", i, r.Status, r.Body)
		}
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "carol-password-1", "otp": totpCode(t, secret, clock())}, from("203.0.113.9")); r.Status != 401 {
		t.Fatalf("the stranger's right code after the budget is spent: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "carol-password-1", "otp": totpCode(t, secret, clock())}, from(owner)); r.Status != http.StatusCreated {
		t.Fatalf("the owner: %d %s", r.Status, r.Body)
	}
}

// TestTOTP_AdminReset: an admin of the user's db removes its second
// factor; the user then signs in with the password alone.
func TestTOTP_AdminReset(t *testing.T) {
	e, now := guessEnv(t)
	id := e.createUser("dan", "dan-password-12", nil)
	e.enrolTOTP(e.login("dan", "dan-password-12"), time.Unix(0, now.Load()))
	if r := e.do("POST", "/v1/login", map[string]string{"login": "dan", "password": "dan-password-12"}); errCode(t, r) != "second_factor_required" {
		t.Fatalf("before reset: %d %s", r.Status, r.Body)
	}
	if r := e.do("DELETE", "/v1/users/"+itoa(id)+"/second-factor", nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("reset: %d %s", r.Status, r.Body)
	}
	e.login("dan", "dan-password-12")
}

func wrongCode(c string) string {
	b := []byte(c)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestAppPasswords_SeedDialects: an account with TOTP makes an app
// password (a recent sign-in needed); the Odoo and knox dialects sign in
// with it, the native API does not take it, a wrong one is refused, and
// once revoked it signs in nowhere.
func TestAppPasswords_SeedDialects(t *testing.T) {
	e, now := guessEnv(t)
	e.createUser("abe", "abe-password-123", nil)
	tok := e.login("abe", "abe-password-123")
	secret, _ := e.enrolTOTP(tok, time.Unix(0, now.Load()))
	now.Add(int64(30 * time.Second))
	r := e.do("POST", "/v1/login", map[string]string{"login": "abe", "password": "abe-password-123", "otp": totpCode(t, secret, time.Unix(0, now.Load()))})
	tok = r.json(t)["token"].(string)
	if r := e.do("POST", "/v1/me/app-passwords", map[string]string{"name": ""}, bearerH(tok)); r.Status != 400 {
		t.Fatalf("empty name: %d %s", r.Status, r.Body)
	}
	r = e.do("POST", "/v1/me/app-passwords", map[string]string{"name": "odoo mobile"}, bearerH(tok))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ap := r.json(t)["password"].(string)
	id := r.json(t)["app_password"].(map[string]any)["id"].(string)
	if l := e.do("GET", "/v1/me/app-passwords", nil, bearerH(tok)); strings.Contains(string(l.Body), ap) || !strings.Contains(string(l.Body), "odoo mobile") {
		t.Fatalf("list: %s", l.Body)
	}
	for _, d := range []string{"odoo", "knox"} {
		if r := e.loginFrom(d, "198.51.100.8", "abe", ap); r.Status != okStatus[d] {
			t.Errorf("%s with the app password: %d %s", d, r.Status, r.Body)
		}
		if r := e.loginFrom(d, "198.51.100.8", "abe", "sdap_"+strings.Repeat("0", 32)); r.Status == okStatus[d] {
			t.Errorf("%s with a wrong app password: %d", d, r.Status)
		}
	}
	if r := e.loginFrom("native", "198.51.100.8", "abe", ap); r.Status == http.StatusCreated {
		t.Error("the native API took an app password")
	}
	if r := e.do("DELETE", "/v1/me/app-passwords/"+id, nil, bearerH(tok)); r.Status != 204 {
		t.Fatalf("revoke: %d %s", r.Status, r.Body)
	}
	if r := e.loginFrom("odoo", "198.51.100.8", "abe", ap); r.Status == okStatus["odoo"] {
		t.Error("a revoked app password signed in")
	}
	// The operator may let the dialects take the password alone.
	if r := e.loginFrom("knox", "198.51.100.8", "abe", "abe-password-123"); r.Status == okStatus["knox"] {
		t.Fatal("knox took the password alone")
	}
	e.patchSettings(map[string]any{"dialect_password_with_2fa": true})
	if r := e.loginFrom("knox", "198.51.100.8", "abe", "abe-password-123"); r.Status != okStatus["knox"] {
		t.Fatalf("knox with the operator's allowance: %d %s", r.Status, r.Body)
	}
}
