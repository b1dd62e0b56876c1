package fsm

import "testing"

// Both batch commands call the yield every batchYieldEvery items
// (yield.go): the refresh batch's validation stalls come back without it
// (docs/BENCHMARKS.md, "The refresh batch yields its thread"), and no
// timed test may say so, so this counts the calls. That the yield is the
// thread's, not the goroutine's, only the benchmark shows. (The swap of a
// package variable is safe because no fsm test runs in parallel.)
func TestBatchYield_BatchCommandsCallTheYield(t *testing.T) {
	yields := 0
	prev := yieldThread
	yieldThread = func() { yields++ }
	defer func() { yieldThread = prev }()
	const n = 3*batchYieldEvery + 10
	f, ds := benchState(t, n)
	idx := uint64(1_000_000)

	ref := &RefreshSessions{Refreshes: make([]Refresh, n)}
	for i := range ref.Refreshes {
		ref.Refreshes[i] = Refresh{Digest: ds[i], At: t0 + hour}
	}
	idx++
	if res := f.ApplyEntry(idx, MustEncode(ref)); res.Code != "" || res.Count != n {
		t.Fatalf("refresh: %+v", res)
	}
	if yields != 3 {
		t.Fatalf("a refresh of %d sessions yielded %d times, want 3", n, yields)
	}

	yields = 0
	idx++
	if res := f.ApplyEntry(idx, MustEncode(&PurgeExpired{Digests: ds, Now: t0})); res.Code != "" {
		t.Fatalf("purge: %+v", res)
	}
	if yields != 3 {
		t.Fatalf("a purge of %d digests yielded %d times, want 3", n, yields)
	}
}
