package api

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// withClock gives the service a clock the test moves; raft keeps the
// real one, so the leader's purge never runs ahead of the test.
func withClock(offset *atomic.Int64) envOpt {
	return func(c *cluster.Config, a *auth.ServiceConfig, _ *Config) {
		a.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
		a.RefreshEvery = time.Millisecond
		c.RefreshInterval = 10 * time.Millisecond
	}
}

// TestKnoxSettings_TTLPrefixSerializer: TOKEN_TTL gives an ISO 8601
// expiry (null without), TOKEN_PREFIX prefixes the token (and the
// prefixed token authenticates), USER_SERIALIZER adds "user".
func TestKnoxSettings_TTLPrefixSerializer(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("john", "john-password", map[string]any{"email": "j@x.org", "name": "John Smith"})
	r := e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"})
	if m := r.json(t); m["expiry"] != nil || len(m) != 2 {
		t.Fatalf("default answer: %s", r.Body)
	}
	e.patchSettings(map[string]any{"knox_ttl_seconds": 3600, "knox_token_prefix": "sd_", "knox_user_serializer": "user"})
	r = e.do("POST", "/auth/login/", map[string]string{"username": "john", "password": "john-password"})
	m := r.json(t)
	exp, err := time.Parse(time.RFC3339Nano, m["expiry"].(string))
	if err != nil || time.Until(exp) < 59*time.Minute || time.Until(exp) > 61*time.Minute {
		t.Fatalf("expiry %v: %v", m["expiry"], err)
	}
	tok := m["token"].(string)
	if !strings.HasPrefix(tok, "sd_") || !auth.ValidTokenSyntax(tok[3:], auth.TokenLen) {
		t.Fatalf("token %q", tok)
	}
	user, _ := json.Marshal(m["user"])
	if string(user) != `{"email":"j@x.org","first_name":"John","id":2,"last_name":"Smith","username":"john"}` {
		t.Fatalf("user %s", user)
	}
	if r := e.raw("POST", "/auth/logout/", "", "", tokenH(tok)); r.Status != 200 {
		t.Fatalf("logout with the prefixed token: %d %s", r.Status, r.Body)
	}
	if r := e.do("PATCH", "/v1/settings", map[string]any{"knox_token_prefix": "much-too-long"}, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("long prefix: %d", r.Status)
	}
	if r := e.do("PATCH", "/v1/settings", map[string]any{"knox_user_serializer": "full"}, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("unknown serializer: %d", r.Status)
	}
}

// TestKnoxSettings_InactiveUser: a disabled user's knox token is
// "User inactive or deleted." (knox's validate_user), and the token does
// not come back when the user is enabled again.
func TestKnoxSettings_InactiveUser(t *testing.T) {
	e := newTestEnv(t)
	id := e.createUser("kim", "kim-password", nil)
	tok := e.knoxLogin("kim", "kim-password")
	if r := e.do("PATCH", "/v1/users/"+itoa(id), map[string]any{"disabled": true}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("disable: %d %s", r.Status, r.Body)
	}
	wantJSON(t, e.raw("POST", "/auth/logout/", "", "", tokenH(tok)), 401, `{"detail": "User inactive or deleted."}`)
	if r := e.do("PATCH", "/v1/users/"+itoa(id), map[string]any{"disabled": false}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("enable: %d %s", r.Status, r.Body)
	}
	wantJSON(t, e.raw("POST", "/auth/logout/", "", "", tokenH(tok)), 401, `{"detail": "Invalid token."}`)
}

// TestKnoxSettings_LimitCountsLiveKnoxTokens: TOKEN_LIMIT_PER_USER counts
// only unexpired knox tokens: other dialects' sessions leave room, and a
// token frees its place the moment it expires, before any purge.
func TestKnoxSettings_LimitCountsLiveKnoxTokens(t *testing.T) {
	var offset atomic.Int64
	e := newTestEnv(t, withClock(&offset))
	e.createUser("lim", "lim-password", nil)
	e.patchSettings(map[string]any{"token_limit_per_user": 1, "knox_ttl_seconds": 60})
	e.odooLogin("lim", "lim-password")
	e.login("lim", "lim-password")
	e.knoxLogin("lim", "lim-password")
	wantJSON(t, e.do("POST", "/auth/login/", map[string]string{"username": "lim", "password": "lim-password"}),
		403, `{"error": "Maximum amount of tokens allowed per user exceeded."}`)
	offset.Store(int64(61 * time.Second))
	e.knoxLogin("lim", "lim-password") // the first expired a second ago; the purge has not run
}

// TestKnoxSettings_AutoRefresh: with AUTO_REFRESH a use slides the
// token's expiry to use+TTL through the batched refresh (no write of its
// own), once the gain passes MIN_REFRESH_INTERVAL.
func TestKnoxSettings_AutoRefresh(t *testing.T) {
	var offset atomic.Int64
	e := newTestEnv(t, withClock(&offset))
	e.createUser("ara", "ara-password", nil)
	e.patchSettings(map[string]any{"knox_ttl_seconds": 100, "knox_auto_refresh": true, "knox_min_refresh_interval_seconds": 10})
	tok := e.knoxLogin("ara", "ara-password")
	exp := func() int64 {
		m := e.do("POST", "/v1/introspect", map[string]string{"token": tok}, bearerH(e.admin)).json(t)
		if m["active"] != true {
			t.Fatalf("token not active: %v", m)
		}
		return int64(m["exp"].(float64))
	}
	first := exp()
	offset.Store(int64(50 * time.Second))
	deadline := time.Now().Add(10 * time.Second)
	for exp() < first+50 {
		if time.Now().After(deadline) {
			t.Fatalf("expiry did not slide: %d, want %d", exp(), first+50)
		}
		time.Sleep(10 * time.Millisecond) // polling the replicated result, not synchronising
	}
	// Used at +140 s, past the first expiry (+100 s), within the slid one (+150 s).
	offset.Store(int64(140 * time.Second))
	exp()
}

// TestOdooSessionInfo_KeysAndTypes: the login answer carries Odoo's
// session_info keys with Odoo's JSON types, per configured version.
func TestOdooSessionInfo_KeysAndTypes(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("oli", "oli-password", nil)
	type kind string
	const (
		num, str, boolean, obj, arr kind = "number", "string", "bool", "object", "array"
	)
	typeOf := func(v any) kind {
		switch v.(type) {
		case float64:
			return num
		case string:
			return str
		case bool:
			return boolean
		case map[string]any:
			return obj
		case []any:
			return arr
		}
		return "null"
	}
	common := map[string]kind{
		"uid": num, "is_system": boolean, "is_admin": boolean, "user_context": obj, "db": str,
		"server_version": str, "server_version_info": arr, "name": str, "username": str,
		"partner_display_name": str, "company_id": num, "partner_id": num, "web.base.url": str,
		"user_companies": obj, "currencies": obj, "show_effect": boolean, "display_switch_company_menu": boolean,
		"session": obj,
	}
	for _, v := range []struct {
		version string
		extra   map[string]kind
		current kind
	}{
		{"13.0", nil, arr},
		{"14.0", map[string]kind{"active_ids_limit": num}, arr},
		{"15.0", map[string]kind{"active_ids_limit": num, "support_url": str, "max_file_upload_size": num, "home_action_id": boolean}, num},
	} {
		e.patchSettings(map[string]any{"odoo_version": v.version, "odoo_web_base_url": "https://erp.example.com/"})
		m := e.do("POST", "/session/auth/login", map[string]string{"login": "oli", "password": "oli-password"}).json(t)
		want := map[string]kind{}
		for k, t := range common {
			want[k] = t
		}
		for k, t := range v.extra {
			want[k] = t
		}
		for k, wt := range want {
			if got := typeOf(m[k]); got != wt {
				t.Errorf("%s: %s is %s (%v), want %s", v.version, k, got, m[k], wt)
			}
		}
		for k := range m {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: unexpected key %s", v.version, k)
			}
		}
		info := m["server_version_info"].([]any)
		if m["server_version"] != v.version || len(info) != 6 || info[3] != "final" || m["web.base.url"] != "https://erp.example.com" {
			t.Errorf("%s: version %v %v, base %v", v.version, m["server_version"], info, m["web.base.url"])
		}
		if got := typeOf(m["user_companies"].(map[string]any)["current_company"]); got != v.current {
			t.Errorf("%s: current_company is %s", v.version, got)
		}
	}
	if r := e.do("PATCH", "/v1/settings", map[string]any{"odoo_version": "16.0"}, bearerH(e.admin)); r.Status != 400 {
		t.Fatalf("unknown version: %d", r.Status)
	}
}

// TestJWT_SubStringAndUIDClaim: sub stays the decimal string (RFC 7519,
// PyJWT >= 2.10); uid carries the integer id jwt_provider's sub was.
func TestJWT_SubStringAndUIDClaim(t *testing.T) {
	e := newTestEnv(t)
	e.waitActiveKey()
	id := e.createUser("user@odoo.com", "user-password", nil)
	tok := e.jwtLogin("user@odoo.com", "user-password")
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["sub"] != itoa(id) || claims["uid"] != float64(id) {
		t.Fatalf("claims %v", claims)
	}
}
