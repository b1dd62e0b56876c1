package api

import (
	"net/http"
	"testing"
)

func TestNative_LoginWhoamiLogout(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("alice", "alice-password", map[string]any{"name": "Alice"})
	r := e.do("POST", "/v1/login", map[string]string{"login": "Alice ", "password": "alice-password"})
	if r.Status != http.StatusCreated {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Error("token response is cacheable")
	}
	if r.Header.Get("X-Sessiond-Node") != "t1" || r.Header.Get("X-Sessiond-Index") == "" {
		t.Errorf("missing node/index headers: %v", r.Header)
	}
	tok := r.json(t)["token"].(string)
	if len(tok) != 64 {
		t.Fatalf("token length %d", len(tok))
	}
	w := e.do("GET", "/v1/session", nil, bearerH(tok))
	if w.Status != 200 {
		t.Fatalf("whoami: %d %s", w.Status, w.Body)
	}
	if u := w.json(t)["user"].(map[string]any); u["login"] != "alice" || u["name"] != "Alice" {
		t.Fatalf("whoami user: %v", u)
	}
	if got := e.do("POST", "/v1/logout", nil, bearerH(tok)); got.Status != http.StatusNoContent {
		t.Fatalf("logout: %d %s", got.Status, got.Body)
	}
	for _, level := range []string{"default", "consistent", "stale"} {
		if got := e.do("GET", "/v1/session?consistency="+level, nil, bearerH(tok)); got.Status != http.StatusUnauthorized {
			t.Fatalf("whoami after logout at %s: %d", level, got.Status)
		}
	}
	// Logout again is idempotent.
	if got := e.do("POST", "/v1/logout", nil, bearerH(tok)); got.Status != http.StatusNoContent {
		t.Fatalf("second logout: %d", got.Status)
	}
}

func TestNative_LogoutAllAndKeepCurrent(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("bob", "bob-password", nil)
	t1, t2, t3 := e.login("bob", "bob-password"), e.login("bob", "bob-password"), e.login("bob", "bob-password")
	if r := e.do("POST", "/v1/logoutall?keep_current=true", nil, bearerH(t1)); r.Status != 204 {
		t.Fatalf("logoutall keep: %d %s", r.Status, r.Body)
	}
	want := map[string]int{t1: 200, t2: 401, t3: 401}
	for tok, code := range want {
		if r := e.do("GET", "/v1/session", nil, bearerH(tok)); r.Status != code {
			t.Fatalf("after logoutall keep_current: got %d want %d", r.Status, code)
		}
	}
	if r := e.do("POST", "/v1/logoutall", nil, bearerH(t1)); r.Status != 204 {
		t.Fatalf("logoutall: %d", r.Status)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(t1)); r.Status != 401 {
		t.Fatalf("current survived logoutall: %d", r.Status)
	}
}

func TestNative_PasswordChangeAndDisableEndSessions(t *testing.T) {
	e := newTestEnv(t)
	id := e.createUser("carol", "carol-password", nil)
	tok := e.login("carol", "carol-password")
	path := "/v1/users/" + itoa(id)
	if r := e.do("PATCH", path, map[string]any{"password": "new-password-1"}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("patch password: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(tok)); r.Status != 401 {
		t.Fatalf("session survived password change: %d", r.Status)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "carol-password"}); r.Status != 401 {
		t.Fatalf("old password still works: %d", r.Status)
	}
	tok = e.login("carol", "new-password-1")
	if r := e.do("PATCH", path, map[string]any{"disabled": true}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("disable: %d", r.Status)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(tok)); r.Status != 401 {
		t.Fatalf("session survived disable: %d", r.Status)
	}
	if r := e.do("POST", "/v1/login", map[string]string{"login": "carol", "password": "new-password-1"}); r.Status != 401 {
		t.Fatalf("disabled user logged in: %d", r.Status)
	}
}

func TestNative_SessionsListAndDelete(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("dan", "dan-password", nil)
	t1, t2 := e.login("dan", "dan-password"), e.login("dan", "dan-password")
	r := e.do("GET", "/v1/sessions", nil, bearerH(t1))
	list := r.json(t)["sessions"].([]any)
	if len(list) != 2 {
		t.Fatalf("want 2 sessions, got %d", len(list))
	}
	var other string
	for _, s := range list {
		m := s.(map[string]any)
		if m["current"] == false {
			other = m["id"].(string)
		}
	}
	if r := e.do("DELETE", "/v1/sessions/"+other, nil, bearerH(t1)); r.Status != 204 {
		t.Fatalf("delete: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/v1/session", nil, bearerH(t2)); r.Status != 401 {
		t.Fatalf("deleted session still valid: %d", r.Status)
	}
}

func TestNative_LockoutAfterFailures(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("erin", "erin-password", nil)
	for i := 0; i < 5; i++ {
		r := e.do("POST", "/v1/login", map[string]string{"login": "erin", "password": "wrong-password"})
		if r.Status != 401 {
			t.Fatalf("attempt %d: %d", i, r.Status)
		}
	}
	// A spent budget answers a client unknown to the account as an
	// unknown login does: no "locked" to enumerate accounts with.
	r := e.do("POST", "/v1/login", map[string]string{"login": "erin", "password": "erin-password"})
	if r.Status != 401 || r.json(t)["error"].(map[string]any)["code"] != "bad_credentials" {
		t.Fatalf("spent budget: %d %s", r.Status, r.Body)
	}
	id := e.node.FSM().State().Users("")[1].ID
	if r := e.do("PATCH", "/v1/users/"+itoa(id), map[string]any{"unlock": true}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("unlock: %d", r.Status)
	}
	e.login("erin", "erin-password")
}

func TestNative_IntrospectRFC7662(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("fay", "fay-password", nil)
	tok := e.login("fay", "fay-password")
	r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(e.admin))
	m := r.json(t)
	if r.Status != 200 || m["active"] != true || m["username"] != "fay" || m["sub"] == nil {
		t.Fatalf("introspect: %d %v", r.Status, m)
	}
	r = e.do("POST", "/v1/introspect", map[string]string{"token": "00" + tok[2:]}, bearerH(e.admin))
	if m := r.json(t); m["active"] != false || len(m) != 1 {
		t.Fatalf("introspect of unknown token: %v", m)
	}
	if r := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(tok)); r.Status != 403 {
		t.Fatalf("non-admin introspect: %d", r.Status)
	}
}

func TestNative_AdminOnly(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("gus", "gus-password", nil)
	tok := e.login("gus", "gus-password")
	for _, rt := range []struct{ method, path string }{
		{"GET", "/v1/users"}, {"POST", "/v1/users"}, {"GET", "/v1/settings"}, {"GET", "/v1/cluster"},
	} {
		if r := e.do(rt.method, rt.path, nil, bearerH(tok)); r.Status != 403 {
			t.Errorf("%s %s as non-admin: %d", rt.method, rt.path, r.Status)
		}
		if r := e.do(rt.method, rt.path, nil); r.Status != 401 {
			t.Errorf("%s %s anonymous: %d", rt.method, rt.path, r.Status)
		}
	}
}
