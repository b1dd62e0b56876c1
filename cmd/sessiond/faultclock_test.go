package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The fault suite steps a node's clock by rewriting its --fault-clock-file;
// the node must follow the file, and a missing or bad file must leave the
// last good offset in place rather than jump back to zero.
func TestFaultClockFile_FollowsSteps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	c := &fileClock{path: path, base: time.Now()}
	near := func(want time.Duration) {
		t.Helper()
		got := time.Until(c.now())
		if d := got - want; d < -200*time.Millisecond || d > 200*time.Millisecond {
			t.Fatalf("offset %v, want about %v", got, want)
		}
	}
	step := func(text string) {
		t.Helper()
		if text != "" {
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		c.next.Store(0) // re-read now, not in up to 100 ms
	}
	step("")
	near(0) // no file yet: the real clock
	step("-2s\n")
	near(-2 * time.Second)
	step("3s")
	near(3 * time.Second)
	step("not a duration")
	near(3 * time.Second)
}
