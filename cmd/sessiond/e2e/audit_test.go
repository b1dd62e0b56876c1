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
	t.Parallel()
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
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if c := strings.Count(l, `"node":`); c != 1 {
			t.Errorf("an audit line names its node %d times: %s", c, l)
		}
	}
	for _, secret := range []string{pw, tok} {
		if strings.Contains(string(b), secret) {
			t.Fatal("the audit file holds a secret")
		}
	}
	if strings.Contains(n.proc.Log(), "event=login") {
		t.Fatal("login audit lines still go to the operational log")
	}
}

// TestAuditLog_ClusterKeyCallsInMainJSONLog: without --audit-log, a
// cluster-key call's audit line is a line of the main JSON log with its
// own fields (not text inside the Raft logger's detail); `sessiond
// status` is not break-glass, an unlock with the key is.
func TestAuditLog_ClusterKeyCallsInMainJSONLog(t *testing.T) {
	t.Parallel()
	n := startNode(t, "auditjson", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword), "--log-format", "json")
	waitReady(t, n)
	keyed := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+n.apiURL)
	if _, err := runCLI(t, keyed, "", "status"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, keyed, "", "user", "unlock", "admin"); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"GET /v1/cluster": false, "POST /v1/cluster/unlock": true}
	eventually(t, 10*time.Second, "cluster_key_call lines in the JSON log", func() error {
		found := 0
		for _, l := range strings.Split(n.Log(), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) != nil || m["event"] != "cluster_key_call" {
				continue
			}
			bg, ok := want[m["target"].(string)]
			if !ok {
				continue
			}
			if m["break_glass"] != bg || m["actor"] != "cluster_key" || m["node"] != "auditjson" || m["result"] != "ok" {
				t.Fatalf("audit line %s", l)
			}
			found++
		}
		if found < len(want) {
			return os.ErrNotExist
		}
		return nil
	})
	if strings.Contains(n.Log(), `"detail":"audit`) || strings.Contains(n.Log(), `event=cluster_key_call`) {
		t.Fatal("a cluster-key audit line is text inside another line")
	}
}
