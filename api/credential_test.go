package api

import (
	"net/http"
	"strings"
	"testing"
)

// The attacks of the code review's 2.8: four copies of "find the token"
// disagreed on what a token is. Each test below failed before
// credential.go became the one place that decides.

// credEnv is a test env with a knox TOKEN_PREFIX and one user who can log
// in through every dialect (its login is an address, for the JWT dialect).
func credEnv(t *testing.T) *testEnv {
	e := newTestEnv(t)
	e.createUser(credLogin, credPassword, map[string]any{"email": credLogin})
	e.patchSettings(map[string]any{"knox_token_prefix": "sd_"})
	return e
}

const (
	credLogin    = "ann@example.com"
	credPassword = "ann-password-123"
)

// introspectActive asks, as the admin, whether tok is active.
func (e *testEnv) introspectActive(tok string) bool {
	e.t.Helper()
	r := e.raw("POST", "/v1/introspect", form("token", tok), formCT, bearerH(e.admin))
	if r.Status != http.StatusOK {
		e.t.Fatalf("introspect: %d %s", r.Status, r.Body)
	}
	return r.json(e.t)["active"] == true
}

// Attack: a knox token as knox's login hands it out (with its
// TOKEN_PREFIX) was refused by forward auth under knox's own scheme while
// introspection reported it active: one token, two verdicts.
func TestCredential_KnoxPrefixedTokenSameAtAuthzAndIntrospect(t *testing.T) {
	e := credEnv(t)
	tok := e.knoxLogin(credLogin, credPassword)
	if !strings.HasPrefix(tok, "sd_") {
		t.Fatalf("knox token %q has no prefix", tok)
	}
	if !e.introspectActive(tok) {
		t.Fatal("introspection: not active")
	}
	if r := e.authzDo("GET", "/v1/authz", tokenH(tok)); r.Status != http.StatusOK || r.Header.Get("X-Sessiond-Session-Kind") != "knox" {
		t.Fatalf("forward auth refused the token introspection reports active: %d", r.Status)
	}
}

// Attack: a native token sent under knox's Token scheme passed forward
// auth (its kind reads "native") although knox's own views refuse it: the
// scheme names the dialect, and the dialect names the session kinds.
func TestCredential_NativeTokenUnderKnoxSchemeRefused(t *testing.T) {
	e := credEnv(t)
	tok := e.login(credLogin, credPassword)
	if r := e.authzDo("GET", "/v1/authz", tokenH(tok)); r.Status != http.StatusUnauthorized {
		t.Fatalf("forward auth: %d for a native token under the Token scheme", r.Status)
	}
	if r := e.do("POST", "/auth/logoutall/", nil, tokenH(tok)); r.Status != http.StatusUnauthorized {
		t.Fatalf("knox logoutall: %d", r.Status)
	}
	// Refused, not revoked: the token still works where it belongs.
	if r := e.do("GET", "/v1/session", nil, bearerH(tok)); r.Status != http.StatusOK {
		t.Fatalf("native whoami after the refusals: %d", r.Status)
	}
}

// The token kinds of the table: the knox token bare (64 hex, as upstream
// clients that strip the prefix send it) and as issued (prefixed).
const (
	kNative = "native"
	kKnox   = "knox"
	kKnoxP  = "knox-prefixed"
	kOdoo   = "odoo"
	kJWT    = "jwt"
)

// Carriers: where on the request the token travels.
const (
	cBearer  = "Authorization: Bearer"
	cBearerL = "Authorization: bearer" // schemes are case-insensitive
	cToken   = "Authorization: Token"
	cOther   = "Authorization: Whatever" // another scheme (jwt_provider takes any)
	cHeader  = "X-Openerp-Session-Id"
	cCookie  = "Cookie: session_id"
)

// credSpec is the one rule, written out: which token kinds each carrier
// may carry. Bearer carries any dialect's token (one session store);
// knox's Token scheme only knox tokens, prefixed or not; Odoo's carriers
// only Odoo session ids; another scheme nothing (a path that reads it as
// Bearer says so in its reads).
var credSpec = map[string]map[string]bool{
	cBearer: {kNative: true, kKnox: true, kKnoxP: true, kOdoo: true, kJWT: true},
	cToken:  {kKnox: true, kKnoxP: true},
	cHeader: {kOdoo: true},
	cCookie: {kOdoo: true},
	cOther:  {},
}

// credPath is a validating path: which carriers it reads (and as which
// carrier of credSpec), which session kinds it serves, and whether a
// success ends the session (then each success gets a fresh token).
type credPath struct {
	name    string
	reads   map[string]string
	serves  map[string]bool
	ends    bool
	request func(e *testEnv, header string) bool // true = accepted
}

var allKinds = map[string]bool{kNative: true, kKnox: true, kKnoxP: true, kOdoo: true, kJWT: true}

func credPaths() []credPath {
	bearerOnly := map[string]string{cBearer: cBearer, cBearerL: cBearer, cToken: cOther, cOther: cOther}
	return []credPath{
		{name: "whoami", reads: bearerOnly, serves: allKinds, request: func(e *testEnv, h string) bool {
			return e.do("GET", "/v1/session", nil, h).Status == http.StatusOK
		}},
		{name: "authz", serves: allKinds,
			reads: map[string]string{cBearer: cBearer, cBearerL: cBearer, cToken: cToken, cOther: cOther, cHeader: cHeader, cCookie: cCookie},
			request: func(e *testEnv, h string) bool {
				return e.authzDo("GET", "/v1/authz", h).Status == http.StatusOK
			}},
		{name: "jwt /api/me", serves: map[string]bool{kJWT: true},
			reads: map[string]string{cBearer: cBearer, cBearerL: cBearer, cToken: cBearer, cOther: cBearer},
			request: func(e *testEnv, h string) bool {
				return e.raw("GET", "/api/me", "", "", h).Status == http.StatusOK
			}},
		{name: "knox logout", serves: map[string]bool{kKnox: true, kKnoxP: true}, ends: true,
			reads: map[string]string{cToken: cToken},
			request: func(e *testEnv, h string) bool {
				return e.do("POST", "/auth/logout/", nil, h).Status == http.StatusOK
			}},
		{name: "odoo logout", serves: map[string]bool{kOdoo: true}, ends: true,
			reads: map[string]string{cHeader: cHeader, cCookie: cCookie},
			request: func(e *testEnv, h string) bool {
				return e.do("POST", "/session/auth/logout", nil, h).Status == http.StatusOK
			}},
	}
}

// mint logs in through the kind's own dialect.
func (e *testEnv) mint(kind string) string {
	switch kind {
	case kNative:
		return e.login(credLogin, credPassword)
	case kKnox:
		return strings.TrimPrefix(e.knoxLogin(credLogin, credPassword), "sd_")
	case kKnoxP:
		return e.knoxLogin(credLogin, credPassword)
	case kOdoo:
		return e.odooLogin(credLogin, credPassword)
	}
	return e.jwtLogin(credLogin, credPassword)
}

func carry(carrier, tok string) string {
	switch carrier {
	case cHeader:
		return "X-Openerp-Session-Id: " + tok
	case cCookie:
		return "Cookie: session_id=" + tok
	}
	return carrier + " " + tok
}

// Every (carrier × scheme × token kind) gets the same answer on every
// path that reads that carrier and serves that kind: whoami, forward auth,
// introspection and each dialect's own view agree with credSpec, and a
// path that does not serve a kind refuses it.
func TestCredential_SameAnswerOnEveryPath(t *testing.T) {
	e := credEnv(t)
	kinds := []string{kNative, kKnox, kKnoxP, kOdoo, kJWT}
	tokens := map[string]string{}
	for _, k := range kinds {
		tokens[k] = e.mint(k)
	}
	carriers := []string{cBearer, cBearerL, cToken, cOther, cHeader, cCookie}
	for _, p := range credPaths() {
		for _, c := range carriers {
			as, reads := p.reads[c]
			for _, k := range kinds {
				want := reads && credSpec[as][k] && p.serves[k]
				tok := tokens[k]
				if want && p.ends {
					tok = e.mint(k)
				}
				if got := p.request(e, carry(c, tok)); got != want {
					t.Errorf("%s, %s, %s token: accepted %v, want %v", p.name, c, k, got, want)
				}
			}
		}
	}
	// Introspection's carrier is the body: every kind, as its dialect
	// hands it out, is active there, as under Bearer.
	for _, k := range kinds {
		if !e.introspectActive(tokens[k]) {
			t.Errorf("introspection, %s token: not active", k)
		}
	}
	// The refusals above ended nothing.
	for _, k := range kinds {
		if r := e.do("GET", "/v1/session", nil, bearerH(tokens[k])); r.Status != http.StatusOK {
			t.Errorf("%s token after the table: %d", k, r.Status)
		}
	}
}
