package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// TestCLI_SnapshotInspectChecksMAC is finding N12's attack on the
// offline tools: a real backup is altered in the ways an attacker would
// (a flipped byte, a changed snapshot re-checksummed under the old MAC
// trailer, the MAC trailer cut off) and each copy is inspected with and
// without the cluster key. Only the untouched file passes; without the
// key the tool says the MAC was not checked instead of "valid", and the
// restore prompt shows the same verdict.
func TestCLI_SnapshotInspectChecksMAC(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword))
	waitReady(t, n)
	login(t, n.client(), "admin", adminPassword)
	dir := t.TempDir()
	keyEnv := cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADDR="+n.apiURL)
	good := filepath.Join(dir, "good.snap")
	if out, err := runCLI(t, keyEnv, "", "snapshot", "save", good); err != nil {
		t.Fatalf("snapshot save: %v %q", err, out)
	}
	data, _ := os.ReadFile(good)
	payload, _, err := transport.SplitBackup(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	flipped := bytes.Clone(data)
	flipped[payload/2] ^= 0x20
	st, index, err := fsm.ReadSnapshot(bytes.NewReader(data[:payload]))
	if err != nil {
		t.Fatal(err)
	}
	var rechecked bytes.Buffer // a new index, a fresh checksum, the old MAC
	fsm.WriteState(st, index+1000, &rechecked)
	rechecked.Write(data[payload:])
	keyFile := write("cluster-key", []byte(clusterKey+"\n"))
	noKey := cleanEnv()
	withKey := cleanEnv("SESSIOND_CLUSTER_KEY=" + clusterKey)

	for _, tc := range []struct {
		name, path string
		env        []string
		args       []string
		ok         bool
		want       string
	}{
		{"valid, key in env", good, withKey, nil, true, "valid, MAC verified"},
		{"valid, key file", good, noKey, []string{"--cluster-key-file", keyFile}, true, "valid, MAC verified"},
		{"valid, no key", good, noKey, nil, true, "structure valid, MAC not checked"},
		{"flipped byte, key", write("flipped.snap", flipped), withKey, nil, false, "does not verify"},
		{"flipped byte, no key", filepath.Join(dir, "flipped.snap"), noKey, nil, false, "does not verify"},
		{"re-checksummed, key", write("rechecked.snap", rechecked.Bytes()), withKey, nil, false, "MAC does not verify"},
		{"re-checksummed, no key", filepath.Join(dir, "rechecked.snap"), noKey, nil, true, "MAC not checked"},
		{"MAC stripped, key", write("stripped.snap", data[:payload]), withKey, nil, false, "MAC was stripped"},
		{"MAC stripped, no key", filepath.Join(dir, "stripped.snap"), noKey, nil, false, "MAC was stripped"},
	} {
		args := append(append([]string{"snapshot", "inspect"}, tc.args...), tc.path)
		out, err := runCLI(t, tc.env, "", args...)
		got := out
		if err != nil {
			got = err.Error()
		}
		if (err == nil) != tc.ok || !strings.Contains(got, tc.want) {
			t.Errorf("%s: exit ok=%v, want %v; output %q, want %q", tc.name, err == nil, tc.ok, got, tc.want)
		}
		if tc.ok && strings.Contains(got, ": valid\n") {
			t.Errorf("%s: the old bare \"valid\" verdict: %q", tc.name, got)
		}
	}

	// The restore prompt gives the same verdict, and a file that fails
	// the MAC is refused before the prompt, with nothing sent. Without the
	// key the CLI signs in as the operator: the node's own check of the
	// file comes before the prompt too.
	_, err = runCLI(t, cleanEnv("SESSIOND_ADDR="+n.apiURL, "SESSIOND_ADMIN_PASSWORD="+adminPassword), "no\n", "snapshot", "restore", good)
	if err == nil || !strings.Contains(err.Error(), "MAC not checked") || !strings.Contains(err.Error(), "not confirmed") {
		t.Errorf("restore prompt without a key: %v", err)
	}
	_, err = runCLI(t, keyEnv, "no\n", "snapshot", "restore", good)
	if err == nil || !strings.Contains(err.Error(), "valid, MAC verified") {
		t.Errorf("restore prompt with the key: %v", err)
	}
	_, err = runCLI(t, keyEnv, "yes\n", "snapshot", "restore", filepath.Join(dir, "rechecked.snap"))
	if err == nil || !strings.Contains(err.Error(), "nothing was sent") || strings.Contains(err.Error(), "Type yes") {
		t.Errorf("restore of a re-checksummed file: %v", err)
	}
}
