package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
)

// TestOpenAPI_AnswersMatchDocument drives login, whoami and logout in each
// dialect, the admin and cluster operations, the public routes and a set
// of errors (bad JSON, missing fields, wrong credentials, no or revoked
// tokens, forbidden, not found) through a real node, and validates every
// answer against openapi.json with openapi3filter.ValidateResponse.
func TestOpenAPI_AnswersMatchDocument(t *testing.T) {
	_, router := loadOpenAPI(t)
	o := &oapiEnv{testEnv: newTestEnv(t, withJWTCORS("https://app.example")), router: router}
	admin := bearerH(o.admin)
	uid := o.createUser("alice", "alice-password", map[string]any{"email": "alice@example.com", "name": "Alice"})
	user := "/v1/users/" + strconv.FormatUint(uid, 10)

	t.Run("native", func(t *testing.T) {
		o.t = t
		r := o.json("POST", "/v1/login", `{"login":"alice","password":"alice-password","name":"laptop"}`)
		o.expect(r, http.StatusCreated, "login")
		tok, _ := r.json(t)["token"].(string)
		o.expect(o.json("GET", "/v1/session", "", bearerH(tok)), http.StatusOK, "whoami")
		o.expect(o.json("GET", "/v1/session?consistency=linearizable", "", bearerH(tok)), http.StatusOK, "whoami linearizable")
		o.expect(o.json("GET", "/v1/sessions", "", bearerH(tok)), http.StatusOK, "own sessions")
		o.expect(o.json("POST", "/v1/introspect", `{"token":"`+tok+`"}`, admin), http.StatusOK, "introspect active")
		o.expect(o.json("POST", "/v1/logout", "", bearerH(tok)), http.StatusNoContent, "logout")
		o.expect(o.json("POST", "/v1/logout", "", bearerH(tok)), http.StatusNoContent, "logout again (idempotent)")
		o.expect(o.json("GET", "/v1/session", "", bearerH(tok)), http.StatusUnauthorized, "whoami after logout")
		o.expect(o.json("POST", "/v1/introspect", `{"token":"`+tok+`"}`, admin), http.StatusOK, "introspect inactive")
		o.expect(o.json("GET", "/v1/session", ""), http.StatusUnauthorized, "whoami without a token")
		o.expect(o.json("POST", "/v1/login", `{"login":"alice","password":"wrong-password"}`), http.StatusUnauthorized, "bad credentials")
		o.expect(o.json("POST", "/v1/login", `{"login":"alice"`), http.StatusBadRequest, "bad JSON")
		o.expect(o.json("POST", "/v1/login", `{"login":"alice"}`), http.StatusBadRequest, "missing password")
		o.expect(o.call("POST", "/v1/login", "login=alice", formCT), http.StatusUnsupportedMediaType, "form body")
		tok2 := o.login("alice", "alice-password")
		o.expect(o.json("POST", "/v1/logoutall?keep_current=true", "", bearerH(tok2)), http.StatusNoContent, "logoutall")
		o.expect(o.json("DELETE", "/v1/sessions/00000000000000000000000000000000", "", bearerH(tok2)), http.StatusNoContent, "delete unknown session (idempotent)")
		o.expect(o.json("DELETE", "/v1/sessions/nope", "", bearerH(tok2)), http.StatusBadRequest, "delete a malformed session id")
		o.expect(o.json("GET", "/v1/users", "", bearerH(tok2)), http.StatusForbidden, "not an admin")
	})

	t.Run("admin", func(t *testing.T) {
		o.t = t
		o.expect(o.json("GET", "/v1/users", "", admin), http.StatusOK, "list users")
		o.expect(o.json("GET", user, "", admin), http.StatusOK, "get user")
		o.expect(o.json("PATCH", user, `{"name":"Alice A."}`, admin), http.StatusOK, "patch user")
		o.expect(o.json("GET", user+"/sessions", "", admin), http.StatusOK, "user sessions")
		o.expect(o.json("DELETE", user+"/sessions", "", admin), http.StatusNoContent, "revoke user sessions")
		o.expect(o.json("GET", "/v1/users/999999", "", admin), http.StatusNotFound, "unknown user")
		o.expect(o.json("POST", "/v1/users", `{"login":"alice","password":"alice-password"}`, admin), http.StatusConflict, "user exists")
		r := o.json("POST", "/v1/users", `{"login":"bob","password":"bob-password-1"}`, admin)
		o.expect(r, http.StatusCreated, "create user")
		bob := "/v1/users/" + strconv.FormatFloat(r.json(t)["id"].(float64), 'f', 0, 64)
		o.expect(o.json("DELETE", bob, "", admin), http.StatusNoContent, "delete user")
		o.expect(o.json("GET", "/v1/settings", "", admin), http.StatusOK, "settings")
		o.expect(o.json("PATCH", "/v1/settings", `{"token_limit_per_user":50}`, admin), http.StatusOK, "patch settings")
		o.expect(o.json("GET", "/v1/keys", "", admin), http.StatusOK, "keys")
		r = o.json("POST", "/v1/keys", `{"alg":"EdDSA","activate":false}`, admin)
		o.expect(r, http.StatusCreated, "add key")
		kid, _ := r.json(t)["kid"].(string)
		o.expect(o.json("GET", "/.well-known/jwks.json", ""), http.StatusOK, "jwks")
		o.expect(o.json("DELETE", "/v1/keys/"+kid, "", admin), http.StatusNoContent, "retire key")
		o.expect(o.json("DELETE", "/v1/keys/nope", "", admin), http.StatusNotFound, "unknown key")
		o.expect(o.json("GET", "/v1/cluster?hash=true", "", admin), http.StatusOK, "cluster status")
		// A wrong cluster key never reaches this handler: cluster.KeyGate
		// answers it 403 in front of the API (TestRoles_ClusterKeyGrantsOperator,
		// cluster.TestReqSign_*).
		// Here, a header the API does not read is no credential at all.
		o.expect(o.json("GET", "/v1/cluster", "", "X-Sessiond-Cluster-Key: wrong"), http.StatusUnauthorized, "unverified cluster key header")
		o.expect(o.json("GET", "/v1/cluster/snapshot", "", admin), http.StatusOK, "snapshot")
		o.expect(o.call("POST", "/v1/cluster/restore", "not a snapshot", "application/octet-stream", admin), http.StatusBadRequest, "bad restore")
		o.expect(o.json("DELETE", "/v1/cluster/nodes/nope", "", admin), http.StatusNotFound, "remove unknown node")
	})

	t.Run("odoo", func(t *testing.T) {
		o.t = t
		r := o.json("POST", "/session/auth/login", `{"db":"sessiond","login":"alice","password":"alice-password"}`)
		o.expect(r, http.StatusOK, "login")
		var info struct{ Session struct{ SID string } }
		json.Unmarshal(r.Body, &info)
		o.expect(o.json("GET", "/v1/session", "", bearerH(info.Session.SID)), http.StatusOK, "whoami with the sid")
		o.expect(o.json("POST", "/session/auth/logout", "", "Cookie: session_id="+info.Session.SID), http.StatusOK, "logout")
		o.expect(o.json("POST", "/session/auth/logout", "", "Cookie: session_id="+info.Session.SID), http.StatusUnauthorized, "logout again")
		o.expect(o.json("POST", "/session/auth/logout", ""), http.StatusUnauthorized, "logout without a session")
		o.expect(o.json("POST", "/session/auth/login", `{"login":"alice","password":"wrong-password"}`), http.StatusForbidden, "bad credentials")
		o.expect(o.json("POST", "/session/auth/login", `{"login":"alice"}`), http.StatusBadRequest, "missing password")
	})

	t.Run("jwt", func(t *testing.T) {
		o.t = t
		r := o.call("POST", "/api/login", form("email", "alice", "password", "alice-password"), formCT)
		o.expect(r, http.StatusOK, "login")
		var env struct{ Data struct{ Token string } }
		json.Unmarshal(r.Body, &env)
		jwt := "Authorization: Bearer " + env.Data.Token
		o.expect(o.json("GET", "/api/me", "", jwt), http.StatusOK, "me")
		o.expect(o.json("POST", "/api/me", "", jwt), http.StatusOK, "me by POST")
		o.expect(o.json("GET", "/v1/session", "", jwt), http.StatusOK, "whoami with the JWT")
		o.expect(o.json("GET", "/web/avatar/"+strconv.FormatUint(uid, 10), "", jwt), http.StatusOK, "avatar")
		o.expect(o.json("GET", "/web/avatar/999999/128", "", jwt), http.StatusNotFound, "unknown avatar")
		o.expect(o.json("GET", "/web/avatar/"+strconv.FormatUint(uid, 10), ""), http.StatusUnauthorized, "avatar without a session")
		o.expect(o.json("POST", "/api/logout", "", jwt), http.StatusOK, "logout")
		o.expect(o.json("GET", "/api/me", "", jwt), statusTokenInvalid, "me after logout")
		o.expect(o.json("GET", "/api/logout", ""), statusTokenInvalid, "logout without a token")
		o.expect(o.json("POST", "/api/login", `{"email":"alice","password":"wrong-password"}`), http.StatusBadRequest, "bad credentials")
		o.expect(o.json("POST", "/api/register", `{"email":"carol@example.com","name":"Carol","password":"carol-password"}`), http.StatusNotImplemented, "signup disabled")
		o.expect(o.call("OPTIONS", "/api/login", "", "", "Origin: https://app.example", "Access-Control-Request-Method: POST"), http.StatusOK, "preflight")
	})

	t.Run("knox", func(t *testing.T) {
		o.t = t
		r := o.json("POST", "/auth/login/", `{"username":"alice","password":"alice-password"}`)
		o.expect(r, http.StatusOK, "login")
		tok, _ := r.json(t)["token"].(string)
		o.expect(o.json("GET", "/v1/session", "", bearerH(tok)), http.StatusOK, "whoami with the knox token")
		o.expect(o.json("POST", "/auth/logout/", "", "Authorization: Token "+tok), http.StatusOK, "logout")
		o.expect(o.json("POST", "/auth/logout/", "", "Authorization: Token "+tok), http.StatusUnauthorized, "logout again")
		r = o.call("POST", "/auth/login/", form("username", "alice", "password", "alice-password"), formCT)
		tok, _ = r.json(t)["token"].(string)
		o.expect(o.json("POST", "/auth/logoutall/", "", "Authorization: Token "+tok), http.StatusOK, "logoutall")
		o.expect(o.json("POST", "/auth/logoutall/", ""), http.StatusUnauthorized, "no credentials")
		o.expect(o.json("POST", "/auth/login/", `{"username":"alice","password":"wrong-password"}`), http.StatusBadRequest, "bad credentials")
		o.expect(o.json("POST", "/auth/login/", `{"username":"alice"}`), http.StatusBadRequest, "missing password")
	})

	t.Run("meta", func(t *testing.T) {
		o.t = t
		o.expect(o.json("GET", "/healthz", ""), http.StatusOK, "healthz")
		o.expect(o.json("GET", "/readyz", ""), http.StatusOK, "readyz")
		o.expect(o.json("GET", "/metrics", ""), http.StatusNotFound, "metrics without a scrape token configured")
		o.expect(o.json("GET", "/v1/openapi.json", ""), http.StatusOK, "openapi.json")
	})
}
