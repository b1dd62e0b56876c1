package cluster

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The flood of TestRaftAuth_IdleFloodDoesNotBlockElections runs in a
// process of its own, as the attacker runs on a host of its own in finding
// N1: thousands of its goroutines in the nodes' process would compete with
// the nodes for the Go scheduler, and the test would measure that.

const (
	envFloodTargets = "SESSIOND_TEST_FLOOD_TARGETS"
	envFloodStats   = "SESSIOND_TEST_FLOOD_STATS"
)

// floodProcess is the running attacker.
type floodProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	stats func() (opened, open int64)
}

// startFloodProcess runs this test binary's TestFloodProcess against
// targets; it stops when the test ends.
func startFloodProcess(t *testing.T, targets []string) *floodProcess {
	t.Helper()
	statsFile := filepath.Join(t.TempDir(), "flood-stats")
	cmd := exec.Command(os.Args[0], "-test.run=^TestFloodProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envFloodTargets+"="+strings.Join(targets, ","), envFloodStats+"="+statsFile)
	cmd.Stdout, cmd.Stderr = testLog{t}, testLog{t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &floodProcess{cmd: cmd, stdin: stdin}
	f.stats = func() (opened, open int64) {
		b, _ := os.ReadFile(statsFile)
		fmt.Sscan(string(b), &opened, &open)
		return opened, open
	}
	t.Cleanup(func() {
		stdin.Close() // the attacker stops at EOF on its stdin
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	return f
}

// TestFloodProcess is the attacker's side, run only by startFloodProcess:
// it floods the targets until its stdin closes, and writes how many
// connections it opened and holds to the stats file.
func TestFloodProcess(t *testing.T) {
	targets, statsFile := os.Getenv(envFloodTargets), os.Getenv(envFloodStats)
	if targets == "" || statsFile == "" {
		t.Skip("the attacker process of TestRaftAuth_IdleFloodDoesNotBlockElections")
	}
	f := startFlood(strings.Split(targets, ","))
	defer f.stop()
	parentGone := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(parentGone) }()
	report := time.NewTicker(50 * time.Millisecond) // a report interval, not synchronisation
	defer report.Stop()
	for {
		tmp := statsFile + ".tmp"
		os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d", f.opened.Load(), f.open.Load())), 0o600)
		os.Rename(tmp, statsFile)
		select {
		case <-parentGone:
			return
		case <-report.C:
		}
	}
}
