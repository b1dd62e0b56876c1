package api

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// jsonPost is a same-origin fetch of passkey.js: JSON with the cookie.
func (b *browser) jsonPost(path string, body any) resp {
	b.t.Helper()
	data, _ := json.Marshal(body)
	return b.do("POST", path, string(data), "Content-Type: application/json")
}

// TestPortalPasskey_AccountAndSignIn drives what passkey.js does on the
// pages, over HTTP with a software authenticator: the account page (its
// CSP allowing only the served script) registers a key, renames it; a
// second browser signs in with it and no password and lands on rd; the
// key is removed with the page's form.
func TestPortalPasskey_AccountAndSignIn(t *testing.T) {
	e := newTestEnv(t, withPasskeyRP)
	e.createUser("gina", "gina-password-123", nil)
	a := newBrowser(t, e)
	if r := a.signIn("gina", "gina-password-123", ""); r.Status != http.StatusSeeOther {
		t.Fatalf("sign-in: %d %s", r.Status, r.Body)
	}
	page := a.do("GET", "/auth/account", "")
	csp := page.Header.Get("Content-Security-Policy")
	if page.Status != 200 || !strings.Contains(string(page.Body), `id="passkey-register"`) || !strings.Contains(csp, "script-src 'self'") ||
		strings.Contains(csp, "unsafe") || strings.Contains(string(page.Body), "<script>") {
		t.Fatalf("account page: %d CSP %q %s", page.Status, csp, page.Body)
	}
	if js := a.do("GET", "/auth/passkey.js", ""); js.Status != 200 || !strings.HasPrefix(js.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("passkey.js: %d %q", js.Status, js.Header.Get("Content-Type"))
	}
	begin := a.jsonPost("/auth/account/passkeys/begin", map[string]any{})
	if begin.Status != 200 {
		t.Fatalf("begin: %d %s", begin.Status, begin.Body)
	}
	bm := begin.json(t)
	k := newSoftKey(t, passkeyOrigin)
	fin := a.jsonPost("/auth/account/passkeys/finish", map[string]any{"challenge_id": bm["challenge_id"], "name": "phone",
		"credential": k.create(bm["publicKey"].(map[string]any))})
	if fin.Status != http.StatusCreated {
		t.Fatalf("finish: %d %s", fin.Status, fin.Body)
	}
	id := fin.json(t)["id"].(string)
	if r := a.do("POST", "/auth/account/passkeys/rename", url.Values{"id": {id}, "name": {"pixel"}}.Encode()); r.Status != http.StatusSeeOther {
		t.Fatalf("rename: %d %s", r.Status, r.Body)
	}
	if page := a.do("GET", "/auth/account?done=passkey-renamed", ""); !strings.Contains(string(page.Body), "<td>pixel</td>") {
		t.Fatalf("renamed key not listed: %s", page.Body)
	}

	b := newBrowser(t, e)
	signin := b.do("GET", "/auth/?rd=/auth/account", "")
	if !strings.Contains(string(signin.Body), `id="passkey-signin"`) || !strings.Contains(signin.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("sign-in page: %s", signin.Body)
	}
	lb := b.jsonPost("/auth/passkey/begin", map[string]any{}).json(t)
	lf := b.jsonPost("/auth/passkey/finish", map[string]any{"challenge_id": lb["challenge_id"], "rd": "/auth/account",
		"credential": k.get(lb["publicKey"].(map[string]any))})
	if lf.Status != 200 || !strings.HasSuffix(lf.json(t)["location"].(string), "/auth/account") || cookieToken(lf) == "" {
		t.Fatalf("passwordless sign-in: %d %s", lf.Status, lf.Body)
	}
	if page := b.do("GET", "/auth/account", ""); page.Status != 200 || !strings.Contains(string(page.Body), "gina") {
		t.Fatalf("account after a passkey sign-in: %d %s", page.Status, page.Body)
	}
	if r := b.do("POST", "/auth/account/passkeys/remove", url.Values{"id": {id}}.Encode()); r.Status != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.Status, r.Body)
	}
	if n := len(e.svc.Passkeys(2)); n != 0 {
		t.Fatalf("%d passkeys left", n)
	}
}

// TestPortalPasskey_SecondStep: an account with TOTP and a passkey signs
// in on the portal with its password, then answers the second step with
// the passkey instead of a code (the page offers it); the session's
// methods are the password and the key, and the same finish replayed is
// refused.
func TestPortalPasskey_SecondStep(t *testing.T) {
	e := newTestEnv(t, withPasskeyRP)
	uid := e.createUser("hana", "hana-password-123", nil)
	tok := e.login("hana", "hana-password-123")
	e.enrolTOTP(tok, time.Now())
	k := newSoftKey(t, passkeyOrigin)
	if r := registerPasskey(t, e, e, tok, k, "key"); r.Status != http.StatusCreated {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	b := newBrowser(t, e)
	page := b.signIn("hana", "hana-password-123", "/auth/account")
	if page.Status != 200 || !strings.Contains(string(page.Body), `id="passkey-second"`) || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("second-step page: %d %s", page.Status, page.Body)
	}
	begin := b.jsonPost("/auth/signin/second/passkey/begin", map[string]any{})
	if begin.Status != 200 {
		t.Fatalf("begin: %d %s", begin.Status, begin.Body)
	}
	bm := begin.json(t)
	body := map[string]any{"challenge_id": bm["challenge_id"], "credential": k.get(bm["publicKey"].(map[string]any))}
	fin := b.jsonPost("/auth/signin/second/passkey/finish", body)
	if fin.Status != 200 || !strings.HasSuffix(fin.json(t)["location"].(string), "/auth/account") || cookieToken(fin) == "" {
		t.Fatalf("finish: %d %s", fin.Status, fin.Body)
	}
	sessions := e.svc.LiveSessions(uid)
	last := sessions[len(sessions)-1]
	for _, s := range sessions {
		if s.Created > last.Created {
			last = s
		}
	}
	if got := last.AMR.String(); !strings.Contains(got, "pwd") || !strings.Contains(got, "hwk") || !strings.Contains(got, "mfa") {
		t.Errorf("the session's methods: %q", got)
	}
	if r := b.jsonPost("/auth/signin/second/passkey/finish", body); r.Status != http.StatusBadRequest || errCode(t, r) != "challenge_gone" {
		t.Fatalf("replayed finish: %d %s", r.Status, r.Body)
	}
}
