package api

import (
	"net/http"
	"testing"
)

// TestAvatar_NeedsSessionOfItsDB is finding L7's enumeration: asking
// /web/avatar/<id> for every id told a stranger which users exist. Now
// no credential, a garbage token and a logged-out token get 401 for an
// existing and a missing id alike; a session of another db gets 404 for
// a user that exists, as for one that does not; a session of the user's
// own db (any dialect: native Bearer, Odoo cookie) gets the image.
func TestAvatar_NeedsSessionOfItsDB(t *testing.T) {
	e := newTestEnv(t)
	alice := e.createUser("alice", "alice-password", nil)
	login := func() string {
		return e.do("POST", "/v1/login", map[string]string{"db": "sessiond", "login": "alice", "password": "alice-password"}).json(t)["token"].(string)
	}
	mine := login()
	if r := e.do("POST", "/v1/users", map[string]any{"db": "other", "login": "bob", "password": "bob-password"}, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("user in other db: %d %s", r.Status, r.Body)
	}
	theirs := e.do("POST", "/v1/login", map[string]string{"db": "other", "login": "bob", "password": "bob-password"}).json(t)["token"].(string)
	gone := login()
	e.do("POST", "/v1/logout", nil, bearerH(gone))
	sid := e.do("POST", "/session/auth/login", map[string]string{"db": "sessiond", "login": "alice", "password": "alice-password"}).json(t)["session"].(map[string]any)["sid"].(string)

	own := "/web/avatar/" + itoa(alice)
	for _, tc := range []struct {
		name, path string
		hdr        []string
		want       int
	}{
		{"no credential, existing id", own, nil, http.StatusUnauthorized},
		{"no credential, missing id", "/web/avatar/999", nil, http.StatusUnauthorized},
		{"garbage token", own, []string{"Authorization: Bearer not-a-token"}, http.StatusUnauthorized},
		{"logged-out token", own, []string{bearerH(gone)}, http.StatusUnauthorized},
		{"session of another db, existing id", own, []string{bearerH(theirs)}, http.StatusNotFound},
		{"session of another db, missing id", "/web/avatar/999", []string{bearerH(theirs)}, http.StatusNotFound},
		{"own db, native token", own, []string{bearerH(mine)}, http.StatusOK},
		{"own db, sized", own + "/128", []string{bearerH(mine)}, http.StatusOK},
		{"own db, missing id", "/web/avatar/999", []string{bearerH(mine)}, http.StatusNotFound},
	} {
		if r := e.raw("GET", tc.path, "", "", tc.hdr...); r.Status != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.Status, tc.want)
		} else if r.Status == http.StatusOK && r.Header.Get("Cache-Control") != "private, max-age=3600" {
			t.Errorf("%s: Cache-Control %q: a shared cache would serve it to anyone", tc.name, r.Header.Get("Cache-Control"))
		}
	}
	if r := e.raw("GET", own, "", "", "Cookie: session_id="+sid); r.Status != http.StatusOK {
		t.Errorf("own db, Odoo cookie: %d", r.Status)
	}
}
