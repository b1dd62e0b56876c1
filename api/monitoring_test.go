package api

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var metricRef = regexp.MustCompile(`sessiond_[a-z_]+`)

// TestMonitoring_DashboardAndAlertsUseRealMetrics checks that every metric
// the Grafana dashboard and the alert rules query is one sessiond exposes,
// and, where promtool is installed (CI installs Debian's prometheus), that
// the rules are valid.
func TestMonitoring_DashboardAndAlertsUseRealMetrics(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("ops", "ops-password", nil)
	e.login("ops", "ops-password")
	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, mf := range mfs {
		exposed[mf.GetName()] = true
	}
	dash, err := os.ReadFile("../docs/monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var parsed map[string]any
	if err := json.Unmarshal(dash, &parsed); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	rules, err := os.ReadFile("../docs/monitoring/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	for file, text := range map[string][]byte{"dashboard": dash, "alerts": rules} {
		refs := metricRef.FindAllString(string(text), -1)
		if len(refs) == 0 {
			t.Fatalf("%s queries no sessiond metric", file)
		}
		for _, name := range refs {
			base := name
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				if !exposed[base] {
					base = strings.TrimSuffix(base, suf)
				}
			}
			if !exposed[base] {
				t.Errorf("%s queries %s, which sessiond does not expose", file, name)
			}
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Log("promtool not installed; rule syntax not checked here (CI installs it)")
		return
	}
	out, err := exec.Command(promtool, "check", "rules", "../docs/monitoring/alerts.yml").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
