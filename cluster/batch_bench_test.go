package cluster

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// BenchmarkForwardedWrite is the write path a client of a follower takes
// (issue 16): the command is forwarded to the leader, coalesced with the
// follower's other forwards (batch.go), committed durably, and applied on
// the follower before the answer. "requests/op" is internal requests per
// command: 1 without coalescing (the /single variants). logout/ adds the
// revocation's lease wait; "polls/op" is the leader's applied-polls to
// the lease holders per logout (shared between concurrent logouts).
func BenchmarkForwardedWrite(b *testing.B) {
	leader, followers := benchCluster(b, 3)
	f := followers[0]
	uid := benchPrefill(b, leader.Node, 0)
	var seq atomic.Int64
	seq.Store(1 << 31)
	ctx := context.Background()
	for _, par := range []int{1, 64} {
		for _, kind := range []string{"login", "logout", "login-single", "logout-single"} {
			single := strings.HasSuffix(kind, "-single")
			if single && par == 1 {
				continue // the same path at c1
			}
			kind := strings.TrimSuffix(kind, "-single")
			name := kind + map[int]string{1: "/c1", 64: "/parallel64"}[par] + map[bool]string{true: "/single"}[single]
			b.Run(name, func(b *testing.B) {
				// single: one internal request per command, as before
				// coalescing (the path an older leader gets).
				f.fwd.mu.Lock()
				f.fwd.legacy = single
				f.fwd.mu.Unlock()
				b.ReportAllocs()
				sent0, polls0 := f.fwd.sent.Load(), leader.leases.polls.Load()
				op := func() error {
					n := int(seq.Add(1))
					res, err := f.Apply(ctx, benchCreateSession(uid, n))
					if err == nil && kind == "logout" {
						d := benchDigest(n)
						res, err = f.Apply(ctx, &fsm.RevokeSession{Digest: &d})
					}
					if err == nil {
						err = res.Err()
					}
					return err
				}
				if par == 1 {
					for i := 0; i < b.N; i++ {
						if err := op(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(par / 2) // × GOMAXPROCS 2 on the dev box
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := op(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(f.fwd.sent.Load()-sent0)/float64(b.N), "requests/op")
				if kind == "logout" {
					// the leader's applied-polls to lease holders (leases.go)
					b.ReportMetric(float64(leader.leases.polls.Load()-polls0)/float64(b.N), "polls/op")
				}
			})
		}
	}
}
