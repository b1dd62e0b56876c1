package fsm

import "testing"

// Both batch commands yield their thread every batchYieldEvery items
// (yield.go): the refresh batch's validation stalls came back the moment
// the yield went (docs/BENCHMARKS.md, "The refresh batch yields its
// thread"), and no timed test may say so, so this counts the yields.
func TestBatchYield_BatchCommandsYieldTheirThread(t *testing.T) {
	yields := 0
	yieldThread = func() { yields++ }
	defer func() { yieldThread = osYield }()
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
