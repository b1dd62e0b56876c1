package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// TestMetrics_LintCleanOnThreeNodes scrapes /metrics of every node of a
// 3-node cluster that has replicated some writes (so Raft's own metrics,
// bridged from go-metrics, are there: leader and follower alike) and lints
// each exposition in-process with client_golang's promlint, the linter
// promtool itself runs; where promtool is installed (CI installs Debian's
// prometheus) `promtool check metrics` must pass too.
func TestMetrics_LintCleanOnThreeNodes(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t)
	c := nodes[1].client()
	for i := 0; i < 3; i++ { // writes through a follower: forwarded, replicated, applied everywhere
		res := login(t, c, "admin", adminPassword)
		if err := c.Logout(ctxT(t, 5*time.Second), res.Token); err != nil {
			t.Fatal(err)
		}
	}
	promtool, promErr := exec.LookPath("promtool")
	for _, n := range nodes {
		var text []byte
		// The Raft bridge's series appear as Raft emits them; wait until the
		// replication metrics are there on this node.
		eventually(t, waitLong, n.id+" raft metrics", func() error {
			var err error
			if text, err = scrape(n.metrics + "/metrics"); err != nil {
				return err
			}
			for _, want := range []string{"sessiond_raft_apply_total", "sessiond_raft_fsm_apply_seconds", "sessiond_cluster_leader"} {
				if n != nodes[0] && want == "sessiond_raft_apply_total" {
					continue // only the leader counts raft.apply
				}
				if !bytes.Contains(text, []byte(want)) {
					return fmt.Errorf("%s not exposed yet", want)
				}
			}
			return nil
		})
		problems, err := promlint.New(bytes.NewReader(text)).Lint()
		if err != nil {
			t.Fatalf("%s: promlint: %v", n.id, err)
		}
		for _, p := range problems {
			t.Errorf("%s: %s: %s", n.id, p.Metric, p.Text)
		}
		for _, line := range strings.Split(string(text), "\n") {
			name, _, _ := strings.Cut(strings.SplitN(line, " ", 2)[0], "{")
			if strings.ContainsAny(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") && !strings.HasPrefix(line, "#") {
				t.Errorf("%s: camelCase name left in /metrics: %s", n.id, line)
			}
		}
		if promErr != nil {
			continue
		}
		path := filepath.Join(t.TempDir(), n.id+".prom")
		if err := os.WriteFile(path, text, 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = f
		out, err := cmd.CombinedOutput()
		f.Close()
		if err != nil {
			t.Errorf("%s: promtool check metrics: %v\n%s", n.id, err, out)
		}
	}
	if promErr != nil {
		t.Log("promtool is not installed; linted in-process only (apt-get install prometheus; .ci/run does)")
	}
}

func scrape(url string) ([]byte, error) {
	res, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, res.Status)
	}
	return io.ReadAll(res.Body)
}
