package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// --audit-log FILE: the audit lines go to their own JSON file (0600),
// apart from the operational log, and hold no secret.
func TestAuditLog_OwnSink(t *testing.T) {
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	const pw = "audit-admin-password"
	n := startNode(t, "audit1", append(cleanEnv(), "SESSIOND_ADMIN_PASSWORD="+pw), "--audit-log", file)
	waitReady(t, n)
	tok := login(t, n.client(), "admin", pw).Token
	var lines []map[string]any
	eventually(t, 10*time.Second, "a login line in the audit file", func() error {
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		lines = lines[:0]
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("not one JSON object per line: %q", l)
			}
			lines = append(lines, m)
		}
		for _, m := range lines {
			if m["event"] == "login" && m["result"] == "ok" {
				return nil
			}
		}
		return os.ErrNotExist
	})
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(file)
	for _, secret := range []string{pw, tok} {
		if strings.Contains(string(b), secret) {
			t.Fatal("the audit file holds a secret")
		}
	}
	if strings.Contains(n.proc.Log(), "event=login") {
		t.Fatal("login audit lines still go to the operational log")
	}
}
