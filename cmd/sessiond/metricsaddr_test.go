package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConfig_MetricsAddrAndToken: metrics default to their own loopback
// address; a scrape token comes from a file (or the variable), reaches
// the API's config, and one short enough to guess is refused, as is a
// malformed address.
func TestConfig_MetricsAddrAndToken(t *testing.T) {
	if c := parse(t, nil, mapEnv()); c.MetricsAddr != "127.0.0.1:9090" || c.MetricsToken != "" || c.apiConfig(nil).MetricsToken != "" {
		t.Fatalf("defaults: addr %q, token set %v", c.MetricsAddr, c.MetricsToken != "")
	}
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("scrape-token-0123456789\n"), 0o600)
	c := parse(t, []string{"--metrics-token-file", file, "--metrics-addr", "off"}, mapEnv())
	if c.apiConfig(nil).MetricsToken != "scrape-token-0123456789" || c.MetricsAddr != "off" {
		t.Fatalf("token file: %q", c.MetricsAddr)
	}
	for _, tc := range []struct {
		args []string
		env  Env
		want string
	}{
		{nil, mapEnv(envMetricsToken, "short"), "at least 16"},
		{[]string{"--metrics-addr", "9090"}, mapEnv(), "--metrics-addr"},
		{[]string{"--metrics-token", "x"}, mapEnv(), "not accepted as flags"},
	} {
		if _, err := parseServeConfig("serve", tc.args, tc.env, io.Discard, false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}
