package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// activeKid reads the keyring's active kid as the admin sees it, polling
// until there is one (the leader seeds the key just after the admin).
func activeKid(t *testing.T, n *node, adminToken string) string {
	t.Helper()
	var kid string
	eventually(t, waitLong, "an active JWT key", func() error {
		req, _ := http.NewRequestWithContext(ctxT(t, 5*time.Second), "GET", n.apiURL+"/v1/keys", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		var out struct {
			Active string `json:"active_kid"`
		}
		if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != 200 || out.Active == "" {
			return fmt.Errorf("keys: %d %v %+v", res.StatusCode, err, out)
		}
		kid = out.Active
		return nil
	})
	return kid
}

// everywhere checks a token's validity on every node, consistently.
func everywhere(t *testing.T, nodes []*node, tok string, valid bool, what string) {
	t.Helper()
	for _, n := range nodes {
		_, err := n.client().Session(ctxT(t, 10*time.Second), tok, "consistent")
		if valid && err != nil || !valid && !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("%s on %s: %v (want valid=%v)", what, n.id, err, valid)
		}
	}
}

// Finding N5, end to end with the real binary on three nodes, the CLI
// pointed at a follower: log in, back up, log out; the restore's prompt
// says what the backup brings back, and "no" changes nothing; restored
// (by default) the token from before stays invalid on every node and a
// fresh signing key is active; restored with --keep-sessions it is valid
// again.
func TestCLI_RestoreEndsSessionsUnlessKept(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	leader, err := leaderOf(t, nodes)
	if err != nil {
		t.Fatal(err)
	}
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	admin := login(t, follower.client(), "admin", adminPassword)
	if _, err := follower.client().CreateUser(ctxT(t, 10*time.Second), admin.Token, client.NewUser{Login: "alice", Password: "alice-password-1"}); err != nil {
		t.Fatal(err)
	}
	alice := login(t, follower.client(), "alice", "alice-password-1").Token
	kidBefore := activeKid(t, follower, admin.Token)

	env := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+follower.apiURL)
	backup := filepath.Join(t.TempDir(), "b0.snap")
	if out, err := runCLI(t, env, "", "snapshot", "save", backup); err != nil {
		t.Fatalf("save: %v %s", err, out)
	}
	if err := follower.client().Logout(ctxT(t, 10*time.Second), alice); err != nil {
		t.Fatal(err)
	}
	everywhere(t, nodes, alice, false, "logged-out token")

	_, err = runCLI(t, env, "no\n", "snapshot", "restore", backup)
	if err == nil || !strings.Contains(err.Error(), "not confirmed") || !strings.Contains(err.Error(), "at least") ||
		!strings.Contains(err.Error(), "It brings back 1 ended sessions") || !strings.Contains(err.Error(), "come back as they were") {
		t.Fatalf("prompt answered no: %v", err)
	}
	everywhere(t, nodes, alice, false, "after a refused restore")

	out, err := runCLI(t, env, "yes\n", "snapshot", "restore", backup)
	if err != nil || !strings.Contains(out, "restored") || !strings.Contains(out, "new signing key") {
		t.Fatalf("restore: %v %s", err, out)
	}
	// Through a follower, the counts are those after the restore and after
	// ending its sessions: none is left (the CLI signs with the key).
	if !strings.Contains(out, ": 0 sessions, cluster at index") {
		t.Fatalf("restore through a follower answered counts from before it applied:\n%s", out)
	}
	everywhere(t, nodes, alice, false, "the backup's token after a default restore")
	admin = login(t, follower.client(), "admin", adminPassword)
	if kid := activeKid(t, leader, admin.Token); kid == kidBefore {
		t.Fatalf("the active key is still %s", kid)
	}

	out, err = runCLI(t, env, "", "snapshot", "restore", "--yes", "--keep-sessions", backup)
	if err != nil || !strings.Contains(out, "kept the backup's sessions") {
		t.Fatalf("restore --keep-sessions: %v %s", err, out)
	}
	everywhere(t, nodes, alice, true, "the backup's token after --keep-sessions")
}
