package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func suffrageOf(t *testing.T, n *Node, id string) raft.ServerSuffrage {
	t.Helper()
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		t.Fatal(err)
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == id {
			return s.Suffrage
		}
	}
	t.Fatalf("%s not in configuration", id)
	return 0
}

func TestCluster_NonVoterServesReadsAndIsPromoted(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	nv := startNode(t, "nv", t.TempDir(), "", nil, false, nil)
	t.Cleanup(nv.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nv.JoinVia(ctx, leader.cfg.APIURL, true); err != nil {
		t.Fatal(err)
	}
	if s := suffrageOf(t, leader.Node, "nv"); s != raft.Nonvoter {
		t.Fatalf("joined as %v, want Nonvoter", s)
	}
	uid := mustUser(t, leader.Node, "nina")
	mustLogin(t, c.followers()[0].Node, uid, "nv-token")
	for _, lvl := range []Level{Default, Consistent} {
		if !valid(t, nv.Node, lvl, "nv-token") {
			t.Fatalf("non-voter cannot validate at %v", lvl)
		}
	}
	mustLogin(t, nv.Node, uid, "written-via-nonvoter")
	if err := c.followers()[0].SetVoter(ctx5(t), "nv", true); err != nil {
		t.Fatalf("promote: %v", err)
	}
	if s := suffrageOf(t, leader.Node, "nv"); s != raft.Voter {
		t.Fatalf("after promote: %v", s)
	}
	if err := nv.SetVoter(ctx5(t), "nv", false); err != nil {
		t.Fatalf("demote: %v", err)
	}
	if s := suffrageOf(t, leader.Node, "nv"); s != raft.Nonvoter {
		t.Fatalf("after demote: %v", s)
	}
	if err := leader.Remove(ctx5(t), "nv"); err != nil {
		t.Fatalf("remove: %v", err)
	}
	if err := leader.Remove(ctx5(t), "no-such-node"); !errorsIs(err, ErrUnknownNode) {
		t.Fatalf("remove unknown: %v", err)
	}
}
