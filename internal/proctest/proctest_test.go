package proctest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestModuleRoot_SkipsTheBenchModule(t *testing.T) {
	want, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{".", "../../scripts/bench", "../../scripts/bench/wrk"} {
		abs, _ := filepath.Abs(dir)
		got, err := ModuleRoot(abs)
		if err != nil || got != want {
			t.Errorf("ModuleRoot(%s) = %q, %v; want %q", dir, got, err, want)
		}
	}
	if _, err := ModuleRoot(t.TempDir()); err == nil {
		t.Errorf("ModuleRoot found a module above a temp dir")
	}
}

func TestPorts_DisjointAndLockedAcrossProcesses(t *testing.T) {
	a, err := Ports(3)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Ports(3)
	if err != nil {
		t.Fatal(err)
	}
	if a < PortLow || a+3 > PortHigh || b < PortLow || b+3 > PortHigh {
		t.Fatalf("ports %d, %d outside %d-%d", a, b, PortLow, PortHigh)
	}
	if a < b+3 && b < a+3 {
		t.Fatalf("ranges overlap: %d and %d", a, b)
	}
	// Another process's flock on the same file fails; a second open file
	// description in this process behaves the same way.
	dir := filepath.Join(os.TempDir(), "sessiond-proctest-ports-"+strconv.Itoa(os.Getuid()))
	for p := a; p < a+3; p++ {
		if f, ok := lockPort(dir, p); ok {
			f.Close()
			t.Fatalf("port %d not locked", p)
		}
	}
}

func TestNode_Args(t *testing.T) {
	got := Node{Subcommand: "serve", ID: "n1", DataDir: "/d", APIAddr: "127.0.0.1:1", APIURL: "http://127.0.0.1:1",
		RaftAddr: "127.0.0.1:2", RaftAdvertise: "127.0.0.1:3", HeartbeatTimeout: time.Second, ElectionTimeout: 2 * time.Second,
		FastHash: true, LogLevel: "info", Join: "http://x", Extra: []string{"--max-stale", "1s"}}.Args()
	want := []string{"serve", "--node-id", "n1", "--data-dir", "/d", "--api-addr", "127.0.0.1:1", "--api-url", "http://127.0.0.1:1",
		"--raft-addr", "127.0.0.1:2", "--raft-advertise", "127.0.0.1:3", "--heartbeat-timeout", "1s", "--election-timeout", "2s",
		"--hash-memory", "64", "--hash-time", "1", "--log-level", "info", "--join", "http://x", "--max-stale", "1s"}
	if !slices.Equal(got, want) {
		t.Fatalf("Args() =\n%q\nwant\n%q", got, want)
	}
	if got := (Node{}).Args(); len(got) != 0 {
		t.Fatalf("empty node has args %q", got)
	}
	want = []string{"--heartbeat-timeout", "500ms", "--election-timeout", "500ms", "--hash-memory", "64", "--hash-time", "1"}
	if got := FastArgs(); !slices.Equal(got, want) {
		t.Fatalf("FastArgs() = %q", got)
	}
}

func TestCleanEnv_DropsSessiondSettings(t *testing.T) {
	t.Setenv("SESSIOND_NODE_ID", "x")
	t.Setenv("ODOO_JWT_KEY_FILE", "/k")
	env := CleanEnv("SESSIOND_ADDR=y")
	for _, kv := range env {
		if strings.HasPrefix(kv, "SESSIOND_NODE_ID=") || strings.HasPrefix(kv, "ODOO_JWT_KEY") {
			t.Errorf("kept %s", kv)
		}
	}
	if env[len(env)-1] != "SESSIOND_ADDR=y" {
		t.Errorf("extra not appended: %q", env[len(env)-1])
	}
}

// exits records OnExit calls.
type exits struct {
	mu  sync.Mutex
	got []bool
}

func (e *exits) on(_ error, expected bool) {
	e.mu.Lock()
	e.got = append(e.got, expected)
	e.mu.Unlock()
}
func (e *exits) list() []bool { e.mu.Lock(); defer e.mu.Unlock(); return slices.Clone(e.got) }

func TestProc_StopKillRestartAndExitByItself(t *testing.T) {
	var ex exits
	p := &Proc{Name: "sh", Bin: "/bin/sh", LogPath: filepath.Join(t.TempDir(), "sh.log"), OnExit: ex.on,
		Args: []string{"-c", `trap 'echo bye; exit 0' TERM; echo hi; while :; do sleep 0.05; done`}}
	p.StartT(t)
	ctx := context.Background()
	logHas := func(s string) func() error {
		return func() error {
			if !strings.Contains(p.Log(), s) {
				return errors.New("not in the log yet")
			}
			return nil
		}
	}
	if err := p.Wait(ctx, 10*time.Second, "hi", logHas("hi")); err != nil {
		t.Fatal(err)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(p.Log(), "bye") || p.Running() {
		t.Fatalf("no clean stop: running %v, log %q", p.Running(), p.Log())
	}
	if err := p.Stop(time.Second); !errors.Is(err, ErrAlreadyExited) {
		t.Fatalf("second Stop: %v", err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err == nil {
		t.Fatal("started twice")
	}
	if err := p.Kill(); err != nil || p.Running() {
		t.Fatalf("kill: %v, running %v", err, p.Running())
	}
	if n := strings.Count(p.Log(), "=== proctest: start"); n != 2 || p.Starts() != 2 {
		t.Fatalf("%d start markers, %d starts", n, p.Starts())
	}

	// A process that exits by itself ends a Wait at once, with its log.
	p.Args = []string{"-c", "echo listen tcp: address already in use; exit 3"}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err := p.Wait(ctx, time.Minute, "ready", func() error { return errors.New("never") })
	if err == nil || !strings.Contains(err.Error(), "exited") || !strings.Contains(err.Error(), "port was taken") ||
		!strings.Contains(err.Error(), "address already in use") || time.Since(start) > 10*time.Second {
		t.Fatalf("Wait on an exited process: %v after %v", err, time.Since(start))
	}
	<-p.Done()
	if got := ex.list(); !slices.Equal(got, []bool{true, true, false}) {
		t.Fatalf("OnExit expected flags %v", got)
	}
}

func TestPoll_Deadline(t *testing.T) {
	start := time.Now()
	err := Poll(context.Background(), 200*time.Millisecond, "never", func() error { return errors.New("nope") })
	if err == nil || !strings.Contains(err.Error(), "not within 200ms: nope") || time.Since(start) > 5*time.Second {
		t.Fatalf("Poll: %v after %v", err, time.Since(start))
	}
	n := 0
	if err := Poll(context.Background(), 10*time.Second, "third try", func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Fatalf("Poll: %v after %d tries", err, n)
	}
}
