package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secretValues are one good value per secret variable, each of which the
// serve configuration must accept.
var secretValues = map[string]string{
	envClusterKey:    testKey,
	envAdminPassword: "admin-pw-from-a-file",
	envJWTKey:        "jwt-key-from-a-file-0123456789abcdef",
	envSealKey:       "SKYtTah-acfNG8SD0omPvumHV0TBr6xA8csvlwNBFKQ", // from sessiond keygen: serve refuses weak seal keys
	envSealKeyOld:    "old-seal-key-from-a-file-012345",
	envMetricsToken:  "metrics-scrape-token-from-a-file",
}

// got reads back what the configuration holds for a secret variable.
func got(c Config, key string) string {
	switch key {
	case envClusterKey:
		return string(c.ClusterKey)
	case envAdminPassword:
		return string(c.AdminPassword)
	case envJWTKey:
		return string(c.JWTKey)
	case envSealKey:
		return string(c.Seal.Secret)
	case envMetricsToken:
		return c.apiConfig(nil).MetricsToken
	case envSealKeyOld:
		for _, o := range c.Seal.Old {
			if string(o) == secretValues[envSealKeyOld] {
				return string(o)
			}
		}
	}
	return ""
}

// TestSecrets_FileAndCredentialForms gives every secret through its
// <VAR>_FILE form and through a systemd credential file in
// $CREDENTIALS_DIRECTORY, with nothing in the environment: each must be
// read, and none may count as taken from the environment.
func TestSecrets_FileAndCredentialForms(t *testing.T) {
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	os.Mkdir(creds, 0o700)
	for key, val := range secretValues {
		os.WriteFile(filepath.Join(dir, key), []byte(val+"\n"), 0o600)
		os.WriteFile(filepath.Join(creds, credentialNames[key]), []byte(val+"\n"), 0o400)
	}
	data := filepath.Join(dir, "data")
	for key := range secretValues {
		for form, env := range map[string]Env{
			"_FILE":      mapEnv(key+"_FILE", filepath.Join(dir, key)),
			"credential": mapEnv(envCredentials, creds),
		} {
			c, err := parseServeConfig("serve", []string{"--data-dir", data}, env, os.Stderr, false)
			if err != nil {
				t.Fatalf("%s via %s: %v", key, form, err)
			}
			if got(c, key) != secretValues[key] {
				t.Errorf("%s via %s: not read", key, form)
			}
			if len(c.EnvSecrets) != 0 {
				t.Errorf("%s via %s: counted as from the environment: %v", key, form, c.EnvSecrets)
			}
		}
	}
	// A variable or _FILE wins over a credential; both a value and a
	// file stay an error.
	c := parse(t, []string{"--data-dir", data}, mapEnv(envCredentials, creds, envAdminPassword, "admin-pw-from-env"))
	if string(c.AdminPassword) != "admin-pw-from-env" || string(c.ClusterKey) != testKey {
		t.Errorf("precedence: admin %q", string(c.AdminPassword))
	}
	if _, err := parseServeConfig("serve", nil, mapEnv(envJWTKey, "x", envJWTKey+"_FILE", filepath.Join(dir, envJWTKey)), os.Stderr, false); err == nil {
		t.Error("a value and a file for one secret were both accepted")
	}
}

// TestSecrets_EnvironmentWarnsAndUnsets starts from real environment
// variables for every secret (as an operator who exported them would):
// serve's start-up must warn about each, naming its file form and never
// its value, and remove each from the process's environment.
func TestSecrets_EnvironmentWarnsAndUnsets(t *testing.T) {
	vals := map[string]string{envOdooJWTKey: "odoo-jwt-key-in-env-0123456789abcdef"}
	for k, v := range secretValues {
		if k != envJWTKey { // ODOO_JWT_KEY stands for it here
			vals[k] = v
		}
	}
	for k, v := range vals {
		t.Setenv(k, v)
	}
	c := parse(t, []string{"--data-dir", filepath.Join(t.TempDir(), "data")}, os.LookupEnv)
	if len(c.EnvSecrets) != len(vals) {
		t.Fatalf("secrets from the environment: %v", c.EnvSecrets)
	}
	var buf bytes.Buffer
	scrubEnvSecrets(slog.New(slog.NewTextHandler(&buf, nil)), c.EnvSecrets, os.Unsetenv)
	out := buf.String()
	for k, v := range vals {
		if _, still := os.LookupEnv(k); still {
			t.Errorf("%s is still in the environment", k)
		}
		want := k + "_FILE"
		if k == envOdooJWTKey {
			want = envJWTKey + "_FILE"
		}
		if !strings.Contains(out, "variable="+k) || !strings.Contains(out, want) {
			t.Errorf("no warning for %s naming %s:\n%s", k, want, out)
		}
		if strings.Contains(out, v) {
			t.Errorf("the warning shows the value of %s", k)
		}
	}
}
