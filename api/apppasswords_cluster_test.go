package api

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// TestAppPasswords_RevokeEndsSessionsCluster is the attack of issue 26's
// review: a knox token and an Odoo session made with an app password on
// one node outlived the app password's revocation. Now the revocation
// (sent to another node) is acknowledged only once it ends them, so
// right after its 204 every node of three refuses both, and the user's
// own sessions made otherwise stay.
func TestAppPasswords_RevokeEndsSessionsCluster(t *testing.T) {
	opt := func(_ *cluster.Config, a *auth.ServiceConfig, c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		a.Limiter.Burst = 1000
	}
	a := newTestEnv(t, opt)
	b := joinTestEnv(t, a, "t2", opt)
	c := joinTestEnv(t, a, "t3", opt)
	a.createUser("kim", "kim-password-123", nil)
	own := a.login("kim", "kim-password-123")
	r := a.do("POST", "/v1/me/app-passwords", map[string]string{"name": "knox client"}, bearerH(own))
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	ap := r.json(t)["password"].(string)
	id := r.json(t)["app_password"].(map[string]any)["id"].(string)
	knox, sid := a.knoxLogin("kim", ap), a.odooLogin("kim", ap)
	nodes := []*testEnv{a, b, c}
	valid := func(e *testEnv, tok string) int {
		return e.do("GET", "/v1/session", nil, bearerH(tok)).Status
	}
	waitFor(t, "the app password's sessions on every node", func() bool {
		for _, e := range nodes {
			if valid(e, knox) != 200 || valid(e, sid) != 200 {
				return false
			}
		}
		return true
	})
	if r := b.do("DELETE", "/v1/me/app-passwords/"+id, nil, bearerH(own)); r.Status != http.StatusNoContent {
		t.Fatalf("revoke on another node: %d %s", r.Status, r.Body)
	}
	for i, e := range nodes { // no polling: the 204 came after every node applied it
		if st := valid(e, knox); st != http.StatusUnauthorized {
			t.Errorf("node %d: the knox token of a revoked app password: %d", i+1, st)
		}
		if st := valid(e, sid); st != http.StatusUnauthorized {
			t.Errorf("node %d: the Odoo session of a revoked app password: %d", i+1, st)
		}
		if st := valid(e, own); st != http.StatusOK {
			t.Errorf("node %d: the password's own session: %d", i+1, st)
		}
	}
	if r := c.raw("POST", "/auth/logout/", "", "", tokenH(knox)); r.Status != http.StatusUnauthorized {
		t.Errorf("knox itself still knows the token: %d %s", r.Status, r.Body)
	}
}
