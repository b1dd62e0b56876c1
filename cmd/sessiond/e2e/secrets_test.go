package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecrets_EnvWarnedCredentialsQuiet runs the real binary twice: with
// the cluster key and admin password in its environment (the log must
// warn about each, naming the _FILE form, and show neither value), and
// with both as systemd credentials in $CREDENTIALS_DIRECTORY (as the
// packaged unit's LoadCredential= hands them over): the node uses them
// (the admin logs in with the credential's password) and warns nothing.
func TestSecrets_EnvWarnedCredentialsQuiet(t *testing.T) {
	t.Parallel()
	n := startNode(t, "env1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword))
	waitReady(t, n)
	login(t, n.client(), "admin", adminPassword)
	logText, _ := os.ReadFile(n.LogPath)
	for _, v := range []string{"SESSIOND_CLUSTER_KEY", "SESSIOND_ADMIN_PASSWORD"} {
		if !strings.Contains(string(logText), "variable="+v) || !strings.Contains(string(logText), v+"_FILE") {
			t.Errorf("no warning for %s in the log:\n%s", v, logText)
		}
	}
	for _, s := range []string{clusterKey, adminPassword} {
		if strings.Contains(string(logText), s) {
			t.Fatal("the log shows a secret")
		}
	}

	creds := t.TempDir()
	os.WriteFile(filepath.Join(creds, "cluster-key"), []byte(clusterKey+"\n"), 0o400)
	os.WriteFile(filepath.Join(creds, "admin-password"), []byte(adminPassword+"\n"), 0o400)
	c := startNode(t, "cred1", cleanEnv("CREDENTIALS_DIRECTORY="+creds))
	waitReady(t, c)
	login(t, c.client(), "admin", adminPassword)
	logText, _ = os.ReadFile(c.LogPath)
	if !strings.Contains(string(logText), "cluster_key_set=true") || strings.Contains(string(logText), "secret taken from the environment") {
		t.Errorf("credentials: key not used, or a warning:\n%s", logText)
	}
}
