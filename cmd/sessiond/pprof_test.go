package main

import (
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The profiler has no authentication, so an address other machines could
// reach is refused at start-up, and a loopback one serves the profiles.
func TestPprof_LoopbackOnly(t *testing.T) {
	for _, bad := range []string{"0.0.0.0:6060", ":6060", "192.0.2.1:6060", "[::]:6060"} {
		if err := checkPprofAddr(bad); err == nil || !strings.Contains(err.Error(), "not loopback") {
			t.Errorf("--pprof-addr %s accepted (err %v)", bad, err)
		}
	}
	if err := checkPprofAddr(""); err != nil {
		t.Errorf("off by default: %v", err)
	}
	var logs strings.Builder
	hs, err := startPprof("127.0.0.1:0", slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	addr := regexp.MustCompile(`pprof=(\S+)`).FindStringSubmatch(logs.String())
	if addr == nil {
		t.Fatalf("bound address not logged: %s", logs.String())
	}
	resp, err := http.Get("http://" + addr[1] + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "goroutine") {
		t.Fatalf("pprof index: %d %.200s", resp.StatusCode, body)
	}
}
