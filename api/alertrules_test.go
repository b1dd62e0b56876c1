package api

import (
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// TestMonitoring_AlertRuleTests runs the unit tests of the alert rules
// (docs/monitoring/alerts_test.yml) with `promtool test rules` where
// promtool is installed (CI installs Debian's prometheus), and checks
// everywhere that every alert of alerts.yml has a test that fires it.
func TestMonitoring_AlertRuleTests(t *testing.T) {
	rules, err := os.ReadFile("../docs/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("../docs/monitoring/alerts_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	// A test that fires an alert names it and then lists exp_labels.
	fired := map[string]bool{}
	for _, m := range regexp.MustCompile(`alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels`).FindAllSubmatch(tests, -1) {
		fired[string(m[1])] = true
	}
	alerts := regexp.MustCompile(`(?m)^\s*- alert: (\w+)`).FindAllSubmatch(rules, -1)
	if len(alerts) == 0 {
		t.Fatal("alerts.yml defines no alert")
	}
	for _, m := range alerts {
		if !fired[string(m[1])] {
			t.Errorf("alert %s has no test in alerts_test.yml that fires it", m[1])
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus; .ci/run does): rule tests not run")
	}
	out, err := exec.Command(promtool, "test", "rules", "../docs/monitoring/alerts_test.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// TestMonitoring_AbsentAlertsQuietOnFreshNode: every family an absent()
// alert watches is exported by a node that has served nothing yet, so
// those alerts stay quiet on a new cluster (and alerts_test.yml's quiet
// case is what a fresh node really exports).
func TestMonitoring_AbsentAlertsQuietOnFreshNode(t *testing.T) {
	rules, err := os.ReadFile("../docs/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	watched := regexp.MustCompile(`absent\((\w+)`).FindAllSubmatch(rules, -1)
	if len(watched) == 0 {
		t.Fatal("alerts.yml has no absent() alert")
	}
	e := newTestEnv(t)
	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range mfs {
		exported[mf.GetName()] = len(mf.GetMetric()) > 0
	}
	for _, m := range watched {
		if !exported[string(m[1])] {
			t.Errorf("a fresh node does not export %s, which an absent() alert watches", m[1])
		}
	}
}
