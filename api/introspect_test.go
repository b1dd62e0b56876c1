package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/client/rs"
	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// newClient creates a service client through the admin API.
func (e *testEnv) newClient(db string) (id, secret string) {
	e.t.Helper()
	body := map[string]any{"name": "resource server"}
	if db != "" {
		body["db"] = db
	}
	r := e.do("POST", "/v1/clients", body, bearerH(e.admin))
	if r.Status != http.StatusCreated || r.Header.Get("Cache-Control") != "no-store" {
		e.t.Fatalf("create client: %d %s", r.Status, r.Body)
	}
	m := r.json(e.t)
	return m["id"].(string), m["secret"].(string)
}

// TestIntrospect_RFC7662Client drives introspection with zitadel/oidc's
// resource-server client (form-encoded, client_secret_basic): each
// dialect's live token is active with the RFC's fields, and
// {"active": false} once logged out.
func TestIntrospect_RFC7662Client(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	uid := e.createUser("user@odoo.com", "user-password", nil)
	id, secret := e.newClient("")
	ctx := context.Background()
	rsc, err := rs.NewResourceServerClientCredentials(ctx, e.URL, id, secret,
		rs.WithStaticEndpoints(e.URL+"/token-unused", e.URL+"/v1/introspect"))
	if err != nil {
		t.Fatal(err)
	}
	type dialect struct {
		name   string
		token  string
		logout func(tok string)
	}
	ok := func(r resp) {
		t.Helper()
		if r.Status >= 300 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
	}
	dialects := []dialect{
		{"native", e.login("user@odoo.com", "user-password"), func(tok string) { ok(e.do("POST", "/v1/logout", nil, bearerH(tok))) }},
		{"odoo", e.odooLogin("user@odoo.com", "user-password"), func(tok string) {
			ok(e.raw("POST", "/session/auth/logout", "", "", "X-Openerp-Session-Id: "+tok))
		}},
		{"jwt", e.jwtLogin("user@odoo.com", "user-password"), func(tok string) { ok(e.raw("GET", "/api/logout", "", "", bearerH(tok))) }},
		{"knox", e.knoxLogin("user@odoo.com", "user-password"), func(tok string) { ok(e.raw("POST", "/auth/logout/", "", "", tokenH(tok))) }},
	}
	for _, d := range dialects {
		got, err := rs.Introspect[*oidc.IntrospectionResponse](ctx, rsc, d.token)
		if err != nil {
			t.Fatalf("%s: %v", d.name, err)
		}
		if !got.Active || got.TokenType != "Bearer" || got.Subject != itoa(uid) || got.Username != "user@odoo.com" ||
			got.IssuedAt.AsTime().IsZero() || got.JWTID == "" || got.Claims["dialect"] != d.name || got.Claims["uid"] != float64(uid) {
			t.Fatalf("%s: %+v", d.name, got)
		}
		if d.name != "knox" && got.Expiration.AsTime().Before(got.IssuedAt.AsTime()) {
			t.Fatalf("%s: exp %v before iat", d.name, got.Expiration)
		}
		d.logout(d.token)
		r := e.raw("POST", "/v1/introspect", "token="+d.token, formCT, "Authorization: Basic "+basic(id, secret))
		wantJSON(t, r, 200, `{"active": false}`)
		got, err = rs.Introspect[*oidc.IntrospectionResponse](ctx, rsc, d.token)
		if err != nil || got.Active {
			t.Fatalf("%s after logout: %+v %v", d.name, got, err)
		}
	}
}

func basic(id, secret string) string {
	req, _ := http.NewRequest("POST", "/", nil)
	req.SetBasicAuth(id, secret)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestIntrospect_ClientAuthentication: client_secret_post and JSON work;
// a missing or wrong client is 401 with WWW-Authenticate (RFC 7662 §2.3);
// two methods at once are refused; a db-bound client sees only its db's
// tokens; a deleted client is refused.
func TestIntrospect_ClientAuthentication(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ann", "ann-password", nil)
	tok := e.login("ann", "ann-password")
	id, secret := e.newClient("")
	if r := e.raw("POST", "/v1/introspect", form("token", tok, "client_id", id, "client_secret", secret), formCT); r.Status != 200 || r.json(t)["active"] != true {
		t.Fatalf("client_secret_post: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, "Authorization: Basic "+basic(id, secret)); r.Status != 200 || r.json(t)["active"] != true {
		t.Fatalf("json: %d %s", r.Status, r.Body)
	}
	// A wrong secret: the right one with its last hex digit changed (never
	// to itself: one secret in 16 ends in "0").
	wrong := secret[:63] + map[bool]string{true: "1", false: "0"}[secret[63] == '0']
	for name, r := range map[string]resp{
		"none":         e.raw("POST", "/v1/introspect", form("token", tok), formCT),
		"wrong secret": e.raw("POST", "/v1/introspect", form("token", tok), formCT, "Authorization: Basic "+basic(id, wrong)),
		"unknown id":   e.raw("POST", "/v1/introspect", form("token", tok, "client_id", strings.Repeat("a", 32), "client_secret", secret), formCT),
		"bad key":      e.raw("POST", "/v1/introspect", form("token", tok), formCT, "X-Sessiond-Cluster-Key: nope"),
	} {
		if r.Status != 401 || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") || r.json(t)["error"] != "invalid_client" {
			t.Errorf("%s: %d %v %s", name, r.Status, r.Header, r.Body)
		}
	}
	if r := e.raw("POST", "/v1/introspect", form("token", tok, "client_id", id, "client_secret", secret), formCT,
		"Authorization: Basic "+basic(id, secret)); r.Status != 400 || r.json(t)["error"] != "invalid_request" {
		t.Fatalf("two methods: %d %s", r.Status, r.Body)
	}
	if r := e.raw("POST", "/v1/introspect", "", formCT, "Authorization: Basic "+basic(id, secret)); r.Status != 400 {
		t.Fatalf("no token: %d %s", r.Status, r.Body)
	}
	// A db-bound client: another db's token is not active for it.
	if r := e.do("POST", "/v1/users", map[string]any{"db": "other", "login": "bob", "password": "bob-password"}, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("user in other db: %d %s", r.Status, r.Body)
	}
	bound, bsecret := e.newClient("other")
	wantJSON(t, e.raw("POST", "/v1/introspect", form("token", tok), formCT, "Authorization: Basic "+basic(bound, bsecret)), 200, `{"active": false}`)
	btok := e.do("POST", "/v1/login", map[string]string{"db": "other", "login": "bob", "password": "bob-password"}).json(t)["token"].(string)
	if r := e.raw("POST", "/v1/introspect", form("token", btok), formCT, "Authorization: Basic "+basic(bound, bsecret)); r.json(t)["active"] != true {
		t.Fatalf("own db's token: %s", r.Body)
	}
	// Listing shows no secret; a deleted client is refused.
	r := e.do("GET", "/v1/clients", nil, bearerH(e.admin))
	if r.Status != 200 || strings.Contains(string(r.Body), secret) || len(r.json(t)["clients"].([]any)) != 2 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if r := e.do("DELETE", "/v1/clients/"+id, nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := e.do("DELETE", "/v1/clients/"+id, nil, bearerH(e.admin)); r.Status != 404 {
		t.Fatalf("delete again: %d %s", r.Status, r.Body)
	}
	if r := e.raw("POST", "/v1/introspect", form("token", tok), formCT, "Authorization: Basic "+basic(id, secret)); r.Status != 401 {
		t.Fatalf("deleted client: %d %s", r.Status, r.Body)
	}
	// An admin's Bearer token still works as a caller; a user's does not.
	if r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(e.admin)); r.json(t)["active"] != true {
		t.Fatalf("admin caller: %s", r.Body)
	}
	if r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(tok)); r.Status != 403 {
		t.Fatalf("user caller: %d", r.Status)
	}
}
