package e2e

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// TestCLI_UserAndStatus drives `sessiond user ...` and `sessiond status`
// against a running node, as an operator would.
func TestCLI_UserAndStatus(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword))
	waitReady(t, n)
	login(t, n.client(), "admin", adminPassword) // the admin is seeded
	adminEnv := cleanEnv("SESSIOND_ADMIN_PASSWORD="+adminPassword, "SESSIOND_ADDR="+n.apiURL)

	// add: password from the environment
	out, err := runCLI(t, append(adminEnv, "SESSIOND_USER_PASSWORD=bob-password-1"), "", "user", "add", "bob", "--email", "bob@example.com")
	if err != nil || !strings.Contains(out, "created user bob") {
		t.Fatalf("user add: %v %q", err, out)
	}
	bob := login(t, n.client(), "bob", "bob-password-1")

	// passwd: password from stdin; it ends bob's sessions
	if out, err := runCLI(t, adminEnv, "bob-password-2\n", "user", "passwd", "bob"); err != nil || !strings.Contains(out, "password changed") {
		t.Fatalf("user passwd: %v %q", err, out)
	}
	if _, err := n.client().Session(ctxT(t, 5*time.Second), bob.Token, ""); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("session after password change: %v", err)
	}
	login(t, n.client(), "bob", "bob-password-2")

	// disable: bob can no longer log in
	if _, err := runCLI(t, adminEnv, "", "user", "disable", "bob"); err != nil {
		t.Fatalf("user disable: %v", err)
	}
	if _, err := n.client().Login(ctxT(t, 5*time.Second), client.LoginRequest{Login: "bob", Password: "bob-password-2"}); !errors.Is(err, client.ErrBadCredentials) {
		t.Fatalf("login of a disabled user: %v", err)
	}

	out, err = runCLI(t, adminEnv, "", "user", "list", "--json")
	var users []client.User
	if err != nil || json.Unmarshal([]byte(out), &users) != nil || len(users) != 2 || users[1].Login != "bob" || !users[1].Disabled {
		t.Fatalf("user list: %v %s", err, out)
	}
	// roles: the seeded admin is the cluster operator, bob is not; the
	// cluster key grants the role (break-glass), the operator takes it back
	if !users[0].Operator || users[1].Operator {
		t.Fatalf("roles in user list: %+v", users)
	}
	keyed := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+n.apiURL)
	if out, err := runCLI(t, keyed, "", "user", "operator", "bob"); err != nil || !strings.Contains(out, "is a cluster operator (break-glass") {
		t.Fatalf("user operator with the cluster key: %v %q", err, out)
	}
	if out, err := runCLI(t, adminEnv, "", "user", "list"); err != nil || !strings.Contains(out, "OPERATOR") {
		t.Fatalf("user list table: %v %q", err, out)
	}
	if out, err := runCLI(t, adminEnv, "", "user", "operator", "--revoke", "bob"); err != nil || !strings.Contains(out, "no longer a cluster operator") {
		t.Fatalf("user operator --revoke: %v %q", err, out)
	}

	// status with the cluster key, then as the admin; the table by default
	keyEnv := cleanEnv("SESSIOND_CLUSTER_KEY=" + clusterKey)
	out, err = runCLI(t, keyEnv, "", "status", "--addr", n.apiURL, "--json")
	var st struct {
		Leader  string `json:"leader"`
		Members []struct {
			ID     string  `json:"id"`
			Lag    *uint64 `json:"lag"`
			Status *struct {
				AppliedIndex uint64 `json:"applied_index"`
			} `json:"status"`
		} `json:"members"`
	}
	if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Leader != "node1" || len(st.Members) != 1 ||
		st.Members[0].Status == nil || st.Members[0].Status.AppliedIndex == 0 || st.Members[0].Lag == nil {
		t.Fatalf("status --json: %v %s", err, out)
	}
	out, err = runCLI(t, adminEnv, "", "status")
	if err != nil || !strings.Contains(out, "leader: node1") || !strings.Contains(out, "LAG") {
		t.Fatalf("status: %v %s", err, out)
	}

	// Failures exit non-zero and say why.
	if _, err := runCLI(t, cleanEnv("SESSIOND_ADDR="+n.apiURL), "", "status"); err == nil {
		t.Fatal("status without credentials succeeded")
	}
	if _, err := runCLI(t, cleanEnv(), "", "user", "add", "eve", "--password", "x"); err == nil || !strings.Contains(err.Error(), "not accepted as flags") {
		t.Fatalf("password flag: %v", err)
	}
	n.stop()
	assertNoSecrets(t, []string{n.LogPath}, []string{n.dataDir}, adminPassword, "bob-password-1", "bob-password-2", clusterKey)
}

// TestCLI_SettingsKeysNode drives `sessiond settings`, `sessiond keys` and
// `sessiond node` against a running node: one admin request each, its
// failure named after the subcommand.
func TestCLI_SettingsKeysNode(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword))
	waitReady(t, n)
	adminEnv := cleanEnv("SESSIOND_ADMIN_PASSWORD="+adminPassword, "SESSIOND_ADDR="+n.apiURL)

	if out, err := runCLI(t, adminEnv, "", "settings", "set", "signup_enabled=true"); err != nil || !strings.Contains(out, "signup_enabled") {
		t.Fatalf("settings set: %v %s", err, out)
	}
	var set map[string]any
	if out, err := runCLI(t, adminEnv, "", "settings", "get", "--json"); err != nil || json.Unmarshal([]byte(out), &set) != nil || set["signup_enabled"] != true {
		t.Fatalf("settings get: %v %s", err, out)
	}
	// Durations: set as one, shown as seconds and as a duration.
	if _, err := runCLI(t, adminEnv, "", "settings", "set", "odoo_ttl_seconds=720h"); err != nil {
		t.Fatalf("settings set a duration: %v", err)
	}
	if out, err := runCLI(t, adminEnv, "", "settings", "get"); err != nil || !strings.Contains(out, "2592000 (720h0m0s)") || strings.Contains(out, "e+06") {
		t.Fatalf("settings get shows durations: %v\n%s", err, out)
	}
	var key map[string]any
	out, err := runCLI(t, adminEnv, "", "keys", "add", "--alg", "EdDSA", "--activate=false", "--json")
	if err != nil || json.Unmarshal([]byte(out), &key) != nil || key["kid"] == nil {
		t.Fatalf("keys add: %v %s", err, out)
	}
	kid := key["kid"].(string)
	if out, err := runCLI(t, adminEnv, "", "keys", "list"); err != nil || !strings.Contains(out, kid) {
		t.Fatalf("keys list: %v %s", err, out)
	}
	if out, err := runCLI(t, adminEnv, "", "keys", "retire", kid); err != nil || !strings.Contains(out, kid) {
		t.Fatalf("keys retire: %v %s", err, out)
	}
	keyEnv := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+n.apiURL)
	if _, err := runCLI(t, keyEnv, "", "node", "remove", "nosuch"); err == nil || !strings.Contains(err.Error(), "node remove nosuch:") {
		t.Fatalf("node remove of a stranger: %v", err)
	}
	if _, err := runCLI(t, cleanEnv("SESSIOND_ADDR="+n.apiURL), "", "settings", "get"); err == nil || strings.Contains(err.Error(), "settings get:") {
		t.Fatalf("settings without credentials: %v", err)
	}
}

// TestCLI_FirstAdminWithClusterKey: a node bootstrapped with the cluster
// key and no admin password (the systemd unit without an admin-password
// credential) gets its first admin from `user add --admin
// --cluster-key-file`; it is the operator, the call is audited, and a
// second one is refused with 409 because an admin now exists.
func TestCLI_FirstAdminWithClusterKey(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey))
	waitReady(t, n)
	keyFile := filepath.Join(t.TempDir(), "cluster-key")
	if err := os.WriteFile(keyFile, []byte(clusterKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := cleanEnv("SESSIOND_ADDR="+n.apiURL, "SESSIOND_USER_PASSWORD=first-admin-password-1")
	if _, err := runCLI(t, env, "", "user", "add", "alice", "--cluster-key-file", keyFile); err == nil {
		t.Fatal("user add without --admin was accepted with the cluster key")
	}
	out, err := runCLI(t, env, "", "user", "add", "root", "--admin", "--cluster-key-file", keyFile)
	if err != nil || !strings.Contains(out, "created user root") || !strings.Contains(out, "operator yes") {
		t.Fatalf("first admin: %v %q", err, out)
	}
	login(t, n.client(), "root", "first-admin-password-1")
	out, err = runCLI(t, env, "", "user", "add", "mallory", "--admin", "--cluster-key-file", keyFile)
	if err == nil || !strings.Contains(out+err.Error(), "has an admin already") {
		t.Fatalf("a second first admin: %v %q", err, out)
	}
	eventually(t, waitLong, "first_admin audit lines", func() error {
		if log := n.Log(); !strings.Contains(log, "event=first_admin") || !strings.Contains(log, "result=admin_exists") {
			return errors.New("no first_admin audit lines with both outcomes")
		}
		return nil
	})
	// The admin password from the same environment now works for the CLI.
	adminEnv := cleanEnv("SESSIOND_ADDR="+n.apiURL, "SESSIOND_ADMIN_PASSWORD=first-admin-password-1", "SESSIOND_USER_PASSWORD=bob-password-1")
	if out, err := runCLI(t, adminEnv, "", "user", "add", "bob", "--admin-login", "root"); err != nil || !strings.Contains(out, "created user bob") {
		t.Fatalf("user add as the first admin: %v %q", err, out)
	}
}
