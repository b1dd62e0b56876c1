package fsm

import "testing"

// BenchmarkApplyRevokeSession is a logout's apply on one node: 60,000
// sessions of 600 users holding 100 each (the default per-user cap,
// DefaultMaxSessionsPerUser; scripts/bench's logout pool has 300 per
// user), each logged out once in an order unrelated to login order. The per-user index used to be scanned by digest, which read
// every other session of the user (issue 23, docs/BENCHMARKS.md).
func BenchmarkApplyRevokeSession(b *testing.B) {
	const users, perUser = 600, DefaultMaxSessionsPerUser
	f := New()
	idx := uint64(0)
	benchUsers(b, f, "lo", users, &idx)
	pool := users * perUser
	fill := func() {
		for i := range pool {
			idx++
			if res := f.ApplyEntry(idx, benchSessionEntry(i, uint64(1+i%users))); res.Code != "" {
				b.Fatal(res.Code)
			}
		}
	}
	revokes := make([][]byte, pool)
	for i := range revokes {
		d := benchDigest(i * 7919 % pool) // 7919 is prime: a permutation
		revokes[i] = MustEncode(&RevokeSession{Digest: &d})
	}
	fill()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		k := i % pool
		if k == 0 && i > 0 {
			b.StopTimer()
			fill()
			b.StartTimer()
		}
		idx++
		if res := f.ApplyEntry(idx, revokes[k]); res.Code != "" || res.UserID == 0 {
			b.Fatalf("revoke %d: %+v", k, res)
		}
	}
}
