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
