package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The forward-auth flags reach the API's configuration, and a bad rules
// file refuses to start instead of failing open.
func TestConfig_AuthzFlags(t *testing.T) {
	rules := filepath.Join(t.TempDir(), "rules.json")
	os.WriteFile(rules, []byte(`{"rules":[{"prefix":"/admin","admin":true}]}`), 0o600)
	c, err := parseServeConfig("serve", []string{"--data-dir", t.TempDir(), "--authz-login-url", "https://login.example/",
		"--authz-redirect-hosts", "app.example, other.example", "--authz-rules", rules}, mapEnv(), io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	ac := c.apiConfig(nil)
	if ac.AuthzLoginURL != "https://login.example/" || strings.Join(ac.AuthzRedirectHosts, "|") != "app.example|other.example" || len(ac.AuthzRules) != 1 {
		t.Fatalf("api config %q %q %v", ac.AuthzLoginURL, ac.AuthzRedirectHosts, ac.AuthzRules)
	}
	os.WriteFile(rules, []byte(`{"rules":[{"prefix":"/admin","admn":true}]}`), 0o600)
	if _, err := parseServeConfig("serve", []string{"--data-dir", t.TempDir(), "--authz-rules", rules}, mapEnv(), io.Discard, false); err == nil {
		t.Fatal("a rules file with an unknown key was accepted")
	}
}

// --jwt-cors-origins reaches the API's configuration; an origin that is
// not scheme://host[:port] refuses to start.
func TestConfig_JWTCORSOrigins(t *testing.T) {
	c, err := parseServeConfig("serve", []string{"--data-dir", t.TempDir(), "--jwt-cors-origins", "https://app.example, http://localhost:3000"},
		mapEnv(), io.Discard, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.apiConfig(nil).JWTCORSOrigins, "|"); got != "https://app.example|http://localhost:3000" {
		t.Fatalf("origins %q", got)
	}
	if c, _ := parseServeConfig("serve", []string{"--data-dir", t.TempDir()}, mapEnv(), io.Discard, false); len(c.apiConfig(nil).JWTCORSOrigins) != 0 {
		t.Fatal("CORS origins by default")
	}
	for _, bad := range []string{"app.example", "https://app.example/path", "*.example.com"} {
		if _, err := parseServeConfig("serve", []string{"--data-dir", t.TempDir(), "--jwt-cors-origins", bad}, mapEnv(), io.Discard, false); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
