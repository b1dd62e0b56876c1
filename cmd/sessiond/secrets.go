package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Secrets reach a node in one of three ways, best first:
//
//   - a systemd credential: a file in $CREDENTIALS_DIRECTORY named as in
//     credentialNames (LoadCredential=cluster-key:/etc/sessiond/cluster-key),
//     readable by the service alone and never in its environment;
//   - a file named by <VAR>_FILE or the matching --*-file flag;
//   - the variable itself. Environment variables of a process are readable
//     in /proc/PID/environ by its user (and by root) for its whole life,
//     and os.Unsetenv cannot change that block: the kernel keeps the
//     initial one. So serve warns about each secret taken from the
//     environment, naming the file form, and unsets it so that nothing
//     the process starts or logs later inherits it (finding L9).

// envCredentials is set by systemd for a unit with LoadCredential= or
// SetCredential=.
const envCredentials = "CREDENTIALS_DIRECTORY"

// credentialNames are the systemd credential names of the secrets.
var credentialNames = map[string]string{
	envClusterKey:    "cluster-key",
	envClusterKeyOld: "cluster-key-old",
	envAdminPassword: "admin-password",
	envJWTKey:        "jwt-key",
	envSealKey:       "seal-key",
	envSealKeyOld:    "seal-key-old",
	envMetricsToken:  "metrics-token",
}

// envSecretVars are the variables that carry secrets, in the order the
// start-up warnings name them.
var envSecretVars = []string{envClusterKey, envClusterKeyOld, envAdminPassword, envJWTKey, envOdooJWTKey, envSealKey, envSealKeyOld, envMetricsToken}

// fileFormOf is what to use instead of a secret's variable.
func fileFormOf(key string) string {
	if key == envOdooJWTKey {
		key = envJWTKey
	}
	return key + "_FILE or the systemd credential " + credentialNames[key]
}

// readSecret returns the secret in the environment variable key, or in
// the file named by file (a --*-file flag) or by key_FILE, or else in the
// systemd credential of the same name. Giving both a value and a file is
// an error: which one wins would be a guess.
func readSecret(env Env, key, file string) (secret, error) {
	val, hasVal := env(key)
	if file == "" {
		file, _ = env(key + "_FILE")
	}
	if hasVal && val != "" && file != "" {
		return "", fmt.Errorf("both %s and a file for it are set; give one", key)
	}
	if hasVal && val != "" {
		return secret(val), nil
	}
	if file == "" {
		file = credentialFile(env, key)
	}
	if file == "" {
		return "", nil
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("reading %s file: %w", key, err)
	}
	v := strings.TrimRight(string(data), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s file %s is empty", key, file)
	}
	return secret(v), nil
}

// credentialFile is the systemd credential file for key, or "" when the
// service has none by that name.
func credentialFile(env Env, key string) string {
	dir, _ := env(envCredentials)
	name, ok := credentialNames[key]
	if dir == "" || !ok {
		return ""
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// secretsInEnv lists the secret variables set in env, which serve warns
// about and unsets.
func secretsInEnv(env Env) []string {
	var out []string
	for _, k := range envSecretVars {
		if v, ok := env(k); ok && v != "" {
			out = append(out, k)
		}
	}
	return out
}

// scrubEnvSecrets warns about each secret serve took from the environment
// and removes it from the process's environment (unsetenv is os.Unsetenv
// outside tests). The warning names the variable and its file form, never
// the value.
func scrubEnvSecrets(log *slog.Logger, vars []string, unsetenv func(string) error) {
	for _, k := range vars {
		log.Warn("secret taken from the environment: other processes of this user can read it in /proc/PID/environ "+
			"for the life of the process; use a file instead", "variable", k, "use", fileFormOf(k))
		if err := unsetenv(k); err != nil {
			log.Warn("could not unset a secret variable", "variable", k, "err", err)
		}
	}
}
