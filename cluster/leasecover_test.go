package cluster

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// I5 in a mixed cluster: while a member announces a format before
// leaseCoverFormat (a release whose leaders do not cover their
// predecessors' leases), no node answers a hit from a lease: each hit
// takes a read index from the leader, which grants and proves it again.
// Once that member announces the current format, leases serve again. The
// release itself is TestUpgrade_ReleaseLeaderAfterFailoverLosesNoLogout.
func TestLease_NoneWhileAMemberLacksTheCover(t *testing.T) {
	one := fsm.FormatOperator
	c := newTestCluster(t, 3, func(cfg *Config) {
		if cfg.NodeID == "n1" {
			cfg.claimFormat = &one
		}
	})
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "hana")
	mustLogin(t, leader.Node, uid, "tok")
	c.waitConverged()
	var f *testNode
	for _, n := range c.followers() {
		if n.id != "n1" {
			f = n
		}
	}
	if f == nil {
		t.Fatal("no follower other than n1")
	}
	eventually(t, 10*time.Second, "n1's record to announce format 1 on "+f.id, func() bool {
		meta, ok := f.fsm.State().Node("n1")
		return ok && meta.Format == fsm.FormatOperator
	})
	d := digest("tok")
	for range 5 {
		before := leader.leases.deadline(f.id)
		if sess, err := f.LookupSession(ctx5(t), Default, d); err != nil || sess == nil {
			t.Fatalf("a hit on %s in the mixed cluster: %v %v", f.id, sess, err)
		}
		if f.LeaseValid() {
			t.Fatalf("%s holds a lease while n1 announces format %d", f.id, fsm.FormatOperator)
		}
		if after := leader.leases.deadline(f.id); after <= before {
			t.Fatalf("a hit on %s was answered without a read index from the leader (grant %v, before %v)", f.id, after, before)
		}
	}

	// n1 restarts on this release: it announces the current format, and
	// the hits are answered from a lease again.
	for i, n := range c.nodes {
		if n.id == "n1" {
			dir, raftAddr := n.dir, n.raftAddr
			n.stop()
			c.nodes[i] = startNode(t, n.id, dir, raftAddr, nil, false, nil)
		}
	}
	c.waitConverged()
	eventually(t, 10*time.Second, f.id+" to hold a lease once every member announces the current format",
		usingLease(f.Node))
}
