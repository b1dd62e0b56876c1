package cluster

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// A member at format 0 (a binary from before User.Operator) holds the
// whole cluster at format 0: a write that sets the operator role is
// refused with ErrUpgrading through the leader and through the forwarding
// hop, and changes nothing; other writes go on. Once the member restarts
// on the current binary it announces itself and the write succeeds.
func TestFormatGate_MemberAtLevelZeroHoldsOperatorRole(t *testing.T) {
	// n1 plays a binary of FormatOperator, the last level without a
	// replicated record: a cluster of binaries before the record, which
	// a member of format 0 may join.
	zero, one := fsm.FormatBase, fsm.FormatOperator
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.claimFormat = &one })
	old := c.addNode("n2", func(cfg *Config) { cfg.claimFormat = &zero })
	c.waitConverged()
	leader := c.waitLeader()
	if lvl, behind, _ := leader.ClusterFormat(); lvl != fsm.FormatBase || len(behind) != 2 {
		t.Fatalf("cluster format %d (behind %v), want 0 with n1 and n2 behind", lvl, behind)
	}
	uid := mustUser(t, leader.Node, "plain")
	yes := true
	for _, via := range []*testNode{c.nodes[0], old} {
		_, err := via.Apply(ctx5(t), &fsm.CreateUser{Nonce: "op-" + via.id, DB: "db", Login: "op-" + via.id,
			PasswordHash: "$argon2id$test", Operator: true, Now: 1})
		if !errorsIs(err, ErrUpgrading) {
			t.Fatalf("create operator via %s: %v, want ErrUpgrading", via.id, err)
		}
		if _, ok := leader.fsm.State().UserByLogin("db", "op-"+via.id); ok {
			t.Fatalf("refused create via %s left a user", via.id)
		}
		if _, err := via.Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, Operator: &yes, Now: 2}); !errorsIs(err, ErrUpgrading) {
			t.Fatalf("grant operator via %s: %v, want ErrUpgrading", via.id, err)
		}
	}
	if u, _ := leader.fsm.State().User(uid); u.Operator {
		t.Fatal("a refused grant changed the user")
	}
	mustUser(t, old.Node, "still-writes") // writes that need no format go on

	// n2 restarts on the current binary: it announces its format, and the
	// cluster moves to n1's, the lowest.
	dir, raftAddr, apiAddr := old.dir, old.raftAddr, old.apiLn.Addr().String()
	old.stop()
	ln, err := net.Listen("tcp", apiAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.nodes[1] = startNode(t, "n2", dir, raftAddr, ln, false, nil)
	eventually(t, 10*time.Second, "the cluster to reach the current format", func() bool {
		lvl, _, _ := c.waitLeader().ClusterFormat()
		return lvl == fsm.FormatOperator
	})
	if _, err := c.nodes[1].Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, Operator: &yes, Now: 3}); err != nil {
		t.Fatalf("grant after upgrade: %v", err)
	}
	c.ensureSameState()
	if u, _ := c.nodes[1].fsm.State().User(uid); !u.Operator {
		t.Fatal("the grant is not on the upgraded member")
	}
}

// A leader on an older binary knows no gate: a follower that takes the
// write refuses it itself rather than forward it (the message names the
// leader, which the leader's own check would not).
func TestFormatGate_FollowerRefusesForAnOldLeader(t *testing.T) {
	zero := fsm.FormatBase
	c := newTestCluster(t, 2, func(cfg *Config) {
		if cfg.NodeID == "n1" {
			cfg.claimFormat = &zero
		}
	})
	var leader, follower *testNode
	eventually(t, 10*time.Second, "n1 to lead", func() bool {
		leader = c.waitLeader()
		if leader.id != "n1" {
			leader.raft.LeadershipTransferToServer("n1", raft.ServerAddress(c.nodes[0].raftAddr))
			return false
		}
		return true
	})
	follower = c.nodes[1]
	_, err := follower.Apply(ctx5(t), &fsm.CreateUser{Nonce: "op", DB: "db", Login: "op", PasswordHash: "$argon2id$test", Operator: true, Now: 1})
	if !errorsIs(err, ErrUpgrading) || !strings.Contains(err.Error(), "the leader n1 has not announced") {
		t.Fatalf("operator create via a follower of an old leader: %v", err)
	}
	mustUser(t, follower.Node, "plain") // the rest is forwarded as ever
}
