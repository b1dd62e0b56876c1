package e2e

import (
	"bytes"
	"github.com/sessiond/sessiond/cluster/reqsign"

	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// TestCLI_SnapshotSaveWipeRestore backs a node up with the CLI, wipes it
// (a new node on an empty data dir), restores the backup into it with the
// CLI, and checks every session is valid again; a corrupt file is refused
// before anything is sent. It also watches /readyz across a restart: not
// ready while the process is down or catching up, ready again after.
func TestCLI_SnapshotSaveWipeRestore(t *testing.T) {
	t.Parallel()
	env := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword)
	n := startNode(t, "node1", env)
	waitReady(t, n)
	admin := login(t, n.client(), "admin", adminPassword)
	var tokens []string
	for i := 0; i < 5; i++ {
		tokens = append(tokens, login(t, n.client(), "admin", adminPassword).Token)
	}
	keyEnv := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+n.apiURL)
	backup := filepath.Join(t.TempDir(), "sessiond.snap")
	if out, err := runCLI(t, keyEnv, "", "snapshot", "save", backup); err != nil || !strings.Contains(out, "saved") {
		t.Fatalf("snapshot save: %v %q", err, out)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v %v", err, st)
	}
	// An existing file is kept unless --force says otherwise.
	before, _ := os.ReadFile(backup)
	if _, err := runCLI(t, keyEnv, "", "snapshot", "save", backup); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("snapshot save over an existing file: %v", err)
	}
	if after, _ := os.ReadFile(backup); !bytes.Equal(before, after) {
		t.Fatal("a refused save changed the file")
	}
	if out, err := runCLI(t, keyEnv, "", "snapshot", "save", "--force", backup); err != nil || !strings.Contains(out, "saved") {
		t.Fatalf("snapshot save --force: %v %q", err, out)
	}

	// Readiness across a restart of the same node.
	n.stop()
	if err := n.client().Ready(ctxT(t, 2*time.Second)); err == nil {
		t.Fatal("a stopped node reports ready")
	}
	n.restart()
	waitReady(t, n)
	if _, err := n.client().Session(ctxT(t, 5*time.Second), tokens[0], "consistent"); err != nil {
		t.Fatalf("session after restart: %v", err)
	}

	// Wipe: a brand-new node with an empty data dir.
	fresh := startNode(t, "node1", env)
	waitReady(t, fresh)
	login(t, fresh.client(), "admin", adminPassword)
	if _, err := fresh.client().Session(ctxT(t, 5*time.Second), tokens[0], ""); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("a wiped node knows an old token: %v", err)
	}
	freshEnv := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+fresh.apiURL)

	corrupt := filepath.Join(t.TempDir(), "corrupt.snap")
	data, _ := os.ReadFile(backup)
	data[len(data)/2] ^= 0x20
	os.WriteFile(corrupt, data, 0o600)
	if _, err := runCLI(t, freshEnv, "", "snapshot", "restore", corrupt); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("corrupt restore: %v", err)
	}
	// The server refuses it too, with a clear error, if sent anyway.
	req, _ := http.NewRequest("POST", fresh.apiURL+"/v1/cluster/restore", strings.NewReader(string(data)))
	reqsign.Sign(req, reqsign.Key(clusterKey), fresh.id)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("server-side corrupt restore: %v %v", err, resp)
	}

	// Recovery onto a wiped node: the backup's sessions are wanted back.
	if out, err := runCLI(t, freshEnv, "yes\n", "snapshot", "restore", "--keep-sessions", backup); err != nil || !strings.Contains(out, "restored") {
		t.Fatalf("snapshot restore: %v %q", err, out)
	}
	for _, tok := range append(tokens, admin.Token) {
		if _, err := fresh.client().Session(ctxT(t, 5*time.Second), tok, "consistent"); err != nil {
			t.Fatalf("session lost across backup, wipe and restore: %v", err)
		}
	}
}
