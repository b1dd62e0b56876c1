package fsm

import (
	"sync/atomic"
	"testing"
)

// A refresh batch runs without the state lock (sessionOnly), yet a capture
// taken while it runs (snapshot, backup, state hash) sees the state
// between two entries: none of the batch with the old index, or all of it
// with the new one.
func TestApply_CaptureSeesAWholeRefreshBatch(t *testing.T) {
	const n = 20_000
	f, ds := benchState(t, n)
	before := f.State().capture().index
	at := t0 + hour
	cmd := &RefreshSessions{Refreshes: make([]Refresh, n)}
	for i, d := range ds {
		cmd.Refreshes[i] = Refresh{Digest: d, At: at}
	}
	entry := MustEncode(cmd)
	const idx = 1 << 30

	var done atomic.Bool
	applied := make(chan Result)
	go func() {
		res := f.ApplyEntry(idx, entry)
		done.Store(true)
		applied <- res
	}()
	captures := 0
	for seenAfter := false; !seenAfter; captures++ {
		seenAfter = done.Load() // one more capture once the apply has returned
		img := f.State().capture()
		refreshed := 0
		for _, s := range img.sessions {
			if s.LastRefresh == at {
				refreshed++
			}
		}
		switch {
		case img.index == before && refreshed == 0:
		case img.index == idx && refreshed == n:
		default:
			t.Fatalf("capture %d: index %d with %d of %d sessions refreshed", captures, img.index, refreshed, n)
		}
	}
	if res := <-applied; res.Code != "" || res.Count != n {
		t.Fatalf("refresh: %+v", res)
	}
	t.Logf("%d consistent captures", captures)
}
