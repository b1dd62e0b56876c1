package api

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// auditRecorder keeps the audit records the handlers write from their own
// goroutines, each as its attributes.
type auditRecorder struct {
	mu      sync.Mutex
	records []map[string]any
}

func (a *auditRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (a *auditRecorder) WithAttrs([]slog.Attr) slog.Handler       { return a }
func (a *auditRecorder) WithGroup(string) slog.Handler            { return a }

func (a *auditRecorder) Handle(_ context.Context, r slog.Record) error {
	m := map[string]any{}
	r.Attrs(func(at slog.Attr) bool { m[at.Key] = at.Value.Any(); return true })
	a.mu.Lock()
	defer a.mu.Unlock()
	a.records = append(a.records, m)
	return nil
}

func (a *auditRecorder) events() []map[string]any {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]any(nil), a.records...)
}

// Every kind of audit line (a dialect's login, an admin change, the
// break-glass unlock) ends with its outcome: "ok" or the stable code.
func TestAudit_EveryLineSaysHowItEnded(t *testing.T) {
	rec := &auditRecorder{}
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.AuditLog = slog.New(rec)
	})
	e.createUser("olga", "olga-password", nil)
	e.login("olga", "olga-password")
	if r := e.do("POST", "/v1/login", map[string]string{"login": "olga", "password": "wrong-password"}); r.Status != 401 {
		t.Fatalf("bad login: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/cluster/unlock", map[string]string{"login": "olga"}, "Authorization: Bearer "+e.admin); r.Status != 200 {
		t.Fatalf("unlock: %d %s", r.Status, r.Body)
	}
	if r := e.do("POST", "/v1/cluster/unlock", map[string]string{"login": "nobody"}, "Authorization: Bearer "+e.admin); r.Status != 404 {
		t.Fatalf("unlock of nobody: %d %s", r.Status, r.Body)
	}
	want := []struct{ event, result string }{
		{"user_create", "ok"}, {"login", "ok"}, {"login", "bad_credentials"},
		{"user_unlock", "ok"}, {"user_unlock", "user_not_found"},
	}
	var got []map[string]any
	for _, m := range rec.events() {
		if m["event"] != "login" || m["user_id"] != uint64(1) { // not the admin's own login
			got = append(got, m)
		}
	}
	for i, w := range want {
		if i >= len(got) || got[i]["event"] != w.event || got[i]["result"] != w.result {
			t.Fatalf("audit line %d: want %s %s, got %v", i, w.event, w.result, got)
		}
	}
}
