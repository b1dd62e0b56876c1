package api

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// TestMetrics_LintAndPresence lints every metric sessiond defines with
// client_golang's linter, checks the ones operators alert on are exposed,
// and that no label carries a user, token or address.
func TestMetrics_LintAndPresence(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("mia", "mia-password", nil)
	tok := e.login("mia", "mia-password")
	e.do("GET", "/v1/session", nil, bearerH(tok))
	e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok))
	e.do("POST", "/v1/login", map[string]string{"login": "mia", "password": "wrong-password"})
	e.do("POST", "/v1/logout", nil, bearerH(tok))

	mfs, err := e.srv.Registry().Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	ours := map[string]bool{}
	for _, mf := range mfs {
		ours[mf.GetName()] = true
	}
	problems, err := testutil.GatherAndLint(e.srv.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		// The Raft library's bridged metrics keep the library's names.
		if strings.HasPrefix(p.Metric, "sessiond_raft_") {
			continue
		}
		t.Errorf("metric lint: %s: %s", p.Metric, p.Text)
	}
	for _, name := range []string{
		"sessiond_http_requests_total", "sessiond_http_request_duration_seconds",
		"sessiond_validations_total", "sessiond_logins_total", "sessiond_logouts_total",
		"sessiond_sessions", "sessiond_users", "sessiond_hash_pool_in_use", "sessiond_hash_pool_waiting",
		"sessiond_ready", "sessiond_fsm_applied_index", "sessiond_fsm_apply_duration_seconds",
		"sessiond_cluster_leader", "sessiond_cluster_term", "sessiond_cluster_commit_index",
		"sessiond_cluster_last_contact_seconds", "sessiond_readindex_rounds_total", "sessiond_readindex_batch_size",
	} {
		if !ours[name] {
			t.Errorf("metric %s missing", name)
		}
	}
	res, err := http.Get(httptest.NewServer(e.srv.MetricsHandler()).URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, secret := range []string{tok, "mia-password", "127.0.0.1", "mia"} {
		if strings.Contains(string(body), secret) {
			t.Errorf("/metrics exposes %q", secret)
		}
	}
	if !strings.Contains(string(body), `sessiond_validations_total{dialect="native",level="consistent",result="hit"}`) {
		t.Error("consistent validation not counted")
	}
}

// TestMetrics_AnonymousGetsNoCounts is finding L7's probe: an anonymous
// GET /metrics on the API port, with no header, a wrong token, the
// token under another scheme, or a token one byte short, must carry no
// count (sessions, users, password checks); only the configured scrape
// token reads them there. With no token configured the route is 404.
func TestMetrics_AnonymousGetsNoCounts(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("mia", "mia-password", nil)
	e.login("mia", "mia-password")
	counts := []string{"sessiond_sessions", "sessiond_users", "sessiond_password_checks_total"}
	get := func(url string, hdr ...string) (int, string) {
		req, _ := http.NewRequest("GET", url+"/metrics", nil)
		for _, h := range hdr {
			if k, v, ok := strings.Cut(h, ": "); ok {
				req.Header.Set(k, v)
			}
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	leaks := func(body string) bool {
		for _, c := range counts {
			if strings.Contains(body, c) {
				return true
			}
		}
		return false
	}
	if code, body := get(e.URL); code != http.StatusNotFound || leaks(body) {
		t.Fatalf("no token configured: %d, counts shown: %v", code, leaks(body))
	}

	const token = "scrape-token-0123456789abcdef"
	tk := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.MetricsToken = token })
	for _, h := range []string{"", "Authorization: Bearer wrong-token", "Authorization: Basic " + token,
		"Authorization: Bearer " + token[:len(token)-1], "Authorization: Token " + token} {
		code, body := get(tk.URL, h)
		if code != http.StatusUnauthorized || leaks(body) {
			t.Errorf("%q: %d, counts shown: %v", h, code, leaks(body))
		}
	}
	if code, body := get(tk.URL, "Authorization: Bearer "+token); code != http.StatusOK || !strings.Contains(body, "sessiond_sessions") {
		t.Fatalf("scrape token: %d", code)
	}
}

// TestMetrics_EveryFamilyFromTheStart: on a node that has served no
// validation, logout or failed login, every labelled family already has
// its series at zero, so absent() alerts stay quiet and dashboards draw 0
// (docs/monitoring/alerts_test.yml tests the alerts on such a node).
func TestMetrics_EveryFamilyFromTheStart(t *testing.T) {
	e := newTestEnv(t)
	res, err := http.Get(httptest.NewServer(e.srv.MetricsHandler()).URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, series := range []string{
		`sessiond_validations_total{dialect="knox",level="stale",result="expired"}`,
		`sessiond_validations_total{dialect="native",level="default",result="hit"}`,
		`sessiond_logins_total{dialect="jwt",result="error"}`,
		`sessiond_logins_total{dialect="portal",result="bad_credentials"}`,
		`sessiond_logouts_total{dialect="odoo",kind="logoutall",result="error"}`,
		`sessiond_http_request_duration_seconds_count{route="GET /readyz"}`,
		`sessiond_http_requests_total{code="200",method="POST",route="POST /api/login"}`,
		`sessiond_internal_auth_failures_total{reason="bad_signature"}`,
		`sessiond_forwarded_writes_total{result="no_leader"}`,
		`sessiond_readindex_batch_size_count{role="forwarded"}`,
		`sessiond_fsm_apply_duration_seconds_count{command="retire_key"}`,
		`sessiond_password_checks_total{result="budget_spent"}`,
		`sessiond_second_factor_checks_total{method="totp",result="replayed"}`,
	} {
		if !strings.Contains(string(body), "\n"+series+" ") {
			t.Errorf("a fresh node lacks %s", series)
		}
	}
}
