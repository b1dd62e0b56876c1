package fsm

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkRestoredHeapPerSession is issue 16's measure: the live heap a
// *restored* state costs per session (users and every index included), and
// how long persisting (write + fsync to a file) and restoring take per
// million sessions. The size is FSM_RESTORE_SESSIONS (default 20000, so
// `go test -bench .` stays quick); 1M and 10M are the targets:
//
//	FSM_RESTORE_SESSIONS=10000000 go test ./fsm -run '^$' -bench RestoredHeap -benchtime 1x
//
// The writer's state is dropped before the baseline is taken, so only the
// restored state is counted. The ns/op it reports is meaningless.
func BenchmarkRestoredHeapPerSession(b *testing.B) {
	n := 20_000
	if v := os.Getenv("FSM_RESTORE_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n <= 0 {
			b.Fatalf("FSM_RESTORE_SESSIONS=%q", v)
		}
	}
	const users = 1000
	path := filepath.Join(b.TempDir(), "snap")
	for b.Loop() {
		persist := writeLargeSnapshot(b, path, n, users)
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		before := liveHeap()
		start := time.Now()
		restored := New()
		if err := restored.Restore(f); err != nil {
			b.Fatal(err)
		}
		restore := time.Since(start)
		after := liveHeap()
		if u, got := restored.State().Counts(); got != n || u != users {
			b.Fatalf("restored %d users, %d sessions", u, got)
		}
		runtime.KeepAlive(restored)
		perM := 1e6 / float64(n)
		b.ReportMetric(float64(after-before)/float64(n), "heapbytes/session")
		b.ReportMetric(persist.Seconds()*perM, "persist-s/M")
		b.ReportMetric(restore.Seconds()*perM, "restore-s/M")
	}
}

// writeLargeSnapshot builds a state of users users and n sessions shaped
// like benchSessionEntry's (sessions put directly: applying 10M entries
// would take minutes), persists it to path through Snapshot and Persist
// with an fsync, and returns how long the persist took. The state is
// unreachable when it returns.
func writeLargeSnapshot(b *testing.B, path string, n, users int) time.Duration {
	b.Helper()
	f := New()
	for u := 1; u <= users; u++ {
		c := newUser("")
		c.Login, c.Nonce = "u"+strconv.Itoa(u), ""
		if res := f.ApplyEntry(uint64(u), MustEncode(c)); res.Code != "" {
			b.Fatal(res.Code)
		}
	}
	st := f.State()
	st.mu.Lock()
	for i := 0; i < n; i++ {
		st.putSession(&Session{
			ID: "sid-" + strconv.Itoa(i), Digest: benchDigest(i),
			Kind: KindOdoo, UserID: uint64(1 + i%users), Created: t0 + int64(i), ExpiresAt: t0 + 90*24*hour,
			IdleTimeout: 7 * 24 * hour, UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", ClientAddr: "203.0.113.9",
		})
	}
	st.mu.Unlock()
	start := time.Now()
	snap, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	sink := &fileSink{f: out, w: bufio.NewWriterSize(out, 1<<20)}
	if err := snap.Persist(sink); err != nil {
		b.Fatal(err)
	}
	if sink.err != nil {
		b.Fatal(sink.err)
	}
	return time.Since(start)
}

// fileSink is a raft.SnapshotSink over a file that, like raft's file
// store, syncs on Close.
type fileSink struct {
	f   *os.File
	w   *bufio.Writer
	err error
}

func (s *fileSink) Write(p []byte) (int, error) { return s.w.Write(p) }
func (s *fileSink) ID() string                  { return s.f.Name() }
func (s *fileSink) Cancel() error               { return s.f.Close() }
func (s *fileSink) Close() error {
	if s.err = s.w.Flush(); s.err == nil {
		s.err = s.f.Sync()
	}
	if err := s.f.Close(); s.err == nil {
		s.err = err
	}
	return s.err
}
