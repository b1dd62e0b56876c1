package cluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// Benchmarks of the node's read and write paths on real nodes: Raft over
// TCP on 127.0.0.1:0, raft.db with fsync, the internal HTTP endpoint for
// forwarding. They complement fsm's benchmarks (the bare map) by adding
// the read lease, the read-index batcher and durable replication.
//
//	go test ./cluster -run '^$' -bench . -benchtime 2s

// benchSessions is how many sessions the read benchmarks prefill. The map
// cost itself is fsm's BenchmarkSessionLookup at 1M; here the size only
// has to defeat the CPU cache.
const benchSessions = 20_000

// benchNodeT is a node with its internal API served on loopback.
type benchNodeT struct {
	*Node
	srv *http.Server
}

func benchOpen(tb testing.TB, id string, bootstrap bool) *benchNodeT {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	cfg := fastConfig(nil, id, tb.TempDir(), "127.0.0.1:0", "http://"+ln.Addr().String())
	cfg.Bootstrap = bootstrap
	// Production timeouts: the 100 ms of the tests flap leadership when
	// the benchmark saturates both cores.
	d := DefaultConfig()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
	cfg.MaxStale = d.MaxStale // the lease loop refreshes every MaxStale/3
	n, err := Open(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/internal/", n.InternalHandler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	bn := &benchNodeT{Node: n, srv: srv}
	tb.Cleanup(func() {
		srv.Close()
		n.Shutdown(context.Background())
	})
	return bn
}

// benchCluster starts size nodes (the first bootstraps, the others join
// through it) and waits until every node is ready: it knows the leader and
// holds a read lease.
func benchCluster(tb testing.TB, size int) (leader *benchNodeT, followers []*benchNodeT) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	leader = benchOpen(tb, "b1", true)
	if err := leader.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	for i := 2; i <= size; i++ {
		f := benchOpen(tb, "b"+strconv.Itoa(i), false)
		if err := f.JoinVia(ctx, leader.cfg.APIURL, false); err != nil {
			tb.Fatalf("join: %v", err)
		}
		followers = append(followers, f)
	}
	for _, n := range append([]*benchNodeT{leader}, followers...) {
		if err := n.WaitReady(ctx); err != nil {
			tb.Fatalf("%s: %v", n.ID(), err)
		}
	}
	all := append([]*benchNodeT{leader}, followers...)
	for _, n := range all { // leadership may have moved during set-up
		if n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm() {
			leader, followers = n, nil
			for _, f := range all {
				if f != n {
					followers = append(followers, f)
				}
			}
			return leader, followers
		}
	}
	tb.Fatal("no stable leader after set-up")
	return nil, nil
}

func benchDigest(i int) fsm.Digest {
	return fsm.Digest(sha256.Sum256([]byte("bench-token-" + strconv.Itoa(i))))
}

func benchCreateSession(uid uint64, i int) *fsm.CreateSession {
	return &fsm.CreateSession{Session: fsm.Session{
		ID: fmt.Sprintf("%032x", i), Digest: benchDigest(i), Kind: fsm.KindNative,
		UserID: uid, DB: "db", Created: 1, LastRefresh: 1,
	}}
}

// benchPrefill creates one user and n sessions through the leader, 64
// writers at a time (Raft batches them), and returns the user's ID.
func benchPrefill(tb testing.TB, leader *Node, n int) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := leader.Apply(ctx, &fsm.CreateUser{Nonce: "bench", DB: "db", Login: "bench", PasswordHash: "$argon2id$bench", Now: 1})
	if err != nil || res.Err() != nil {
		tb.Fatalf("create user: %v %v", err, res.Err())
	}
	uid := res.UserID
	// One user holds every benchmark session: lift the per-user cap.
	set := leader.fsm.State().Settings()
	set.MaxSessionsPerUser = 0
	if _, err := leader.Apply(ctx, &fsm.SetSettings{Settings: set}); err != nil {
		tb.Fatal(err)
	}
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for w := 0; w < 64; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				if res, err := leader.Apply(ctx, benchCreateSession(uid, i)); err != nil || res.Err() != nil {
					failed.Store(fmt.Sprint(err, res.Err()))
					return
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		tb.Fatalf("prefill: %v", f)
	}
	return uid
}

// readFixture is a 3-node cluster holding benchSessions sessions, every
// follower caught up. The parent benchmark builds it once; its
// sub-benchmarks share it and b.Cleanup stops it after the last of them.
func readFixture(b *testing.B) (leader, follower *benchNodeT) {
	leader, followers := benchCluster(b, 3)
	benchPrefill(b, leader.Node, benchSessions)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, f := range followers {
		if err := f.WaitApplied(ctx, leader.fsm.AppliedIndex()); err != nil {
			b.Fatal(err)
		}
	}
	return leader, followers[0]
}

func benchLookup(b *testing.B, n *Node, level Level, parallelism int) {
	ctx := context.Background()
	// Leases renew only while used: one read takes it before the clock.
	if _, err := n.LookupSession(ctx, Default, benchDigest(0)); err != nil || !n.LeaseValid() {
		b.Fatalf("no read lease: %v", err)
	}
	rounds0 := n.leaderRI.Rounds.Load() + n.forwardRI.Rounds.Load()
	b.ReportAllocs()
	b.ResetTimer()
	if parallelism == 0 {
		for i := 0; i < b.N; i++ {
			sess, err := n.LookupSession(ctx, level, benchDigest(i%benchSessions))
			if err != nil || sess == nil {
				b.Fatalf("lookup: %v %v", sess, err)
			}
		}
	} else {
		b.SetParallelism(parallelism)
		var seq atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			i := int(seq.Add(1)) * 7919
			for pb.Next() {
				i++
				sess, err := n.LookupSession(ctx, level, benchDigest(i%benchSessions))
				if err != nil || sess == nil {
					b.Errorf("lookup: %v %v", sess, err)
					return
				}
			}
		})
	}
	b.StopTimer()
	rounds := n.leaderRI.Rounds.Load() + n.forwardRI.Rounds.Load() - rounds0
	b.ReportMetric(float64(rounds)/float64(b.N), "rounds/op")
}

// BenchmarkLookupSession measures LookupSession (SHA-256 of a token plus
// the node's read path) on the leader and on a follower of a 3-node
// cluster. Default with a valid lease is a local map read; Consistent is a
// read-index round (forwarded over HTTP from a follower) shared by every
// caller that arrives while the previous round is in flight, so rounds/op
// falls as concurrency rises.
func BenchmarkLookupSession(b *testing.B) {
	leader, follower := readFixture(b)
	for _, node := range []struct {
		name string
		n    *Node
	}{{"leader", leader.Node}, {"follower", follower.Node}} {
		for _, lv := range []Level{Default, Consistent} {
			for _, par := range []int{0, 32} { // 0 = one caller; 32 = 32*GOMAXPROCS callers
				name := fmt.Sprintf("%s/%s/c1", node.name, lv)
				if par > 0 {
					name = fmt.Sprintf("%s/%s/parallel%d", node.name, lv, par)
				}
				b.Run(name, func(b *testing.B) { benchLookup(b, node.n, lv, par) })
			}
		}
	}
}

// BenchmarkApplyCreateSession measures a durable write on a single node
// and through the leader of a 3-node cluster: encode, Raft append with
// fsync (and a quorum round with peers), FSM apply. c1 is one writer at a
// time; parallel runs 64 writers (32 per GOMAXPROCS) so Raft batches
// appends, which is how logins under load are committed.
func BenchmarkApplyCreateSession(b *testing.B) {
	for _, size := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes%d", size), func(b *testing.B) {
			leader, _ := benchCluster(b, size)
			uid := benchPrefill(b, leader.Node, 0)
			var seq atomic.Int64
			seq.Store(1 << 30)
			ctx := context.Background()
			b.Run("c1", func(b *testing.B) {
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					if res, err := leader.Apply(ctx, benchCreateSession(uid, int(seq.Add(1)))); err != nil || res.Err() != nil {
						b.Fatal(err, res.Err())
					}
				}
			})
			b.Run("parallel32", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(32)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if res, err := leader.Apply(ctx, benchCreateSession(uid, int(seq.Add(1)))); err != nil || res.Err() != nil {
							b.Error(err, res.Err())
							return
						}
					}
				})
			})
		})
	}
}

// BenchmarkRaftEntrySize asks what one Raft entry per batch of k commands
// would save over one entry per command (issue 16's "batch command type"):
// 64 commands in flight on a 3-node cluster, as 64 entries of one
// command's size or 64/k entries of k commands' size. The entries are of
// an ignorable type, so the FSM skips them and only Raft, raft.db (fsync)
// and replication are measured; ns/cmd is what each command costs.
func BenchmarkRaftEntrySize(b *testing.B) {
	leader, _ := benchCluster(b, 3)
	const cmdSize = 300 // about an encoded CreateSession
	for _, k := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("cmds%d", k), func(b *testing.B) {
			data := make([]byte, 1+cmdSize*k)
			data[0] = byte(fsm.IgnorableFlag | 0x70)
			b.SetParallelism(max(1, 32/k)) // 64/k proposers at GOMAXPROCS 2
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := leader.raft.Apply(data, 10*time.Second).Error(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*k), "ns/cmd")
		})
	}
}
