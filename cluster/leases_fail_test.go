package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// A lease holder that does not answer the leader's applied-poll (paused:
// its endpoint takes the request and never answers; unreachable: its
// internal API listens no more, while its Raft goes on) costs each revocation at most its lease, never an
// acknowledgement before that lease has run out; a failed poll does not
// stay "in flight" for later revocations, and once the holder answers
// again no lease is waited out.
func TestRevocation_UnansweringHolderCostsItsLeaseOnly(t *testing.T) {
	for _, mode := range []string{"paused", "unreachable"} {
		t.Run(mode, func(t *testing.T) { testUnansweringHolder(t, mode) })
	}
}

// polling reports whether the leader has a poll in flight to holder id.
func polling(leader *testNode, id string) bool {
	w := leader.leases.watch(id)
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.polling
}

func testUnansweringHolder(t *testing.T, mode string) {
	// A lease of 1.5 s and production Raft timing, not the harness's
	// 300 ms and 100 ms: on a loaded machine a logout's commit could take
	// longer than the whole 300 ms lease, which then lapsed before the
	// wait began (nothing to wait out, nothing counted), and a 50 ms
	// leader lease made the leader step down (CI, 2026-12-07).
	c := newTestCluster(t, 3, func(cfg *Config) { productionTiming(cfg); cfg.MaxStale = 1500 * time.Millisecond })
	leader := c.waitLeader()
	b := c.followers()[0]
	uid := mustUser(t, leader.Node, "erin")
	for i := range 3 {
		mustLogin(t, leader.Node, uid, fmt.Sprintf("tok-%d", i))
	}
	for _, f := range c.followers() {
		eventually(t, 5*time.Second, "followers to hold leases", usingLease(f.Node))
	}
	release := func() {}
	if mode == "paused" {
		release = holdLeader(t, b) // its internal endpoint takes requests and never answers
	} else {
		b.srv.Close() // nothing listens: the poll fails at once
		b.peerSrv.Close()
	}
	defer release()
	lease := b.cfg.MaxStale + leaseMargin
	for i := range 2 {
		// The poll of the previous round has ended (failed): a new
		// revocation must start its own rather than wait on a stale one.
		eventually(t, 5*time.Second, "no poll in flight", func() bool { return !polling(leader, b.id) })
		// b keeps reading, so it keeps its lease (leases renew only while
		// used); paused or not, it still reaches the leader.
		eventually(t, 5*time.Second, "b to hold a lease", usingLease(b.Node))
		leader.leases.mu.Lock()
		held := leader.leases.holders[b.id]
		leader.leases.mu.Unlock()
		lapses0, sent0 := testCounter(t, leader.metrics.leaseLapses), leader.leases.polls.Load()
		d := digest(fmt.Sprintf("tok-%d", i))
		start := time.Now()
		if _, err := leader.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
			t.Fatalf("logout %d: %v", i, err)
		}
		took := time.Since(start)
		if now := leader.mono(); now < held {
			t.Fatalf("logout %d acknowledged %v before the lease of the unanswering holder ran out", i, held-now)
		}
		if took > lease+time.Second {
			t.Fatalf("logout %d waited %v, more than one lease period (%v) and slack", i, took, lease)
		}
		if testCounter(t, leader.metrics.leaseLapses) <= lapses0 {
			t.Fatalf("logout %d: no lease counted as waited out", i)
		}
		if leader.leases.polls.Load() == sent0 {
			t.Fatalf("logout %d sent no applied-poll", i)
		}
		t.Logf("logout %d with an unanswering holder took %v (lease %v)", i, took, lease)
	}
	if mode != "paused" {
		return
	}
	release()
	eventually(t, 5*time.Second, "b to hold a lease again", usingLease(b.Node))
	lapses0 := testCounter(t, leader.metrics.leaseLapses)
	d := digest("tok-2")
	if _, err := leader.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatal(err)
	}
	if sess, _ := b.fsm.State().Session(d); sess != nil {
		t.Fatal("the resumed holder had not applied the acknowledged logout")
	}
	if lapses := testCounter(t, leader.metrics.leaseLapses) - lapses0; lapses != 0 {
		t.Fatalf("%v leases waited out after the holder resumed", lapses)
	}
}
