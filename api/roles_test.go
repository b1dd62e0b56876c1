package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

// notAdminRoutes are the routes of the table that are no admin's: sign-in,
// a caller's own sessions, the dialects, health and docs. Every other
// route is walked by TestRoles_TenantAdminRefusedOnEveryAdminRoute, so a
// new route is either listed here (and so reviewed) or must refuse a
// tenant's admin acting on another db.
var notAdminRoutes = map[string]bool{
	"POST /v1/login": true, "GET /v1/session": true, "POST /v1/logout": true, "POST /v1/logoutall": true,
	"GET /v1/sessions": true, "DELETE /v1/sessions/{id}": true,
	"GET /web/avatar/{id}": true, "GET /web/avatar/{id}/{size}": true,
	"POST /api/login": true, "POST /api/register": true, "/api/me": true, "/api/logout": true,
	"/api/login": true, "/api/register": true,
	"POST /auth/login/{$}": true, "POST /auth/logout/{$}": true, "POST /auth/logoutall/{$}": true,
	"/auth/login/{$}": true, "/auth/logout/{$}": true, "/auth/logoutall/{$}": true,
	"POST /session/auth/login": true, "POST /session/auth/logout": true,
	"/session/auth/login": true, "/session/auth/logout": true,
	"GET /.well-known/jwks.json": true, "GET /healthz": true, "GET /readyz": true, "/v1/authz": true,
	"GET /v1/openapi.json": true,
	// A scrape token, not a role, opens it (TestMetrics_AnonymousGetsNoCounts).
	"GET /metrics": true,
	// The caller's own second factor (api/totp.go).
	"GET /v1/me/second-factor": true, "POST /v1/me/totp": true, "POST /v1/me/totp/confirm": true,
	"DELETE /v1/me/totp": true, "POST /v1/me/recovery-codes": true,
	"GET /v1/me/app-passwords": true, "POST /v1/me/app-passwords": true, "DELETE /v1/me/app-passwords/{id}": true,
	// The caller's own passkeys, and the passwordless sign-in (api/passkeys.go).
	"GET /v1/me/passkeys": true, "POST /v1/me/passkeys/register/begin": true, "POST /v1/me/passkeys/register/finish": true,
	"PATCH /v1/me/passkeys/{id}": true, "DELETE /v1/me/passkeys/{id}": true,
	"POST /v1/login/passkey/begin": true, "POST /v1/login/passkey/finish": true,
}

// scopedRoutes answer a tenant's admin for its own db, so they are
// checked for what they show instead of for a 403.
var scopedRoutes = map[string]bool{"GET /v1/clients": true, "POST /v1/introspect": true,
	"GET /v1/events": true, "GET /v1/webhooks": true}

// roleView is what a refused call must leave as it was: every user with
// its roles and password version, every session count, the settings,
// keys, clients, dbs and members.
func roleView(t *testing.T, e *testEnv) string {
	t.Helper()
	st := e.node.FSM().State()
	type userRow struct {
		U        fsm.User
		Sessions int
	}
	var users []userRow
	for _, u := range st.Users("") {
		cp := *u
		cp.KnownAddrs, cp.LastFailure = nil, 0
		users = append(users, userRow{cp, len(st.UserSessions(u.ID))})
	}
	b, err := json.Marshal(map[string]any{"users": users, "settings": st.Settings(), "keys": st.Keys(),
		"clients": st.Clients(), "dbs": st.DBs(), "nodes": st.Nodes(), "members": e.node.Status(false).Members,
		"webhooks": st.Webhooks()})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tenantEnv is a cluster with the default db (its operator, admin) and a
// second tenant whose admin, t2admin, is the attacker.
func tenantEnv(t *testing.T) (e *testEnv, t2 string) {
	e = newTestEnv(t)
	e.createUser("t2admin", "t2admin-password", map[string]any{"db": "tenant2", "admin": true})
	return e, loginDB(t, e, "tenant2", "t2admin", "t2admin-password")
}

// loginDB logs in to a named db (with two dbs, a login must name one).
func loginDB(t *testing.T, e *testEnv, db, login, password string) string {
	t.Helper()
	r := e.do("POST", "/v1/login", map[string]string{"db": db, "login": login, "password": password})
	if r.Status != http.StatusCreated {
		t.Fatalf("login %s/%s: %d %s", db, login, r.Status, r.Body)
	}
	return r.json(t)["token"].(string)
}

// The finding L4: the admin of tenant2 tries every admin route of the
// route table against the default db (its users, clients, keys) and the
// cluster (settings, membership, snapshot, restore). Each answers 403
// forbidden, and the state is the same afterwards.
func TestRoles_TenantAdminRefusedOnEveryAdminRoute(t *testing.T) {
	e, t2 := tenantEnv(t)
	victim := e.createUser("victim", "victim-password", map[string]any{"db": "sessiond"})
	vtok := loginDB(t, e, "sessiond", "victim", "victim-password")
	cr := e.do("POST", "/v1/clients", map[string]string{"db": "sessiond"}, bearerH(e.admin))
	keys := e.do("GET", "/v1/keys", nil, bearerH(e.admin))
	if cr.Status != 201 || keys.Status != 200 {
		t.Fatalf("setup: client %d, keys %d", cr.Status, keys.Status)
	}
	wh := e.do("POST", "/v1/webhooks", map[string]any{"url": "https://203.0.113.9/h", "db": "sessiond"}, bearerH(e.admin))
	if wh.Status != 201 {
		t.Fatalf("setup: webhook %d %s", wh.Status, wh.Body)
	}
	fill := strings.NewReplacer("/v1/webhooks/{id}", "/v1/webhooks/"+wh.json(t)["id"].(string), "/v1/users/{id}", "/v1/users/"+itoa(victim), "{kid}", keys.json(t)["active_kid"].(string),
		"/v1/clients/{id}", "/v1/clients/"+cr.json(t)["id"].(string), "/v1/cluster/nodes/{id}", "/v1/cluster/nodes/"+e.node.ID())
	bodies := map[string]any{
		"POST /v1/users":            map[string]any{"db": "sessiond", "login": "planted", "password": "planted-password", "admin": true},
		"PATCH /v1/users/{id}":      map[string]any{"password": "taken-over-password", "admin": true},
		"POST /v1/clients":          map[string]any{"db": "sessiond"},
		"PATCH /v1/settings":        map[string]any{"signup_enabled": true, "lockout_threshold": 0},
		"POST /v1/cluster/join":     map[string]any{"id": "bogus", "raft_addr": "127.0.0.1:1", "api_url": "http://127.0.0.1:1"},
		"POST /v1/cluster/unlock":   map[string]any{"db": "sessiond", "login": "victim"},
		"POST /v1/cluster/operator": map[string]any{"db": "tenant2", "login": "t2admin", "operator": true},
		"POST /v1/keys":             map[string]any{"alg": "HS256"},
		"POST /v1/webhooks":         map[string]any{"url": "https://203.0.113.9/planted", "db": "sessiond"},
		"PATCH /v1/webhooks/{id}":   map[string]any{"url": "https://203.0.113.9/taken-over"},
	}
	query := map[string]string{"GET /v1/users": "?db=sessiond"}
	before := roleView(t, e)
	walked := 0
	for _, pattern := range e.srv.table {
		if notAdminRoutes[pattern] || scopedRoutes[pattern] {
			continue
		}
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			t.Fatalf("route %q has no method: list it in notAdminRoutes or give it one", pattern)
		}
		body := bodies[pattern]
		if body == nil {
			body = map[string]any{}
		}
		r := e.do(method, fill.Replace(path)+query[pattern], body, bearerH(t2))
		if r.Status != http.StatusForbidden || !strings.Contains(string(r.Body), `"forbidden"`) {
			t.Errorf("%s as another db's admin: %d %s, want 403 forbidden", pattern, r.Status, r.Body)
		}
		walked++
	}
	if walked < 20 {
		t.Fatalf("walked %d admin routes: the route table is not what this test thinks", walked)
	}
	// The scoped routes show nothing of the default db.
	if r := e.do("GET", "/v1/clients", nil, bearerH(t2)); r.Status != 200 || strings.Contains(string(r.Body), "sessiond") {
		t.Errorf("tenant admin's client list: %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/v1/webhooks", "/v1/events?timeout=0"} {
		if r := e.do("GET", path, nil, bearerH(t2)); r.Status != 200 || strings.Contains(string(r.Body), `"sessiond"`) {
			t.Errorf("tenant admin's %s: %d %s", path, r.Status, r.Body)
		}
	}
	if r := e.do("POST", "/v1/introspect", map[string]string{"token": vtok}, bearerH(t2)); r.json(t)["active"] != false {
		t.Errorf("tenant admin introspected another db's token: %s", r.Body)
	}
	if r := e.do("GET", "/v1/users", nil, bearerH(t2)); r.Status != 200 || strings.Contains(string(r.Body), `"sessiond"`) {
		t.Errorf("tenant admin's user list: %d %s", r.Status, r.Body)
	}
	if after := roleView(t, e); after != before {
		t.Fatalf("refused calls changed the state:\nbefore %s\nafter  %s", before, after)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(vtok)); r.Status != 200 {
		t.Fatalf("the victim's session did not survive: %d", r.Status)
	}
}

// A tenant admin still manages its own db: users, sessions, clients.
func TestRoles_TenantAdminManagesOwnDB(t *testing.T) {
	e, t2 := tenantEnv(t)
	r := e.do("POST", "/v1/users", map[string]any{"login": "t2user", "password": "t2user-password"}, bearerH(t2))
	if r.Status != 201 || r.json(t)["db"] != "tenant2" || r.json(t)["operator"] != false {
		t.Fatalf("create in own db: %d %s", r.Status, r.Body)
	}
	id := itoa(uint64(r.json(t)["id"].(float64)))
	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"PATCH", "/v1/users/" + id, map[string]any{"name": "T2 User", "admin": true}, 200},
		{"GET", "/v1/users/" + id + "/sessions", nil, 200},
		{"DELETE", "/v1/users/" + id + "/sessions", nil, 204},
		{"POST", "/v1/clients", map[string]any{}, 201},
		{"POST", "/v1/cluster/unlock", map[string]any{"login": "t2user"}, 200},
		{"PATCH", "/v1/users/" + id, map[string]any{"operator": true}, 403},
		{"POST", "/v1/users", map[string]any{"login": "t2op", "password": "t2op-password", "operator": true}, 403},
		{"DELETE", "/v1/users/" + id, nil, 204},
	} {
		if r := e.do(c.method, c.path, c.body, bearerH(t2)); r.Status != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Body, c.want)
		}
	}
	if r := e.do("GET", "/v1/clients", nil, bearerH(t2)); !strings.Contains(string(r.Body), `"db":"tenant2"`) {
		t.Errorf("own client not listed: %s", r.Body)
	}
}

// An admin of the operator's own db cannot take the operator's account
// over (password, disable, delete) nor grant itself the role; the
// operator grants it, and the grantee then runs cluster operations.
func TestRoles_OperatorRoleGrantedOnlyByOperator(t *testing.T) {
	e := newTestEnv(t)
	root, _ := e.node.FSM().State().UserByLogin("sessiond", "admin")
	if !root.Operator {
		t.Fatal("the bootstrap admin is not the operator")
	}
	sub := e.createUser("subadmin", "subadmin-password", map[string]any{"admin": true})
	stok := e.login("subadmin", "subadmin-password")
	before := roleView(t, e)
	for _, c := range []struct {
		method, path string
		body         any
	}{
		{"PATCH", "/v1/users/" + itoa(root.ID), map[string]any{"password": "taken-over-password"}},
		{"PATCH", "/v1/users/" + itoa(root.ID), map[string]any{"disabled": true}},
		{"DELETE", "/v1/users/" + itoa(root.ID), nil},
		{"DELETE", "/v1/users/" + itoa(root.ID) + "/sessions", nil},
		{"PATCH", "/v1/users/" + itoa(sub), map[string]any{"operator": true}},
		{"POST", "/v1/cluster/operator", map[string]any{"login": "subadmin", "operator": true}},
		{"GET", "/v1/cluster", nil},
	} {
		if r := e.do(c.method, c.path, c.body, bearerH(stok)); r.Status != 403 {
			t.Errorf("%s %s as a plain admin: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	if after := roleView(t, e); after != before {
		t.Fatalf("refused calls changed the state:\nbefore %s\nafter  %s", before, after)
	}
	r := e.do("PATCH", "/v1/users/"+itoa(sub), map[string]any{"operator": true}, bearerH(e.admin))
	if r.Status != 200 || r.json(t)["operator"] != true {
		t.Fatalf("operator grants the role: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/cluster", nil, bearerH(stok)); r.Status != 200 {
		t.Fatalf("the new operator's cluster status: %d %s", r.Status, r.Body)
	}
}

// The cluster key stays the break-glass operator: a request signed with
// it (through KeyGate, as `sessiond user operator` sends it) grants the
// role without any login; an unsigned one is refused.
func TestRoles_ClusterKeyGrantsOperator(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ops", "ops-password", map[string]any{"admin": true})
	hs := httptest.NewServer(e.node.KeyGate(e.srv.Handler()))
	t.Cleanup(hs.Close)
	send := func(sign bool) *http.Response {
		req, _ := http.NewRequest("POST", hs.URL+"/v1/cluster/operator", strings.NewReader(`{"login":"ops","operator":true}`))
		req.Header.Set("Content-Type", "application/json")
		if sign {
			if err := reqsign.Sign(req, reqsign.Key("test-cluster-key-0123456789"), e.node.Status(false).NodeID); err != nil {
				t.Fatal(err)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := send(false); resp.StatusCode != 401 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
	if resp := send(true); resp.StatusCode != 200 {
		t.Fatalf("signed with the cluster key: %d", resp.StatusCode)
	}
	if u, _ := e.node.FSM().State().UserByLogin("sessiond", "ops"); !u.Operator {
		t.Fatal("the key's grant did not take")
	}
}

// The finding's re-point through the API: even the operator cannot
// change a known member's addresses with a join (409 member_exists), nor
// claim to be the node itself (self is no field of the public join).
func TestRoles_JoinNeverRepointsAMember(t *testing.T) {
	e := newTestEnv(t)
	st := e.node.Status(false)
	me := st.Members[0]
	before := roleView(t, e)
	r := e.do("POST", "/v1/cluster/join", map[string]any{"id": me.ID, "raft_addr": me.RaftAddr, "api_url": "http://127.0.0.1:1"}, bearerH(e.admin))
	if r.Status != http.StatusConflict || !strings.Contains(string(r.Body), `"member_exists"`) {
		t.Fatalf("re-pointing join: %d %s", r.Status, r.Body)
	}
	r = e.do("POST", "/v1/cluster/join", map[string]any{"id": me.ID, "raft_addr": me.RaftAddr, "api_url": "http://127.0.0.1:1", "self": true}, bearerH(e.admin))
	if r.Status != http.StatusBadRequest {
		t.Fatalf("join claiming self: %d %s", r.Status, r.Body)
	}
	if after := roleView(t, e); after != before {
		t.Fatalf("refused joins changed the state:\nbefore %s\nafter  %s", before, after)
	}
}
