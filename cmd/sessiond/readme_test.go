package main

import (
	"flag"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// readmeOnlyForTests are serve flags the README leaves out on purpose.
var readmeOnlyForTests = map[string]bool{"fault-clock-file": true}

// readmeRefused are flags the README names as refused (secrets).
var readmeRefused = map[string]bool{"cluster-key": true}

// TestREADME_FlagTableMatchesBinary: every flag of `sessiond serve` is in
// the README's Configuration section (its table, or the secrets table for
// the *-file flags), no row names a flag the binary lacks, and where a
// row gives one backticked default per flag, each is the flag's default.
func TestREADME_FlagTableMatchesBinary(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Configuration")
	if start < 0 {
		t.Fatal("README has no Configuration section")
	}
	section := text[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	fs := newServeParser("serve", io.Discard).fs
	flagRe := regexp.MustCompile("`--([a-z0-9-]+)")
	mentioned := map[string]bool{}
	for _, m := range flagRe.FindAllStringSubmatch(section, -1) {
		mentioned[m[1]] = true
		if fs.Lookup(m[1]) == nil && !readmeRefused[m[1]] {
			t.Errorf("README's Configuration names --%s, which sessiond serve does not have", m[1])
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !mentioned[f.Name] && !readmeOnlyForTests[f.Name] {
			t.Errorf("--%s (%s) is missing from README's Configuration section", f.Name, f.Usage)
		}
	})
	defRe := regexp.MustCompile("`([^`]*)`")
	for _, line := range strings.Split(section, "\n") {
		cols := strings.Split(line, "|")
		if len(cols) < 4 || !strings.Contains(cols[1], "`--") {
			continue
		}
		names := flagRe.FindAllStringSubmatch(cols[1], -1)
		defs := defRe.FindAllStringSubmatch(cols[2], -1)
		if len(defs) != len(names) || strings.TrimSpace(defRe.ReplaceAllString(cols[2], "")) != strings.Repeat(",", len(names)-1) {
			continue // a default in words ("CPUs", "the bound address"): not compared
		}
		for i, n := range names {
			if f := fs.Lookup(n[1]); f != nil && !sameDefault(f.DefValue, defs[i][1]) {
				t.Errorf("README: --%s defaults to `%s`, the binary to %q", n[1], defs[i][1], f.DefValue)
			}
		}
	}
}

// sameDefault compares a flag's default with the README's: durations by
// value (2m is 2m0s); an empty default is a computed one ("http[s]://<api-addr>").
func sameDefault(flagDef, readme string) bool {
	if flagDef == readme || flagDef == "" {
		return true
	}
	a, err1 := time.ParseDuration(flagDef)
	b, err2 := time.ParseDuration(readme)
	return err1 == nil && err2 == nil && a == b
}

// TestMakefile_TestIsTheREADMECommand: `make test` runs the README's test
// command, which .ci/run runs too, and `make check` the fast tier.
func TestMakefile_TestIsTheREADMECommand(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)## Test it\\s+```sh\\n([^\\n]+)\\n```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README's Test it section has no command")
	}
	cmd := string(m[1])
	for _, f := range []string{"../../Makefile", "../../.ci/run"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "\n\t"+cmd+"\n") && !strings.Contains(string(b), "\n"+cmd+"\n") {
			t.Errorf("%s does not run the README's test command %q", f, cmd)
		}
	}
	if b, _ := os.ReadFile("../../Makefile"); !strings.Contains(string(b), "check:\n\tscripts/check.sh\n") {
		t.Error("make check is not scripts/check.sh")
	}
}
