package api

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// Attack: Go's decoder matches JSON keys without regard to case, so a
// second spelling of "admin" would override the first and the duplicate
// check must fold case. Every spelling is refused and no user is made.
func TestDecode_CaseFoldedDuplicateKeysRefused(t *testing.T) {
	e := newTestEnv(t)
	for i, body := range []string{
		`{"login":"m1","password":"mallory-password","admin":false,"ADMIN":true}`,
		`{"login":"m2","password":"mallory-password","admin":false,"Admin":true}`,
		"{\"login\":\"m3\",\"password\":\"mallory-password\",\"admin\":false,\"\u212Aey\":1,\"key\":2}",
		"{\"login\":\"m4\",\"password\":\"mallory-password\",\"pa\u017F\u017Fword\":\"x\"}",
	} {
		r := e.raw("POST", "/v1/users", body, "application/json", bearerH(e.admin))
		if r.Status != 400 || r.json(t)["error"].(map[string]any)["code"] != "bad_json" {
			t.Fatalf("body %d: %d %s", i, r.Status, r.Body)
		}
	}
	for _, u := range e.node.FSM().State().Users("") {
		if strings.HasPrefix(u.Login, "m") {
			t.Fatalf("user %s was created", u.Login)
		}
	}
	// Keys that differ otherwise are fine.
	if r := e.do("POST", "/v1/users", `{"login":"ok1","password":"fine-password","name":"n","email":"a@b.c"}`, bearerH(e.admin)); r.Status != 201 {
		t.Fatalf("distinct keys: %d %s", r.Status, r.Body)
	}
}

// Attack: 1,000 requests with made-up methods and paths must not add
// metric series: labels come only from route templates and fixed enums.
func TestMetrics_ClientCannotGrowSeries(t *testing.T) {
	e := newTestEnv(t)
	h := e.srv.Handler()
	send := func(i int) {
		method := fmt.Sprintf("X%08d", rand.Uint32())
		path := fmt.Sprintf("/%x/%d", rand.Uint64(), i)
		if i%2 == 0 {
			path = "/v1/session"
		}
		req := httptest.NewRequest(method, path, nil)
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	for i := 0; i < 10; i++ { // every label combination these requests can reach
		send(i)
	}
	before := testutil.CollectAndCount(e.srv.metrics.httpRequests) + testutil.CollectAndCount(e.srv.metrics.httpDuration)
	for i := 0; i < 1000; i++ {
		send(i)
	}
	after := testutil.CollectAndCount(e.srv.metrics.httpRequests) + testutil.CollectAndCount(e.srv.metrics.httpDuration)
	if after != before {
		t.Fatalf("series grew from %d to %d", before, after)
	}
	if n := testutil.ToFloat64(e.srv.metrics.httpRequests.WithLabelValues("unrouted", "other", "404")); n < 500 {
		t.Fatalf("made-up methods not labelled other: %v", n)
	}
}

// A client may ask for a stronger level than the node's, never a weaker
// one, unless the operator allows it: a ?consistency=stale request on a
// default node is answered at default.
func TestLevel_ClientCannotWeakenConsistency(t *testing.T) {
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprint("allow=", allow), func(t *testing.T) {
			e := newTestEnv(t, func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) { c.AllowWeakerConsistency = allow })
			tok := e.login("admin", testAdminPassword)
			count := func(level string) float64 {
				return testutil.ToFloat64(e.srv.metrics.validations.WithLabelValues("native", level, "hit"))
			}
			stale0, def0, cons0 := count("stale"), count("default"), count("consistent")
			for _, q := range []string{"?consistency=stale"} {
				if r := e.do("GET", "/v1/session"+q, nil, bearerH(tok)); r.Status != 200 {
					t.Fatalf("%d %s", r.Status, r.Body)
				}
			}
			if r := e.do("GET", "/v1/session", nil, bearerH(tok), "X-Sessiond-Consistency: stale"); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if r := e.do("GET", "/v1/session?consistency=consistent", nil, bearerH(tok)); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			stale, def, cons := count("stale")-stale0, count("default")-def0, count("consistent")-cons0
			if cons != 1 {
				t.Fatalf("stronger level not honoured: consistent %v", cons)
			}
			if allow && (stale != 2 || def != 0) || !allow && (stale != 0 || def != 2) {
				t.Fatalf("allow=%v: stale %v default %v", allow, stale, def)
			}
		})
	}
}

// X-Forwarded-For is believed only from a trusted proxy, and then only up
// to the rightmost address that is not a trusted proxy itself.
func TestClientAddr_TrustedProxies(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.7, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{cfg: Config{TrustedProxies: trusted}}
	for _, tt := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"198.51.100.1:1234", []string{"203.0.113.9"}, "198.51.100.1"},               // untrusted peer: header ignored
		{"10.1.2.3:1234", nil, "10.1.2.3"},                                           // trusted, no header
		{"10.1.2.3:1234", []string{"203.0.113.9"}, "203.0.113.9"},                    // one proxy
		{"10.1.2.3:1234", []string{"6.6.6.6, 203.0.113.9"}, "203.0.113.9"},           // spoofed left part ignored
		{"10.1.2.3:1234", []string{"6.6.6.6, 203.0.113.9, 10.9.9.9"}, "203.0.113.9"}, // two proxies
		{"10.1.2.3:1234", []string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},         // several header lines
		{"192.0.2.7:1", []string{"garbage"}, "192.0.2.7"},                            // garbled chain
		{"[fd00::1]:1", []string{"2001:db8::5"}, "2001:db8::5"},
		{"[::ffff:10.0.0.1]:1", []string{"203.0.113.9"}, "203.0.113.9"}, // v4-mapped peer
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		for _, v := range tt.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientAddr(r); got != tt.want {
			t.Errorf("%s %v: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
	if _, err := ParseTrustedProxies("10.0.0.0/33"); err == nil {
		t.Error("bad CIDR accepted")
	}
}

// Credentials and tokens in a URL end up in logs: every endpoint refuses
// them, in its dialect's shape; Odoo's session_id param stays where its
// seed names it.
func TestURLCredentials_Refused(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct{ method, path string }{
		{"POST", "/v1/login?password=x"},
		{"GET", "/v1/session?token=" + strings.Repeat("a", 64)},
		{"GET", "/v1/session?access_token=abc"},
		{"POST", "/v1/introspect?token=abc"},
		{"POST", "/auth/login/?password=x"},
		{"POST", "/api/login?email=a@b.c&password=x"},
		{"GET", "/api/me?session_id=abc"},
		{"POST", "/session/auth/login?password=x"},
	} {
		r := e.raw(c.method, c.path, "", "")
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s %s: %d %s", c.method, c.path, r.Status, r.Body)
		}
	}
	// The Odoo logout still takes the session_id param its seed names.
	sid := e.odooLogin("admin", testAdminPassword)
	if r := e.raw("POST", "/session/auth/logout?session_id="+sid, "", ""); r.Status != 200 {
		t.Fatalf("odoo logout by param: %d %s", r.Status, r.Body)
	}
}
