package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"
)

// pipeSessions makes a snapshot of about 600 KB: with the tests' 64 KiB
// chunks (TestMain), more chunks than the pipe holds in flight, so the
// encoder waits for free chunks and every stage crosses chunk boundaries.
const pipeSessions = 4_000

// TestMain shrinks the pipe's chunks before any test runs (so no test
// races the change): the pipe's behaviour does not depend on the size,
// and a state large enough to fill 1 MiB chunks took minutes under -race.
func TestMain(m *testing.M) {
	pipeChunk = 64 << 10
	os.Exit(m.Run())
}

// bothWriters runs fn with snapshots written by the pipe and then by the
// sequential writer, whatever the state's size.
func bothWriters(t *testing.T, fn func(t *testing.T)) {
	old := pipeMinSessions
	t.Cleanup(func() { pipeMinSessions = old })
	for _, w := range []struct {
		name string
		min  int
	}{{"pipe", 0}, {"sequential", 1 << 62}} {
		pipeMinSessions = w.min
		t.Run(w.name, fn)
	}
}

// TestPipeWriter_ManyChunksRoundTrip: a snapshot spanning many chunks
// restores to the same state, its reported size is its length, and its
// trailer checksums exactly the bytes before it; the pipe and the
// sequential writer write the same bytes.
func TestPipeWriter_ManyChunksRoundTrip(t *testing.T) {
	f, _ := benchState(t, pipeSessions)
	var first []byte
	bothWriters(t, func(t *testing.T) {
		b := manyChunksRoundTrip(t, f)
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatal("the two writers wrote different bytes")
		}
	})
}

func manyChunksRoundTrip(t *testing.T, f *FSM) []byte {
	b := snapshotBytes(t, f)
	if len(b) < (pipeChunks+2)*pipeChunk {
		t.Fatalf("snapshot is %d bytes: too small to fill the pipe", len(b))
	}
	body, trailer := b[:len(b)-sha256.Size], b[len(b)-sha256.Size:]
	if want := sha256.Sum256(body[:len(body)-1]); !bytes.Equal(trailer, want[:]) {
		t.Fatal("trailer is not the SHA-256 of the bytes before it")
	}
	g := restoreBytes(t, b)
	if want, got := stateHash(f), stateHash(g); want != got {
		t.Fatalf("state hash %s after restore, want %s", got, want)
	}
	if again := snapshotBytes(t, g); !bytes.Equal(again, b) {
		t.Fatal("the restored state writes different bytes")
	}
	return b
}

// TestPipeWriter_SplitsDoNotMatter: however the encoder cuts its writes,
// the output and the checksum are those of the concatenation.
func TestPipeWriter_SplitsDoNotMatter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	src := make([]byte, 5*pipeChunk+12345)
	for i := range src {
		src[i] = byte(rng.Uint32())
	}
	var out bytes.Buffer
	sum := sha256.New()
	p := newPipeWriter(&out, sum)
	for rest := src; len(rest) > 0; {
		k := min(len(rest), 1+rng.IntN(3*pipeChunk))
		if n, err := p.Write(rest[:k]); n != k || err != nil {
			t.Fatalf("Write(%d) = %d, %v", k, n, err)
		}
		rest = rest[k:]
	}
	n, err := p.Close()
	if err != nil || n != int64(len(src)) {
		t.Fatalf("Close = %d, %v; want %d, nil", n, err, len(src))
	}
	if !bytes.Equal(out.Bytes(), src) {
		t.Fatal("output differs from the input")
	}
	if want := sha256.Sum256(src); !bytes.Equal(sum.Sum(nil), want[:]) {
		t.Fatal("checksum differs from the input's")
	}
}

// TestPipeWriter_OutputFailureMidway: a sink that fails after a few
// chunks gets Persist's Cancel, the error is the sink's, and the pipe's
// goroutines are gone afterwards (none left blocked on a full channel).
func TestPipeWriter_OutputFailureMidway(t *testing.T) {
	f, _ := benchState(t, pipeSessions)
	bothWriters(t, func(t *testing.T) { outputFailureMidway(t, f) })
}

func outputFailureMidway(t *testing.T, f *FSM) {
	before := runtime.NumGoroutine()
	for _, failAfter := range []int{1, pipeChunk - 1, pipeChunk, 2*pipeChunk + 7} {
		snap, err := f.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		sink := &memSink{failAfter: failAfter}
		if err := snap.Persist(sink); !errors.Is(err, errSinkFull) {
			t.Errorf("failAfter %d: Persist error = %v, want the sink's", failAfter, err)
		}
		if !sink.cancelled || sink.closed {
			t.Errorf("failAfter %d: sink closed=%v cancelled=%v; want cancelled only", failAfter, sink.closed, sink.cancelled)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after the failed persists, %d before", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronising
	}
}

func stateHash(f *FSM) string {
	h, _ := f.StateHash()
	return h
}

// TestSnapWriter_PipeFromAMillionSessions: the pipe is for large states
// only (pipeMinSessions says why).
func TestSnapWriter_PipeFromAMillionSessions(t *testing.T) {
	var out bytes.Buffer
	for _, c := range []struct {
		sessions int
		pipe     bool
	}{{0, false}, {pipeMinSessions - 1, false}, {pipeMinSessions, true}, {10 * pipeMinSessions, true}} {
		w := newSnapWriter(&out, sha256.New(), c.sessions)
		if _, isPipe := w.(*pipeWriter); isPipe != c.pipe {
			t.Errorf("%d sessions: pipe = %v, want %v", c.sessions, isPipe, c.pipe)
		}
		w.Close()
	}
}
