package api

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// TestKeys_DialectKeyRefusedThenDegraded: retiring or revoking the only
// key the Odoo JWT dialect signs with (the native API having moved to
// EdDSA) is refused with 409 dialect_key naming the key and what to add
// first; once another HS256 key exists it goes ahead. A dialect left
// without a key anyway (here: a RetireKey entry applied behind the API's
// back, as an older binary's leader would) is logged once, audited on
// each refused login, and /readyz says degraded.
func TestKeys_DialectKeyRefusedThenDegraded(t *testing.T) {
	logs := &lockedBuf{}
	audit := &auditRecorder{}
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.Logger, c.AuditLog = slog.New(slog.NewTextHandler(logs, nil)), slog.New(audit)
	})
	hs := e.waitActiveKey()
	if r := e.do("POST", "/v1/keys", map[string]any{"alg": "EdDSA", "activate": true}, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("add EdDSA: %d %s", r.Status, r.Body)
	}
	e.createUser("user@odoo.com", "user-password", nil)
	e.jwtLogin("user@odoo.com", "user-password")
	for _, req := range [][2]string{{"DELETE", "/v1/keys/" + hs}, {"POST", "/v1/keys/" + hs + "/revoke"}} {
		r := e.do(req[0], req[1], nil, bearerH(e.admin))
		m := r.json(t)
		em, _ := m["error"].(map[string]any)
		if r.Status != 409 || em["code"] != "dialect_key" || !strings.Contains(em["message"].(string), hs) ||
			!strings.Contains(em["message"].(string), "add one first") {
			t.Fatalf("%s %s: %d %s", req[0], req[1], r.Status, r.Body)
		}
	}
	if r := e.do("GET", "/readyz", nil); r.Status != 200 || r.json(t)["status"] != "ready" {
		t.Fatalf("readyz with a serving dialect: %d %s", r.Status, r.Body)
	}

	// Behind the API's back: the dialect has no key left.
	if _, err := e.node.Apply(t.Context(), &fsm.RetireKey{Kid: hs, At: time.Now().UnixNano()}); err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/readyz", nil)
	if m := r.json(t); r.Status != 200 || m["status"] != "degraded" || !strings.Contains(string(r.Body), "jwt:") {
		t.Fatalf("readyz with a dead dialect: %d %s", r.Status, r.Body)
	}
	for range 3 {
		if r := e.do("POST", "/api/login", map[string]string{"email": "user@odoo.com", "password": "user-password"}); r.Status != 503 {
			t.Fatalf("JWT login without a key: %d %s", r.Status, r.Body)
		}
	}
	if down := strings.Count(logs.String(), "the Odoo JWT dialect cannot sign"); down != 1 {
		t.Errorf("%d log lines say the dialect cannot sign, want 1", down)
	}
	refused := 0
	for _, a := range audit.events() {
		if a["event"] == "login" && a["result"] == "no_signing_key" {
			refused++
		}
	}
	if refused != 3 {
		t.Errorf("%d audit lines for the refused JWT logins, want 3", refused)
	}

	// Another HS256 key: the dialect signs again, and the old key may go.
	if r := e.do("POST", "/v1/keys", map[string]any{"alg": "HS256", "activate": false}, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("add HS256: %d %s", r.Status, r.Body)
	}
	if r := e.do("GET", "/readyz", nil); r.json(t)["status"] != "ready" {
		t.Fatalf("readyz after adding a key: %s", r.Body)
	}
	if r := e.do("POST", "/v1/keys/"+hs+"/revoke", nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("revoke once another HS256 key exists: %d %s", r.Status, r.Body)
	}
}

// lockedBuf is a log destination the node's goroutines share.
type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
