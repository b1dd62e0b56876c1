package api

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	p, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return p.Header
}

func TestKeys_ListRotateRetireJWKS(t *testing.T) {
	e := newTestEnv(t)
	kid1 := e.waitActiveKey()
	configured, _ := auth.KeyFromSecret(testJWTSecret, auth.AlgHS256)
	if kid1 != configured.Kid {
		t.Fatalf("active kid %s, want the configured key's %s", kid1, configured.Kid)
	}
	e.createUser("user@odoo.com", "user-password", nil)
	tok1 := e.jwtLogin("user@odoo.com", "user-password")

	// Listing never shows key material.
	r := e.do("GET", "/v1/keys", nil, bearerH(e.admin))
	m := r.json(t)
	if r.Status != 200 || m["active_kid"] != kid1 || len(m["keys"].([]any)) != 1 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	k := m["keys"].([]any)[0].(map[string]any)
	if k["kid"] != kid1 || k["alg"] != "HS256" || k["active"] != true || k["retired"] != nil || len(k) != 5 {
		t.Fatalf("key %v", k)
	}
	for _, secret := range []string{string(testJWTSecret), base64.StdEncoding.EncodeToString(testJWTSecret), "secret"} {
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("key listing leaks %q: %s", secret, r.Body)
		}
	}
	// Rotate to EdDSA without a restart.
	r = e.do("POST", "/v1/keys", map[string]any{"alg": "EdDSA", "activate": true}, bearerH(e.admin))
	if r.Status != 201 || r.json(t)["active"] != true || r.json(t)["alg"] != "EdDSA" {
		t.Fatalf("add key: %d %s", r.Status, r.Body)
	}
	kid2 := r.json(t)["kid"].(string)
	// The Odoo JWT dialect stays on the shared secret (the seed's
	// contract) until the operator moves it.
	if m := r.json(t); m["jwt_dialect_kid"] != kid1 || m["warning"] != nil {
		t.Fatalf("add EdDSA key: dialect kid %v, warning %v", m["jwt_dialect_kid"], m["warning"])
	}
	if h := jwtHeader(t, e.jwtLogin("user@odoo.com", "user-password")); h["kid"] != kid1 || h["alg"] != "HS256" {
		t.Fatalf("dialect token after an EdDSA activation: %v", h)
	}
	e.patchSettings(map[string]any{"jwt_dialect_kid": kid2})
	tok2 := e.jwtLogin("user@odoo.com", "user-password")
	if h := jwtHeader(t, tok2); h["kid"] != kid2 || h["alg"] != "EdDSA" {
		t.Fatalf("new token header %v", h)
	}
	// Retire the old key: it stops signing but still verifies.
	if r := e.do("DELETE", "/v1/keys/"+kid1, nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("retire: %d %s", r.Status, r.Body)
	}
	for _, tok := range []string{tok1, tok2} {
		if r := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+tok); r.Status != 200 {
			t.Fatalf("token after retire: %d %s", r.Status, r.Body)
		}
	}
	m = e.do("GET", "/v1/keys", nil, bearerH(e.admin)).json(t)
	for _, x := range m["keys"].([]any) {
		k := x.(map[string]any)
		if k["kid"] == kid1 && (k["retired"] == nil || k["active"] != false) {
			t.Fatalf("retired key shows %v", k)
		}
	}
	// The active key cannot be retired; unknown keys are 404.
	if r := e.do("DELETE", "/v1/keys/"+kid2, nil, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("retire active: %d %s", r.Status, r.Body)
	}
	if r := e.do("DELETE", "/v1/keys/nope", nil, bearerH(e.admin)); r.Status != 404 {
		t.Fatalf("retire unknown: %d", r.Status)
	}

	// JWKS has the Ed25519 public key only, and it verifies tok2 with
	// golang-jwt alone.
	r = e.raw("GET", "/.well-known/jwks.json", "", "")
	if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("jwks: %d %s", r.Status, r.Body)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(r.Body, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("jwks %s: %v", r.Body, err)
	}
	jk := set.Keys[0]
	if jk["kid"] != kid2 || jk["kty"] != "OKP" || jk["crv"] != "Ed25519" || jk["d"] != "" || jk["k"] != "" {
		t.Fatalf("jwk %v", jk)
	}
	x, err := base64.RawURLEncoding.DecodeString(jk["x"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := jwt.Parse(tok2, func(*jwt.Token) (any, error) { return ed25519.PublicKey(x), nil },
		jwt.WithValidMethods([]string{"EdDSA"})); err != nil {
		t.Fatalf("golang-jwt with the JWKS key: %v", err)
	}
	if strings.Contains(string(r.Body), base64.RawURLEncoding.EncodeToString(testJWTSecret)) {
		t.Fatal("jwks leaks the HMAC secret")
	}

	// RS256 joins the JWKS; a key added inactive does not sign.
	r = e.do("POST", "/v1/keys", map[string]any{"alg": "RS256", "activate": false}, bearerH(e.admin))
	if r.Status != 201 || r.json(t)["active"] != false {
		t.Fatalf("add RS256: %d %s", r.Status, r.Body)
	}
	if h := jwtHeader(t, e.jwtLogin("user@odoo.com", "user-password")); h["kid"] != kid2 {
		t.Fatalf("inactive key signed: %v", h)
	}
	if err := json.Unmarshal(e.raw("GET", "/.well-known/jwks.json", "", "").Body, &set); err != nil || len(set.Keys) != 2 ||
		set.Keys[1]["kty"] != "RSA" || set.Keys[1]["n"] == "" || set.Keys[1]["e"] != "AQAB" {
		t.Fatalf("jwks with RSA: %+v %v", set, err)
	}
	// HS512 by an empty body's default alg HS256, then with an explicit
	// one; unpinned, the dialect follows an active HMAC key, and the
	// answer warns that it moved.
	e.patchSettings(map[string]any{"jwt_dialect_kid": ""})
	if r := e.raw("POST", "/v1/keys", "", "", bearerH(e.admin)); r.Status != 201 || r.json(t)["alg"] != "HS256" {
		t.Fatalf("default key: %d %s", r.Status, r.Body)
	}
	r = e.do("POST", "/v1/keys", map[string]any{"alg": "HS512"}, bearerH(e.admin))
	if r.Status != 201 || r.json(t)["jwt_dialect_kid"] != r.json(t)["kid"] || r.json(t)["warning"] == nil {
		t.Fatalf("HS512: %d %s", r.Status, r.Body)
	}
	tok3 := e.jwtLogin("user@odoo.com", "user-password")
	if h := jwtHeader(t, tok3); h["alg"] != "HS512" || h["kid"] != r.json(t)["kid"] {
		t.Fatalf("HS512 token header %v", h)
	}
	for _, tok := range []string{tok1, tok2, tok3} {
		if r := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+tok); r.Status != 200 {
			t.Fatalf("token after rotations: %d", r.Status)
		}
	}
}

func TestKeys_AdminOnlyAndBadInput(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("gus", "gus-password", nil)
	tok := e.login("gus", "gus-password")
	for _, rt := range []struct{ method, path string }{{"GET", "/v1/keys"}, {"POST", "/v1/keys"}, {"DELETE", "/v1/keys/x"}} {
		if r := e.do(rt.method, rt.path, nil, bearerH(tok)); r.Status != 403 {
			t.Errorf("%s %s as non-admin: %d", rt.method, rt.path, r.Status)
		}
		if r := e.do(rt.method, rt.path, nil); r.Status != 401 {
			t.Errorf("%s %s anonymous: %d", rt.method, rt.path, r.Status)
		}
	}
	for name, c := range map[string]struct {
		body, ctype string
		want        int
	}{
		"alg none":      {`{"alg":"none"}`, "application/json", 400},
		"alg lowercase": {`{"alg":"hs256"}`, "application/json", 400},
		"unknown field": {`{"alg":"HS256","secret":"abc"}`, "application/json", 400},
		"duplicate":     {`{"alg":"HS256","alg":"EdDSA"}`, "application/json", 400},
		"array":         {`[]`, "application/json", 400},
		"form":          {`alg=HS256`, formCT, 415},
	} {
		if r := e.raw("POST", "/v1/keys", c.body, c.ctype, bearerH(e.admin)); r.Status != c.want {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	if n := len(e.node.FSM().State().Keys()); n != 1 {
		t.Fatalf("bad requests added keys: %d", n)
	}
}

func TestKeys_SeedWithoutConfiguredSecret(t *testing.T) {
	for name, secret := range map[string][]byte{"none": nil, "weak": []byte("your_key")} {
		t.Run(name, func(t *testing.T) {
			e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.JWTSecret = secret })
			kid := e.waitActiveKey()
			k, ok := e.node.FSM().State().Key(kid)
			if !ok || k.Alg != "HS256" || len(k.Secret) != 32 {
				t.Fatalf("generated key %s: %v %s %d", kid, ok, k.Alg, len(k.Secret))
			}
			e.createUser("user@odoo.com", "user-password", nil)
			if h := jwtHeader(t, e.jwtLogin("user@odoo.com", "user-password")); h["kid"] != kid {
				t.Fatalf("header %v", h)
			}
			// Seeding again (a new leader) changes nothing.
			e.srv.OnLeader(context.Background())
			if n := len(e.node.FSM().State().Keys()); n != 1 {
				t.Fatalf("reseeding added keys: %d", n)
			}
		})
	}
}

func TestKeys_ConfiguredSecretJoinsExistingKeyring(t *testing.T) {
	e := newTestEnv(t)
	kid1 := e.waitActiveKey()
	// A node restarted with another secret adds it, but does not take
	// over signing from the active key.
	e.srv.cfg.JWTSecret = []byte(strings.Repeat("n", 40))
	e.srv.OnLeader(context.Background())
	st := e.node.FSM().State()
	if len(st.Keys()) != 2 || st.Settings().JWTActiveKid != kid1 {
		t.Fatalf("keys %d, active %s", len(st.Keys()), st.Settings().JWTActiveKid)
	}
}
