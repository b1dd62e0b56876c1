package api

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// testJWTSecret is the SESSIOND_JWT_KEY newTestEnv configures.
var testJWTSecret = []byte("0123456789abcdef0123456789abcdef-test-jwt-key")

// raw sends body with the given content type ("" = none).
func (e *testEnv) raw(method, path, body, ctype string, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

const formCT = "application/x-www-form-urlencoded"

// waitActiveKey polls until the keyring seeding committed an active key.
func (e *testEnv) waitActiveKey() string {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if kid := e.node.FSM().State().Settings().JWTActiveKid; kid != "" {
			return kid
		}
		if time.Now().After(deadline) {
			e.t.Fatal("no active JWT key was seeded")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// jwtLogin logs in through /api/login and returns the JWT.
func (e *testEnv) jwtLogin(email, password string) string {
	e.t.Helper()
	e.waitActiveKey()
	r := e.raw("POST", "/api/login", form("email", email, "password", password), formCT)
	if r.Status != 200 {
		e.t.Fatalf("jwt login %s: %d %s", email, r.Status, r.Body)
	}
	return r.json(e.t)["data"].(map[string]any)["token"].(string)
}

func (e *testEnv) patchSettings(body map[string]any) {
	e.t.Helper()
	if r := e.do("PATCH", "/v1/settings", body, bearerH(e.admin)); r.Status != 200 {
		e.t.Fatalf("patch settings: %d %s", r.Status, r.Body)
	}
}

// wantJSON compares a response body with the expected JSON exactly.
func wantJSON(t *testing.T, r resp, status int, want string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
	var got, exp any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.Body)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatalf("bad expectation %q: %v", want, err)
	}
	g, _ := json.Marshal(got)
	x, _ := json.Marshal(exp)
	if string(g) != string(x) {
		t.Fatalf("body %s, want %s", g, x)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
}

const invalid498 = `{"success": false, "message": "Token invalid or expired", "data": null}`

func TestJWT_LoginFormAndJSON(t *testing.T) {
	e := newTestEnv(t)
	kid := e.waitActiveKey()
	id := e.createUser("user@odoo.com", "user-password", map[string]any{
		"name": "John", "company_id": 3, "company_name": "Acme",
	})
	for name, r := range map[string]resp{
		"form": e.raw("POST", "/api/login", form("email", "user@odoo.com", "password", "user-password"), formCT),
		"json": e.do("POST", "/api/login", map[string]string{"email": "User@odoo.com", "password": "user-password"}),
		"multipart": e.raw("POST", "/api/login",
			"--XX\r\nContent-Disposition: form-data; name=\"email\"\r\n\r\nuser@odoo.com\r\n"+
				"--XX\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\nuser-password\r\n--XX--\r\n",
			"multipart/form-data; boundary=XX"),
	} {
		t.Run(name, func(t *testing.T) {
			m := r.json(t)
			if r.Status != 200 || m["success"] != true || m["message"] != nil || len(m) != 3 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Fatalf("headers: %v", r.Header)
			}
			data := m["data"].(map[string]any)
			user, _ := json.Marshal(data["user"])
			want := `{"company_id":[3,"Acme"],"id":` + itoa(id) + `,"login":"user@odoo.com","name":"John"}`
			if string(user) != want {
				t.Fatalf("user %s, want %s", user, want)
			}
			checkMintedJWT(t, data["token"].(string), kid, id, "user@odoo.com")
		})
	}
}

// checkMintedJWT verifies a token with golang-jwt alone, given the
// configured secret, and checks its header and claims.

// Credentials in the URL end up in proxy and access logs: a login that
// carries them in the query string is refused in the dialect's shape, and
// no session is made.
func TestJWT_LoginCredentialsInQueryRefused(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("user@odoo.com", "user-password", nil)
	_, before := e.node.FSM().State().Counts()
	r := e.raw("POST", "/api/login?"+form("email", "user@odoo.com", "password", "user-password"), "", "")
	if m := r.json(t); r.Status != 400 || m["success"] != false {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	if _, after := e.node.FSM().State().Counts(); after != before {
		t.Fatalf("sessions %d -> %d", before, after)
	}
}

func checkMintedJWT(t *testing.T, tok, kid string, uid uint64, login string) {
	t.Helper()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return testJWTSecret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil || !parsed.Valid {
		t.Fatalf("golang-jwt refused the token: %v", err)
	}
	if parsed.Header["kid"] != kid || parsed.Header["alg"] != "HS256" {
		t.Fatalf("header %v, want kid %s", parsed.Header, kid)
	}
	if claims["sub"] != strconv.FormatUint(uid, 10) || claims["lgn"] != login {
		t.Fatalf("claims %v", claims)
	}
	if jti, _ := claims["jti"].(string); !auth.ValidTokenSyntax(jti, auth.IDLen) {
		t.Fatalf("jti %v", claims["jti"])
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if d := exp.Sub(iat.Time); d < 30*24*time.Hour-time.Second || d > 30*24*time.Hour+time.Second {
		t.Fatalf("exp - iat = %v, want 30 days", d)
	}
}

func TestJWT_LoginErrors(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("user@odoo.com", "user-password", nil)
	incorrect := `{"success": false, "message": "incorrect login", "data": null}`
	cases := []struct {
		name, body, ctype string
		status            int
		want              string
	}{
		{"wrong password", form("email", "user@odoo.com", "password", "nope-nope"), formCT, 400, incorrect},
		{"unknown user", form("email", "who@odoo.com", "password", "user-password"), formCT, 400, incorrect},
		{"missing password", form("email", "user@odoo.com"), formCT, 400, incorrect},
		{"missing email", form("password", "user-password"), formCT, 400, incorrect},
		{"login is not email", form("login", "user@odoo.com", "password", "user-password"), formCT, 400, incorrect},
		{"empty body", "", "", 400, incorrect},
		{"control char", form("email", "us\x01er@odoo.com", "password", "user-password"), formCT, 400, incorrect},
		{"over-long password", form("email", "user@odoo.com", "password", strings.Repeat("p", 2000)), formCT, 400, incorrect},
		{"json wrong type", `{"email": 1, "password": "user-password"}`, "application/json", 400, `{"success": false, "message": "email must be a string", "data": null}`},
		{"over limit", form("email", "user@odoo.com", "password", strings.Repeat("p", 20000)), formCT, 413, `{"success": false, "message": "Request Entity Too Large", "data": null}`},
		{"text body", "hello", "text/plain", 415, `{"success": false, "message": "Unsupported Media Type", "data": null}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantJSON(t, e.raw("POST", "/api/login", c.body, c.ctype), c.status, c.want)
		})
	}
	for name, body := range map[string]string{
		"null": "null", "array": `[]`, "trailing": `{"email":"a","password":"b"} {}`,
		"duplicate":    `{"email":"x@y.z","email":"user@odoo.com","password":"user-password"}`,
		"invalid utf8": "{\"email\":\"user@odoo.com\xff\",\"password\":\"user-password\"}", "truncated": `{"email":`,
		"empty json": "",
	} {
		r := e.raw("POST", "/api/login", body, "application/json")
		if m := r.json(t); r.Status != 400 || m["success"] != false || m["data"] != nil {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	r := e.raw("GET", "/api/login", "", "")
	wantJSON(t, r, 405, `{"success": false, "message": "Method Not Allowed", "data": null}`)
	if r.Header.Get("Allow") != "POST" {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
	// No CORS unless configured (TestJWT_CORS).
	pre := e.raw("OPTIONS", "/api/login", "", "", "Origin: https://app.example", "Access-Control-Request-Method: POST")
	if pre.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight: %d %v", pre.Status, pre.Header)
	}
}

func TestJWT_MeLogoutAndRevocation(t *testing.T) {
	e := newTestEnv(t)
	id := e.createUser("user@odoo.com", "user-password", map[string]any{"name": "John"})
	tok := e.jwtLogin("user@odoo.com", "user-password")
	other := e.jwtLogin("user@odoo.com", "user-password")
	host := strings.TrimPrefix(e.URL, "http://")
	want := `{"data": null, "message": null, "success": {"id": ` + itoa(id) + `, "email": "user@odoo.com", "name": "John",
		"avatar": "http://` + host + `/web/avatar/` + itoa(id) + `", "company_id": [1, "My Company"]}}`
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		wantJSON(t, e.raw(m, "/api/me", "", "", "Authorization: Bearer "+tok), 200, want)
	}
	// The word before the token is not checked, as in the module.
	wantJSON(t, e.raw("GET", "/api/me", "", "", "Authorization: Whatever "+tok), 200, want)

	av := e.raw("GET", "/web/avatar/"+itoa(id), "", "", "Authorization: Bearer "+other)
	if av.Status != 200 || av.Header.Get("Content-Type") != "image/svg+xml" || !strings.HasPrefix(string(av.Body), "<svg") {
		t.Fatalf("avatar: %d %q %.40s", av.Status, av.Header.Get("Content-Type"), av.Body)
	}
	if r := e.raw("GET", "/web/avatar/"+itoa(id)+"/128", "", "", "Authorization: Bearer "+other); r.Status != 200 {
		t.Fatalf("sized avatar: %d", r.Status)
	}
	for _, p := range []string{"/web/avatar/999", "/web/avatar/x", "/web/avatar/0"} {
		if r := e.raw("GET", p, "", "", "Authorization: Bearer "+other); r.Status != 404 {
			t.Fatalf("%s: %d", p, r.Status)
		}
	}

	wantJSON(t, e.raw("POST", "/api/logout", "", "", "Authorization: Bearer "+tok), 200,
		`{"success": true, "message": null, "data": null}`)
	// Signature and exp still hold, yet the token is refused: its jti
	// session is gone.
	if _, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return testJWTSecret, nil }, jwt.WithValidMethods([]string{"HS256"})); err != nil {
		t.Fatalf("token no longer parses: %v", err)
	}
	for _, level := range []string{"stale", "default", "consistent"} {
		wantJSON(t, e.raw("GET", "/api/me?consistency="+level, "", "", "Authorization: Bearer "+tok), 498, invalid498)
	}
	wantJSON(t, e.raw("GET", "/api/logout", "", "", "Authorization: Bearer "+tok), 498, invalid498)
	// A single logout ends only its own session.
	if r := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+other); r.Status != 200 {
		t.Fatalf("other token after logout: %d %s", r.Status, r.Body)
	}
	// Introspection recognises a JWT.
	r := e.do("POST", "/v1/introspect", map[string]string{"token": other}, bearerH(e.admin))
	if m := r.json(t); m["active"] != true || m["token_type"] != "Bearer" || m["dialect"] != "jwt" {
		t.Fatalf("introspect jwt: %s", r.Body)
	}
}

func TestJWT_BaseURLConfigured(t *testing.T) {
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.BaseURL = "https://auth.example.com/" })
	id := e.createUser("user@odoo.com", "user-password", nil)
	tok := e.jwtLogin("user@odoo.com", "user-password")
	me := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+tok).json(t)["success"].(map[string]any)
	if me["avatar"] != "https://auth.example.com/web/avatar/"+itoa(id) {
		t.Fatalf("avatar %v", me["avatar"])
	}
}

// signWith mints a token outside sessiond, for refusal tests.
func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWT_TokenFailuresAre498(t *testing.T) {
	e := newTestEnv(t)
	kid := e.waitActiveKey()
	id := e.createUser("user@odoo.com", "user-password", nil)
	good := e.jwtLogin("user@odoo.com", "user-password")
	parts := strings.Split(good, ".")
	var claims jwt.MapClaims
	if _, _, err := jwt.NewParser().ParseUnverified(good, &claims); err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	noneTok := b64([]byte(`{"alg":"none","typ":"JWT","kid":"`+kid+`"}`)) + "." + parts[1] + "."
	expired := jwt.MapClaims{"sub": itoa(id), "lgn": "user@odoo.com", "jti": claims["jti"],
		"iat": time.Now().Add(-2 * time.Hour).Unix(), "exp": time.Now().Add(-time.Hour).Unix()}
	forged := jwt.MapClaims{"sub": itoa(id), "jti": claims["jti"], "exp": time.Now().Add(time.Hour).Unix()}
	cases := map[string]string{
		"no header":       "",
		"scheme only":     "Authorization: Bearer",
		"token only":      "Authorization: " + good,
		"empty token":     "Authorization: Bearer ",
		"garbage":         "Authorization: Bearer abc.def.ghi",
		"10KB":            "Authorization: Bearer " + strings.Repeat("a", 10<<10),
		"alg none":        "Authorization: Bearer " + noneTok,
		"bad signature":   "Authorization: Bearer " + parts[0] + "." + parts[1] + "." + b64([]byte(strings.Repeat("x", 32))),
		"wrong key":       "Authorization: Bearer " + signWith(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), kid, forged),
		"unknown kid":     "Authorization: Bearer " + signWith(t, jwt.SigningMethodHS256, testJWTSecret, "feedfacefeedface", forged),
		"no kid":          "Authorization: Bearer " + signWith(t, jwt.SigningMethodHS256, testJWTSecret, "", forged),
		"other alg":       "Authorization: Bearer " + signWith(t, jwt.SigningMethodHS512, testJWTSecret, kid, forged),
		"expired":         "Authorization: Bearer " + signWith(t, jwt.SigningMethodHS256, testJWTSecret, kid, expired),
		"knox-like token": "Authorization: Bearer " + strings.Repeat("a", 64),
	}
	before := e.node.FSM().AppliedIndex()
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			var hs []string
			if h != "" {
				hs = append(hs, h)
			}
			wantJSON(t, e.raw("GET", "/api/me", "", "", hs...), 498, invalid498)
			wantJSON(t, e.raw("POST", "/api/logout", "", "", hs...), 498, invalid498)
		})
	}
	if after := e.node.FSM().AppliedIndex(); after != before {
		t.Fatalf("refused tokens changed the state: %d -> %d", before, after)
	}
	// A token for the right session, signed with the real key but for
	// another user, is refused too.
	mismatch := jwt.MapClaims{"sub": "999", "jti": claims["jti"], "exp": time.Now().Add(time.Hour).Unix()}
	wantJSON(t, e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+signWith(t, jwt.SigningMethodHS256, testJWTSecret, kid, mismatch)), 498, invalid498)
	// A forged token naming the live session with the right key is simply
	// valid: the key is the secret.
	if r := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+signWith(t, jwt.SigningMethodHS256, testJWTSecret, kid, forged)); r.Status != 200 {
		t.Fatalf("token signed with the configured key: %d", r.Status)
	}
}

func TestJWT_Register(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("taken@odoo.com", "taken-password", nil)
	reg := func(kv ...string) resp { return e.raw("POST", "/api/register", form(kv...), formCT) }
	msg := func(m string) string { return `{"success": false, "message": "` + m + `", "data": null}` }

	// Input checks come first, in the module's order, even with signup off.
	wantJSON(t, reg("email", "not-an-email", "name", "", "password", ""), 400, msg("Invalid email address"))
	wantJSON(t, reg("name", "N", "password", "p"), 400, msg("Invalid email address"))
	wantJSON(t, reg("email", "new@odoo.com", "name", " ", "password", ""), 400, msg("Name cannot be empty"))
	wantJSON(t, reg("email", "new@odoo.com", "name", "New", "password", ""), 400, msg("Password cannot be empty"))
	wantJSON(t, reg("email", "new@odoo.com", "name", "New", "password", "new-password"), 501, msg("Signup is disabled"))

	e.patchSettings(map[string]any{"signup_enabled": true})
	wantJSON(t, reg("email", "taken@odoo.com", "name", "T", "password", "taken-password"), 400, msg("Email address already existed"))
	wantJSON(t, reg("email", "TAKEN@odoo.com", "name", "T", "password", "taken-password"), 400, msg("Email address already existed"))
	wantJSON(t, reg("email", "new@odoo.com", "name", "New", "password", "short"), 400, msg("Password must be at least 8 characters"))

	r := e.do("POST", "/api/register", map[string]string{"email": "new@odoo.com", "name": "New Person", "password": "new-password"})
	m := r.json(t)
	if r.Status != 200 || m["success"] != true || m["message"] != nil {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	data := m["data"].(map[string]any)
	user := data["user"].(map[string]any)
	if user["login"] != "new@odoo.com" || user["name"] != "New Person" {
		t.Fatalf("user %v", user)
	}
	tok := data["token"].(string)
	if r := e.raw("GET", "/api/me", "", "", "Authorization: Bearer "+tok); r.Status != 200 {
		t.Fatalf("me after register: %d", r.Status)
	}
	u, ok := e.node.FSM().State().UserByLogin("sessiond", "new@odoo.com")
	if !ok || u.Email != "new@odoo.com" || u.Admin {
		t.Fatalf("registered user %+v", u)
	}
	// The new account logs in through every dialect and /v1.
	e.jwtLogin("new@odoo.com", "new-password")
	e.login("new@odoo.com", "new-password")
	if r := e.do("POST", "/session/auth/login", map[string]string{"login": "new@odoo.com", "password": "new-password"}); r.Status != 200 {
		t.Fatalf("odoo login: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/auth/login/", map[string]string{"username": "new@odoo.com", "password": "new-password"}); r.Status != 200 {
		t.Fatalf("knox login: %d %s", r.Status, r.Body)
	}
	if r := e.raw("GET", "/api/register", "", ""); r.Status != 405 {
		t.Fatalf("GET register: %d", r.Status)
	}
}

func TestJWT_SessionLimitAndThrottle(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("user@odoo.com", "user-password", nil)
	e.patchSettings(map[string]any{"token_limit_per_user": 1})
	// knox's TOKEN_LIMIT_PER_USER counts knox tokens only.
	e.jwtLogin("user@odoo.com", "user-password")
	e.jwtLogin("user@odoo.com", "user-password")
	e.patchSettings(map[string]any{"token_limit_per_user": 0})
	for i := 0; i < 5; i++ {
		e.raw("POST", "/api/login", form("email", "user@odoo.com", "password", "wrong-password"), formCT)
	}
	// The guess budget is spent, but this client logged in to the account
	// before: the owner is not locked out (TestGuessing_* has the rest).
	r := e.raw("POST", "/api/login", form("email", "user@odoo.com", "password", "user-password"), formCT)
	if r.Status != 200 {
		t.Fatalf("owner after others' failures: %d %s", r.Status, r.Body)
	}
}

func TestJWT_TTLFromSettings(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	e.createUser("user@odoo.com", "user-password", nil)
	e.patchSettings(map[string]any{"jwt_ttl_seconds": 3600})
	tok := e.jwtLogin("user@odoo.com", "user-password")
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok, &c); err != nil {
		t.Fatal(err)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != time.Hour {
		t.Fatalf("exp - iat = %v", d)
	}
	sess, ok := e.node.FSM().State().Session(fsm.Digest(auth.DigestToken(c.ID)))
	if !ok || sess.Kind != fsm.KindJWT || sess.ExpiresAt/1e9 != c.ExpiresAt.Unix() {
		t.Fatalf("session %+v", sess)
	}
}
