package faults

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// The short suite runs every scenario for FAULTS_DURATION (default 8s)
// against 3 nodes (FAULTS_NODES). FAULTS_SCENARIOS picks scenarios
// (comma-separated), FAULTS_NET forces "netns" or "loopback", FAULTS_KEEP=1
// keeps passing runs' directories. Failing runs are always kept and their
// directory is logged.

func TestMain(m *testing.M) {
	code := m.Run()
	proctest.RemoveBinaries()
	os.Exit(code)
}

// testBinary builds cmd/sessiond once per test process.
func testBinary(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := proctest.Binary(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func envDuration(t *testing.T, key string, def time.Duration) time.Duration {
	if v := os.Getenv(key); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", key, v, err)
		}
		return d
	}
	return def
}

func TestScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("fault scenarios start real clusters; skipped with -short")
	}
	scenarios := Scenarios
	if v := os.Getenv("FAULTS_SCENARIOS"); v != "" {
		scenarios = strings.Split(v, ",")
	}
	nodes := 3
	if v := os.Getenv("FAULTS_NODES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("FAULTS_NODES=%q: %v", v, err)
		}
		nodes = n
	}
	duration := envDuration(t, "FAULTS_DURATION", 8*time.Second)
	bin := testBinary(t)
	var (
		mu   sync.Mutex
		reps []*Report
	)
	// The scenarios run -parallel at a time (GOMAXPROCS, 2 on CI's
	// machine): each has its own cluster, data dirs and, in netns mode,
	// its own namespaces and bridge (netns.go claims a free run number),
	// and most of a scenario's time is its fault schedule, not CPU. The
	// group returns once every scenario has finished.
	t.Run("group", func(t *testing.T) {
		for _, sc := range scenarios {
			sc := strings.TrimSpace(sc)
			t.Run(sc, func(t *testing.T) {
				t.Parallel()
				if sc == ScDiskFull && os.Geteuid() != 0 {
					t.Skip("disk-full needs root for a size-limited tmpfs data dir")
				}
				dir, err := os.MkdirTemp("", "sessiond-faults-"+sc+"-")
				if err != nil {
					t.Fatal(err)
				}
				opts := DefaultOptions(sc)
				opts.Nodes, opts.Duration, opts.Binary, opts.Dir = nodes, duration, bin, dir
				opts.NetMode = os.Getenv("FAULTS_NET")
				opts.Log = func(format string, args ...any) { t.Logf(format, args...) }
				ctx, cancel := context.WithTimeout(context.Background(), duration+5*time.Minute)
				defer cancel()
				rep, err := Run(ctx, opts)
				if rep != nil {
					mu.Lock()
					reps = append(reps, rep)
					mu.Unlock()
					t.Logf("\n%s", Table([]*Report{rep}))
				}
				if err != nil {
					t.Fatalf("run failed: %v (kept in %s)", err, dir)
				}
				if !rep.Passed() {
					t.Fatalf("promises violated; history, logs and data kept in %s", dir)
				}
				if os.Getenv("FAULTS_KEEP") == "" {
					os.RemoveAll(dir)
				}
			})
		}
	})
	if len(reps) > 0 {
		t.Logf("mode %s\n%s", reps[0].Mode, summaryLine(reps))
	}
}

func summaryLine(reps []*Report) string {
	var b strings.Builder
	for _, r := range reps {
		res := "pass"
		if !r.Passed() {
			res = "FAIL"
		}
		fmt.Fprintf(&b, "  %-18s %s\n", r.Scenario, res)
	}
	return b.String()
}

// The proxy holds data on a cut link and delivers it after the heal,
// delays it by the link's latency, and tells senders apart by the bytes
// they send first (loopback mode).
func TestProxy_CutLatencyAndSniff(t *testing.T) {
	up, err := listenLocal()
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c) // echo
			}()
		}
	}()
	ln, err := listenLocal()
	if err != nil {
		t.Fatal(err)
	}
	links := newLinkState()
	ids := [][]byte{[]byte("node-01"), []byte("node-02")}
	p := newProxy(1, ln, up.Addr().String(), links, true, func(_ net.Conn, first []byte) (int, bool) { return sniffSender(first, ids) })
	defer p.close()

	c := dialT(t, ln.Addr().String())
	defer c.Close()
	if _, err := c.Write([]byte("\x00hdr node-01 hello")); err != nil {
		t.Fatal(err)
	}
	readWant(t, c, "\x00hdr node-01 hello", 5*time.Second)

	links.setCut(0, 1, true)
	c.Write([]byte("held"))
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, _ := c.Read(make([]byte, 16)); n != 0 {
		t.Fatalf("data crossed a cut link")
	}
	links.setCut(0, 1, false)
	readWant(t, c, "held", 5*time.Second)

	links.setLatency(0, 1, 200*time.Millisecond)
	start := time.Now()
	c.Write([]byte("slow"))
	readWant(t, c, "slow", 5*time.Second)
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("latency not applied: round trip %v", d)
	}
}

func TestHistory_SaveLoadRoundTrip(t *testing.T) {
	h := cleanHistory()
	path := filepath.Join(t.TempDir(), "h.json")
	if err := h.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Ops) != len(h.Ops) || got.Ops[9].Return != Open || !got.Base.Equal(h.Base) {
		t.Fatalf("round trip changed the history")
	}
	wantResult(t, CheckLinearizable(got, 10*time.Second, ""), Pass)
}

func listenLocal() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// readWant reads until want arrived or the deadline passed.
func readWant(t *testing.T, c net.Conn, want string, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	defer c.SetReadDeadline(time.Time{})
	got := make([]byte, 0, len(want))
	buf := make([]byte, 64)
	for len(got) < len(want) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			t.Fatalf("read %q so far, want %q: %v", got, want, err)
		}
	}
	if string(got) != want {
		t.Fatalf("read %q, want %q", got, want)
	}
}

// sniffSender tells the proxy test's two senders apart by a name in
// their first bytes.
func sniffSender(first []byte, ids [][]byte) (int, bool) {
	for i, id := range ids {
		if len(id) > 0 && bytes.Contains(first, id) {
			return i, true
		}
	}
	return -1, false
}
