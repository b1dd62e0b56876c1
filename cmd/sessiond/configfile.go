package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/peterbourgon/ff/v3/fftoml"
)

// configFlagValue finds --config FILE (or -config=FILE) on the command
// line before it is parsed: the file has to be applied first, so that
// the environment and the command line override it.
func configFlagValue(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// applyConfigFile sets flags from a TOML file whose keys are the flag
// names (node-id = "n1", hash-memory = 19456). A secret is refused there
// as on the command line: a config file is copied, shared and committed
// far more often than an environment; point at a file with
// cluster-key-file and its kin instead. Unknown keys are errors, so a
// typo does not silently leave a default in place.
func applyConfigFile(fs *flag.FlagSet, file string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	err = fftoml.Parser(f, func(name, value string) error {
		if use, ok := secretFlags[name]; ok {
			return fmt.Errorf("%w: %q in a config file; use %s", ErrSecretFlag, name, use)
		}
		if name == "config" || name == "print-config" || fs.Lookup(name) == nil {
			return fmt.Errorf("unknown setting %q (settings are named like serve's flags; see sessiond serve --help)", name)
		}
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		var pe fftoml.ParseError
		if errors.As(err, &pe) {
			err = pe.Inner
		}
		return fmt.Errorf("config file %s: %w", file, err)
	}
	return nil
}

// printConfig writes the effective configuration as a config file that
// `--config` reads back: every flag with its value after file, env and
// command line, the derived bootstrap and api-url, and for each secret
// only whether it is set.
func printConfig(w io.Writer, fs *flag.FlagSet, c Config) {
	derived := map[string]string{"bootstrap": strconv.FormatBool(c.Bootstrap), "api-url": c.APIURL}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || f.Name == "print-config" {
			return
		}
		v := f.Value.String()
		if d, ok := derived[f.Name]; ok {
			v = d
		}
		if v == "" && f.DefValue == "" {
			// Unset and empty by default: reading the file back gives the
			// same, and a repeatable flag (--portal-cookie-domain) refuses
			// an empty value.
			return
		}
		lines = append(lines, f.Name+" = "+tomlValue(v))
	})
	sort.Strings(lines)
	fmt.Fprintln(w, "# effective configuration of sessiond; secrets are never shown")
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	for _, s := range []struct {
		env string
		v   secret
	}{{envClusterKey, c.ClusterKey}, {envClusterKeyOld, c.ClusterKeyOld}, {envAdminPassword, c.AdminPassword}, {envJWTKey, c.JWTKey}, {envMetricsToken, c.MetricsToken}} {
		state := "not set"
		if s.v != "" {
			state = "set, " + s.v.String()
		}
		fmt.Fprintf(w, "# %s: %s\n", s.env, state)
	}
}

// tomlValue quotes what TOML would not read bare.
func tomlValue(v string) string {
	if v == "true" || v == "false" {
		return v
	}
	if _, err := strconv.ParseInt(v, 10, 64); err == nil {
		return v
	}
	return strconv.Quote(v)
}
