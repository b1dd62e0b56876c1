package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every planted bug still applies: each edit's text occurs exactly once
// in its file. A change that moves the text makes the mutant stale (the
// runner reports it, but only when someone runs the whole catalogue);
// this catches it in every test run instead.
func TestCatalogue_EveryEditApplies(t *testing.T) {
	for _, m := range Catalogue {
		for _, e := range m.Edits {
			b, err := os.ReadFile(filepath.Join("..", "..", e.File))
			if err != nil {
				t.Errorf("%s: %v", m.Name, err)
				continue
			}
			if n := strings.Count(string(b), e.Find); n != 1 {
				t.Errorf("%s: its edit of %s finds its text %d times, not once: update the mutant with the code", m.Name, e.File, n)
			}
		}
	}
}

// Every mutant is run by something: a scenario or a unit test, and a
// named unit test exists in its package (a renamed test would otherwise
// make its mutant "stale" only when someone runs -unit).
func TestCatalogue_EveryMutantHasACatcher(t *testing.T) {
	for _, m := range Catalogue {
		if len(m.Scenarios) == 0 && m.Unit == nil {
			t.Errorf("%s names neither a scenario nor a unit test", m.Name)
		}
		if m.Unit == nil {
			continue
		}
		dir := filepath.Join("..", "..", filepath.FromSlash(m.Unit.Pkg))
		files, _ := filepath.Glob(filepath.Join(dir, "*_test.go"))
		for _, name := range strings.Split(m.Unit.Run, "|") {
			found := false
			for _, f := range files {
				b, _ := os.ReadFile(f)
				found = found || strings.Contains(string(b), "func "+name+"(t *testing.T)")
			}
			if !found {
				t.Errorf("%s: no test %s in %s", m.Name, name, m.Unit.Pkg)
			}
		}
	}
}
