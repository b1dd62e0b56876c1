package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// runScript runs a script of scripts/ from the module root.
func runScript(t *testing.T, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", args...)
	cmd.Dir, cmd.Env = moduleRoot, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// TestScripts_ClusterAndSmoke runs what the README shows: cluster.sh
// start, status, smoke.sh, stop, start again from the data, smoke.sh,
// clean. The cluster lives in a temporary CLUSTER_DIR on free ports.
func TestScripts_ClusterAndSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a three-node cluster")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("the scripts need curl")
	}
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "cluster")
	api, raft, metrics := freePorts(t, 3), freePorts(t, 3), freePorts(t, 3)
	env := cleanEnv("CLUSTER_DIR="+dir, "CLUSTER_API_PORT="+strconv.Itoa(api), "CLUSTER_RAFT_PORT="+strconv.Itoa(raft),
		"CLUSTER_METRICS_PORT="+strconv.Itoa(metrics),
		"CLUSTER_ARGS="+strings.Join(fastArgs, " "), "SESSIOND_ADMIN_PASSWORD="+adminPassword)
	t.Cleanup(func() { // whatever happens, no node outlives the test
		for i := 1; i <= 3; i++ {
			if pid, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("node%d.pid", i))); err == nil {
				if p, err := strconv.Atoi(strings.TrimSpace(string(pid))); err == nil {
					if proc, err := os.FindProcess(p); err == nil {
						proc.Kill()
					}
				}
			}
		}
	})
	node2 := fmt.Sprintf("http://127.0.0.1:%d", api+1)

	out := runScript(t, env, "scripts/cluster.sh", "start")
	if !strings.Contains(out, "cluster ready") || !strings.Contains(out, adminPassword) {
		t.Fatalf("start:\n%s", out)
	}
	out = runScript(t, env, "scripts/cluster.sh", "status")
	for _, want := range []string{"node1", "node2", "node3", "leader"} {
		if !strings.Contains(out, want) || strings.Contains(out, "unreachable") {
			t.Fatalf("status:\n%s", out)
		}
	}
	if out := runScript(t, env, "scripts/smoke.sh", node2); !strings.Contains(out, "all steps passed") {
		t.Fatalf("smoke:\n%s", out)
	}
	// One node at a time: the rest keep serving.
	if out := runScript(t, env, "scripts/cluster.sh", "restart", "2"); !strings.Contains(out, "node2 stopped") || !strings.Contains(out, "node2 ready") {
		t.Fatalf("restart 2:\n%s", out)
	}
	runScript(t, env, "scripts/cluster.sh", "stop")
	out = runScript(t, env, "scripts/cluster.sh", "start")
	if !strings.Contains(out, "cluster ready") {
		t.Fatalf("second start:\n%s", out)
	}
	if out := runScript(t, env, "scripts/smoke.sh", node2); !strings.Contains(out, "all steps passed") {
		t.Fatalf("smoke after restart:\n%s", out)
	}
	runScript(t, env, "scripts/cluster.sh", "clean")
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("clean left %s: %v", dir, err)
	}
}
