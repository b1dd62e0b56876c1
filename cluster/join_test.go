package cluster

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// deadAddr is a loopback address nobody listens on: a port taken and let
// go again.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// The finding's brick: an operator (or anyone who reached the route)
// joins a voter that never answers to a one-node cluster, once with a
// dead API URL and once with a live one that is another node's. Each
// enters as a non-voter, the promoter finds neither caught up, and the
// cluster keeps committing with its quorum of one.
func TestJoin_UnreachableMemberStaysNonVoterAndQuorumHolds(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	leader := c.waitLeader()
	dead := deadAddr(t)
	if err := leader.Join(ctx5(t), JoinRequest{ID: "bogus", RaftAddr: dead, APIURL: "http://" + dead}); err != nil {
		t.Fatalf("join: %v", err)
	}
	// Its variant: a dead Raft address behind an API URL that answers
	// (the leader's own): the probe's answer names another node.
	if err := leader.Join(ctx5(t), JoinRequest{ID: "borrowed", RaftAddr: deadAddr(t), APIURL: leader.cfg.APIURL}); err != nil {
		t.Fatalf("join: %v", err)
	}
	for _, id := range []string{"bogus", "borrowed"} {
		if s := suffrageOf(t, leader.Node, id); s != raft.Nonvoter {
			t.Fatalf("%s joined as %v, want Nonvoter", id, s)
		}
	}
	// Let the promoter look more times than a promotion needs.
	waitPromoteRounds(t, leader.Node, promoteChecks+2)
	for i := range 5 {
		mustUser(t, leader.Node, "after-bogus-"+string(rune('a'+i)))
	}
	for _, id := range []string{"bogus", "borrowed"} {
		if s := suffrageOf(t, leader.Node, id); s != raft.Nonvoter {
			t.Fatalf("%s, whose Raft address never answered, became %v", id, s)
		}
	}
	if lvl, _, _ := leader.ClusterFormat(); lvl != fsm.FormatBase {
		t.Fatalf("a member that never announced counts as format %d, want %d", lvl, fsm.FormatBase)
	}
}

// The finding's re-point: a join naming a known id (with its real Raft
// address, or another) or a known Raft address under a new id is refused
// with ErrMemberExists, through the leader and through a follower, and
// changes neither the configuration nor the member's record.
func TestJoin_KnownMemberIsNeverRepointed(t *testing.T) {
	c := newTestCluster(t, 2, nil)
	leader := c.waitLeader()
	var n2 *testNode
	for _, n := range c.nodes {
		if n != leader {
			n2 = n
		}
	}
	metaBefore, _ := leader.fsm.State().Node(n2.id)
	dead := deadAddr(t)
	for _, req := range []JoinRequest{
		{ID: n2.id, RaftAddr: n2.raftAddr, APIURL: "http://" + dead},                        // re-point the API URL
		{ID: n2.id, RaftAddr: dead, APIURL: "http://" + dead},                               // re-point the Raft address
		{ID: "other", RaftAddr: n2.raftAddr, APIURL: "http://" + dead},                      // steal the Raft address
		{ID: n2.id, RaftAddr: n2.raftAddr, APIURL: metaBefore.APIAddr},                      // the same again: still an operator's join
		{ID: n2.id, RaftAddr: n2.raftAddr, APIURL: "http://" + dead, Self: true, Format: 9}, // Self is not the API's to say
	} {
		for _, via := range []*testNode{leader, n2} {
			if err := via.Join(ctx5(t), req); !errorsIs(err, ErrMemberExists) {
				t.Fatalf("join %+v via %s: %v, want ErrMemberExists", req, via.id, err)
			}
		}
	}
	if meta, _ := leader.fsm.State().Node(n2.id); meta != metaBefore {
		t.Fatalf("record changed: %+v, was %+v", meta, metaBefore)
	}
	servers := leader.raft.GetConfiguration().Configuration().Servers
	if len(servers) != 2 {
		t.Fatalf("configuration changed: %+v", servers)
	}
	for _, s := range servers {
		if s.ID == raft.ServerID(n2.id) && (string(s.Address) != n2.raftAddr || s.Suffrage != raft.Voter) {
			t.Fatalf("member re-pointed or demoted: %+v", s)
		}
	}
}

// A real node joins as a non-voter and is promoted to voter by the
// leader once it has caught up, with no operator call.
func TestJoin_RealNodePromotedOnceCaughtUp(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	leader := c.waitLeader()
	for i := range 20 {
		mustUser(t, leader.Node, "before-join-"+string(rune('a'+i)))
	}
	n2 := startNode(t, "n2", t.TempDir(), "", nil, false, nil)
	c.nodes = append(c.nodes, n2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n2.JoinVia(ctx, leader.cfg.APIURL, false); err != nil {
		t.Fatal(err)
	}
	if s := suffrageOf(t, leader.Node, "n2"); s != raft.Nonvoter {
		t.Fatalf("joined as %v, want Nonvoter until caught up", s)
	}
	eventually(t, 10*time.Second, "n2 to be promoted", func() bool {
		return suffrageOf(t, leader.Node, "n2") == raft.Voter
	})
	if got, want := n2.fsm.AppliedIndex()+promoteMaxLag, leader.fsm.AppliedIndex(); got < want {
		t.Fatalf("promoted while %d entries behind", want-n2.fsm.AppliedIndex())
	}
	meta, _ := leader.fsm.State().Node("n2")
	if meta.Format != fsm.CurrentFormat || meta.APIAddr != n2.cfg.APIURL {
		t.Fatalf("n2's record: %+v", meta)
	}
	// A demoted member stays demoted: the promoter does not undo it.
	if err := leader.SetVoter(ctx5(t), "n2", false); err != nil {
		t.Fatal(err)
	}
	mustUser(t, leader.Node, "after-demote")
	waitPromoteRounds(t, leader.Node, promoteChecks+2)
	if s := suffrageOf(t, leader.Node, "n2"); s != raft.Nonvoter {
		t.Fatalf("the promoter undid a demotion: %v", s)
	}
}

// waitPromoteRounds waits until the leader's promoter has run k more
// rounds.
func waitPromoteRounds(t *testing.T, leader *Node, k uint64) {
	t.Helper()
	before := leader.promoteRounds.Load()
	eventually(t, 10*time.Second, "the promoter's rounds", func() bool {
		return leader.promoteRounds.Load() >= before+k
	})
}

// The one way a member's API URL changes: the node itself, restarted on a
// new address, announces it over the signed internal channel.
func TestJoin_NodeRefreshesItsOwnAPIURL(t *testing.T) {
	c := newTestCluster(t, 2, nil)
	n2 := c.nodes[1]
	dir, raftAddr, oldURL := n2.dir, n2.raftAddr, n2.cfg.APIURL
	n2.stop()
	c.nodes[1] = startNode(t, "n2", dir, raftAddr, nil, false, nil) // a new API port
	newURL := c.nodes[1].cfg.APIURL
	if newURL == oldURL {
		t.Fatal("the restart kept its API port")
	}
	eventually(t, 10*time.Second, "the leader to know n2's new API URL", func() bool {
		meta, _ := c.waitLeader().fsm.State().Node("n2")
		return meta.APIAddr == newURL
	})
}
