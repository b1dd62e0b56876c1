package e2e

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestPrometheus_ScrapesThreeNodes runs scripts/prometheus.sh: a real
// Prometheus server (Debian's package, installed by .ci/run) scrapes a
// 3-node loopback cluster on each node's metrics address (--metrics-addr;
// the API port serves no metrics); every target must be up with exactly
// one leader, and the alert rules must load.
func TestPrometheus_ScrapesThreeNodes(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Skip("prometheus is not installed (apt-get install prometheus; .ci/run does)")
	}
	base := freePorts(t, 3)
	raft := freePorts(t, 3)
	metrics := freePorts(t, 3)
	prom := freePorts(t, 1)
	cmd := exec.Command("bash", "scripts/prometheus.sh")
	cmd.Dir = moduleRoot
	cmd.Env = cleanEnv(
		"CLUSTER_API_PORT="+strconv.Itoa(base), "CLUSTER_RAFT_PORT="+strconv.Itoa(raft), "PROM_PORT="+strconv.Itoa(prom),
		"CLUSTER_METRICS_PORT="+strconv.Itoa(metrics),
	)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "3/3 targets up") {
		t.Fatalf("prometheus.sh: %v\n%s", err, out)
	}
	t.Log(strings.TrimSpace(string(out)))
}
