package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
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

// TestAudit_OneShape: every audit line names its node once, who acted
// (actor), what it acted on (target, for an admin's or the cluster key's
// change) and its outcome (result); a user_create line names the login.
func TestAudit_OneShape(t *testing.T) {
	buf := &lockedBuf{}
	e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.AuditLog = slog.New(slog.NewJSONHandler(buf, nil)).With("component", "audit")
	})
	id := e.createUser("nina", "nina-password", nil)
	e.login("nina", "nina-password")
	r := e.do("POST", "/v1/keys", map[string]any{"alg": "HS256", "activate": false}, bearerH(e.admin))
	kid, _ := r.json(t)["kid"].(string)
	if r := e.do("DELETE", "/v1/keys/"+kid, nil, bearerH(e.admin)); r.Status != 204 {
		t.Fatalf("retire: %d %s", r.Status, r.Body)
	}
	want := map[string]map[string]string{
		"user_create": {"target": fmt.Sprintf("user:%d", id), "login": "nina"},
		"login":       {"actor": fmt.Sprintf("user:%d", id)},
		"key_add":     {"target": "key:" + kid},
		"key_retire":  {"target": "key:" + kid},
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if n := strings.Count(line, `"node":`); n != 1 {
			t.Errorf("%d node keys: %s", n, line)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatal(err)
		}
		if m["actor"] == nil || m["result"] == nil {
			t.Errorf("no actor or result: %s", line)
		}
		ev, _ := m["event"].(string)
		if ev == "login" && fmt.Sprint(m["user_id"]) != fmt.Sprint(id) {
			continue // the admin's own login
		}
		if w, ok := want[ev]; ok && m["result"] == "ok" {
			seen[ev] = true
			for k, v := range w {
				if fmt.Sprint(m[k]) != v {
					t.Errorf("%s: %s = %v, want %s: %s", ev, k, m[k], v, line)
				}
			}
		}
		if strings.HasPrefix(ev, "key_") || ev == "user_create" {
			if a, _ := m["actor"].(string); !strings.HasPrefix(a, "user:") {
				t.Errorf("%s: actor %q, want the admin", ev, a)
			}
		}
	}
	for ev := range want {
		if !seen[ev] {
			t.Errorf("no %s line", ev)
		}
	}
}
