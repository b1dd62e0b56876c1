package fsm

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// benchState builds an FSM holding n sessions spread over n/10 users, all
// through ApplyEntry, and returns it with the sessions' digests.
func benchState(tb testing.TB, n int) (*FSM, []Digest) {
	tb.Helper()
	f := New()
	idx := uint64(0)
	users := n/10 + 1
	benchUsers(tb, f, "u", users, &idx)
	digests := make([]Digest, n)
	for i := range digests {
		digests[i] = benchDigest(i)
		idx++
		if res := f.ApplyEntry(idx, benchSessionEntry(i, uint64(1+i%users))); res.Code != "" {
			tb.Fatal(res.Code)
		}
	}
	return f, digests
}

// benchUsers applies users prefix1 … prefixN (ids 1 … n on a new FSM),
// advancing *idx by one per entry.
func benchUsers(tb testing.TB, f *FSM, prefix string, n int, idx *uint64) {
	tb.Helper()
	for u := 1; u <= n; u++ {
		*idx++
		c := newUser("")
		c.Login, c.Nonce = prefix+strconv.Itoa(u), ""
		if res := f.ApplyEntry(*idx, MustEncode(c)); res.Code != "" {
			tb.Fatal(res.Code)
		}
	}
}

func benchDigest(i int) Digest {
	var d Digest
	binary.BigEndian.PutUint64(d[:], uint64(i)*0x9E3779B97F4A7C15) // spread over shards
	binary.BigEndian.PutUint64(d[24:], uint64(i))
	return d
}

func benchSessionEntry(i int, uid uint64) []byte {
	return MustEncode(&CreateSession{Session: Session{
		ID: "sid-" + strconv.Itoa(i), Digest: benchDigest(i),
		Kind: KindOdoo, UserID: uid, Created: t0 + int64(i), ExpiresAt: t0 + 90*24*hour,
		IdleTimeout: 7 * 24 * hour, UserAgent: "Mozilla/5.0 (X11; Linux x86_64)", ClientAddr: "203.0.113.9",
	}})
}

// Built once per process: the lookup benchmark's million sessions take a
// few seconds to apply.
var (
	bigOnce               sync.Once
	bigFSM                *FSM
	bigDigests            []Digest
	snapOnce              sync.Once
	snapFSM               *FSM
	snapBytes             []byte
	lookupN, snapSessions = 200_000, 100_000 // 1M sessions take ~9 s to apply here
)

func bigFixture(b *testing.B) {
	bigOnce.Do(func() { bigFSM, bigDigests = benchState(b, lookupN) })
	if bigFSM == nil {
		b.Fatal("fixture failed to build")
	}
}

func BenchmarkSessionLookup(b *testing.B) {
	bigFixture(b)
	b.ReportAllocs()
	st := bigFSM.State()
	i := 0
	for b.Loop() {
		if _, ok := st.Session(bigDigests[i%len(bigDigests)]); !ok {
			b.Fatal("missing session")
		}
		i += 7919 // a prime stride: no cache-friendly sequential walk
	}
}

func BenchmarkSessionLookupParallel(b *testing.B) {
	bigFixture(b)
	b.ReportAllocs()
	st := bigFSM.State()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			st.Session(bigDigests[i%len(bigDigests)])
			i += 7919
		}
	})
}

func BenchmarkApplyCreateSession(b *testing.B) {
	f, _ := benchState(b, 10_000)
	users, _ := f.State().Counts()
	entries := make([][]byte, b.N)
	for i := range entries {
		entries[i] = benchSessionEntry(10_000+i, uint64(1+i%users))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i, e := range entries {
		if res := f.ApplyEntry(uint64(1_000_000+i), e); res.Code != "" {
			b.Fatal(res.Code)
		}
	}
}

func snapFixture(b *testing.B) {
	snapOnce.Do(func() {
		snapFSM, _ = benchState(b, snapSessions)
		snapBytes = snapshotBytes(b, snapFSM)
	})
	if snapBytes == nil {
		b.Fatal("fixture failed to build")
	}
}

func BenchmarkSnapshotPersist(b *testing.B) {
	snapFixture(b)
	b.SetBytes(int64(len(snapBytes)))
	b.ReportAllocs()
	var sink memSink
	for b.Loop() {
		sink.buf.Reset()
		fs, err := snapFSM.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := fs.Persist(&sink); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(snapBytes))/float64(snapSessions), "snapbytes/session")
}

func BenchmarkSnapshotRestore(b *testing.B) {
	snapFixture(b)
	b.SetBytes(int64(len(snapBytes)))
	b.ReportAllocs()
	for b.Loop() {
		f := New()
		if err := f.Restore(&trackingCloser{Reader: bytes.NewReader(snapBytes)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHeapPerSession reports the live heap one session costs (digest
// index, per-user index and the value itself), measured after users exist
// so that only sessions are counted. The time it reports is meaningless.
func BenchmarkHeapPerSession(b *testing.B) {
	const n, users = 200_000, 20_000
	for b.Loop() {
		f := New()
		for u := 1; u <= users; u++ {
			c := newUser("")
			c.Login, c.Nonce = "u"+strconv.Itoa(u), ""
			f.ApplyEntry(uint64(u), MustEncode(c))
		}
		before := liveHeap()
		for i := 0; i < n; i++ {
			f.ApplyEntry(uint64(users+i+1), benchSessionEntry(i, uint64(1+i%users)))
		}
		after := liveHeap()
		if _, got := f.State().Counts(); got != n {
			b.Fatalf("%d sessions", got)
		}
		runtime.KeepAlive(f)
		b.ReportMetric(float64(after-before)/n, "bytes/session")
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
