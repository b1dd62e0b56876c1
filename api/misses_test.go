package api

import (
	"net/http"
	"strings"
	"testing"
)

// Issue 23: a miss never writes. Validating a token the node does not
// hold, or authenticating a service client id it does not know, confirms
// the miss with a read index (cluster/protocol.go, I7) and appends no log
// entry: before, each miss committed a barrier, so anonymous clients
// sending unknown tokens made the leader fsync. The test counts Raft's
// last index, which sees barriers the FSM's applied index does not.
func TestMisses_AppendNoLogEntry(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ann", "ann-password", nil)
	id, secret := e.newClient("")
	// Tokens that were real and are ended: well formed, in no store.
	native := e.login("ann", "ann-password")
	knox := e.knoxLogin("ann", "ann-password")
	odoo := e.odooLogin("ann", "ann-password")
	for _, r := range []resp{
		e.do("POST", "/v1/logout", nil, bearerH(native)),
		e.raw("POST", "/auth/logout/", "", "", tokenH(knox)),
		e.raw("POST", "/session/auth/logout", "", "", "X-Openerp-Session-Id: "+odoo),
	} {
		if r.Status >= 300 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
	}
	unknownClient := strings.Repeat("a", 32)
	before := e.node.Raft().LastIndex()
	for range 20 {
		for name, r := range map[string]resp{
			"native whoami":       e.do("GET", "/v1/session", nil, bearerH(native)),
			"forward auth":        e.authzDo("GET", "/v1/authz", bearerH(native)),
			"knox":                e.raw("POST", "/auth/logoutall/", "", "", tokenH(knox)),
			"odoo forward auth":   e.authzDo("GET", "/v1/authz", "X-Openerp-Session-Id: "+odoo),
			"introspect, unknown": e.raw("POST", "/v1/introspect", form("token", native), formCT, "Authorization: Basic "+basic(id, secret)),
			"unknown client":      e.raw("POST", "/v1/introspect", form("token", native, "client_id", unknownClient, "client_secret", secret), formCT),
		} {
			switch {
			case name == "introspect, unknown" && (r.Status != http.StatusOK || r.json(t)["active"] != false):
				t.Fatalf("%s: %d %s", name, r.Status, r.Body)
			case name != "introspect, unknown" && r.Status != http.StatusUnauthorized:
				t.Fatalf("%s: %d, want 401: %s", name, r.Status, r.Body)
			}
		}
	}
	if after := e.node.Raft().LastIndex(); after != before {
		t.Fatalf("120 misses appended %d log entries (last index %d → %d)", after-before, before, after)
	}
}
