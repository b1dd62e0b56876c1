package cluster

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// The replicated level, etcd's way: held at the lowest format a member
// announces (a member on an older binary keeps it unset), raised by the
// leader once every member supports the current one; a downgrade is
// refused while the state needs more, then lowers and pins the level,
// gates writes above it, and makes every member snapshot past it; cancel
// raises it again. A new member on an older binary cannot join a cluster
// whose log holds the record.
func TestClusterVersion_RaiseDowngradeCancel(t *testing.T) {
	one := fsm.FormatOperator
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.claimFormat = &one })
	if lvl, _, _ := c.waitLeader().ClusterFormat(); lvl != fsm.FormatOperator {
		t.Fatalf("level of members at format 1: %d", lvl)
	}

	// A rolling upgrade: each member restarts on the current binary; the
	// leader raises the level only once the last one has.
	for i, n := range c.nodes {
		dir, raftAddr := n.dir, n.raftAddr
		n.stop()
		c.nodes[i] = startNode(t, n.id, dir, raftAddr, nil, false, nil)
		c.waitConverged()
		cf := c.waitLeader().fsm.State().ClusterFormat()
		if i < len(c.nodes)-1 && cf.Set {
			t.Fatalf("level raised with %d of %d members upgraded: %+v", i+1, len(c.nodes), cf)
		}
	}
	eventually(t, 10*time.Second, "the leader to raise the level", func() bool {
		cf := c.waitLeader().fsm.State().ClusterFormat()
		return cf.Set && cf.Level == fsm.CurrentFormat && !cf.Downgrade
	})
	c.ensureSameState()

	// A user holds state a binary of format 1 would drop: a downgrade to 1
	// is refused and names them.
	leader := c.waitLeader()
	if _, err := leader.Apply(ctx5(t), &fsm.CreateUser{Nonce: "una", DB: "db", Login: "una",
		PasswordHash: "$argon2id$test", EmailUnverified: true, Now: 1}); err != nil {
		t.Fatal(err)
	}
	u, _ := leader.fsm.State().UserByLogin("db", "una")
	uid := u.ID
	yes, no := true, false
	via := c.followers()[0]
	if _, err := via.Downgrade(ctx5(t), fsm.FormatOperator, false); !errorsIs(err, fsm.ErrFormatInUse) || !strings.Contains(err.Error(), `"una"`) {
		t.Fatalf("downgrade below an unverified address: %v", err)
	}
	if _, err := via.Downgrade(ctx5(t), fsm.FormatBase, false); !errorsIs(err, ErrConfig) {
		t.Fatalf("downgrade below 0.3.0's format: %v", err)
	}
	if _, err := via.Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, EmailUnverified: &no, Now: 2}); err != nil {
		t.Fatal(err)
	}
	cf, err := via.Downgrade(ctx5(t), fsm.FormatOperator, false)
	if err != nil || cf.Level != fsm.FormatOperator || !cf.Downgrade {
		t.Fatalf("downgrade to 1: %+v %v", cf, err)
	}
	// Every member snapshots past the downgrade entry, and the pin holds
	// through those ticks of the leader's loop: a write above it is
	// refused (by the leader's check; Apply's own is the backstop).
	eventually(t, 10*time.Second, "every member to snapshot past the downgrade", func() bool {
		for _, n := range c.nodes {
			if n.lastSnapshotIndex() < cf.Index {
				return false
			}
		}
		return true
	})
	if got := c.waitLeader().fsm.State().ClusterFormat(); got.Level != fsm.FormatOperator {
		t.Fatalf("the leader raised a pinned level: %+v", got)
	}
	if _, err := via.Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, EmailUnverified: &yes, Now: 3}); !errorsIs(err, ErrUpgrading) ||
		!strings.Contains(err.Error(), "downgrade --cancel") {
		t.Fatalf("a FormatV3 field at level 1: %v", err)
	}
	st := via.Status(false)
	if st.Formats == nil || st.Formats.ClusterLevel != fsm.FormatOperator || !st.Formats.Downgraded ||
		st.Formats.Format != fsm.CurrentFormat || len(st.Formats.MemberFormats) != 3 {
		t.Fatalf("status formats: %+v", st.Formats)
	}

	// A new member on a binary of format 1 is refused: the log holds the
	// record, which it cannot read.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	late := startNode(t, "n4", t.TempDir(), "", nil, false, func(cfg *Config) { cfg.claimFormat = &one })
	defer late.stop()
	if err := late.JoinVia(ctx, c.nodes[0].cfg.APIURL, false); !errorsIs(err, ErrConfig) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("join of an older binary: %v", err)
	}

	if cf, err := c.nodes[0].Downgrade(ctx5(t), 0, true); err != nil || cf.Level != fsm.CurrentFormat || cf.Downgrade {
		t.Fatalf("cancel: %+v %v", cf, err)
	}
	if _, err := via.Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, EmailUnverified: &yes, Now: 4}); err != nil {
		t.Fatalf("a FormatV3 field after cancel: %v", err)
	}
	c.ensureSameState()
}

// During a rolling upgrade from 0.3.0 a new leader's followers may not
// serve the quorum round's route (they answer 404). With two such voters
// of three, the round alone never reaches a quorum: the leader proves its
// term with a barrier instead, as 0.3.0 did, so reads and readiness go on
// (found by TestUpgrade_RollingMixedCluster: an upgraded leader of two
// 0.3.0 members never became ready). A member that answers nothing at all
// still fails the round closed.
func TestReadIndex_OlderMembersWithoutConfirm(t *testing.T) {
	old := func(cfg *Config) {
		if cfg.NodeID == "n1" {
			return
		}
		cfg.wrapInternal = func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == confirmPath {
					http.NotFound(w, r) // what a binary without the route answers
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	c := newTestCluster(t, 3, func(cfg *Config) { old(cfg); productionTimeouts(cfg) })
	var leader *testNode
	eventually(t, 10*time.Second, "n1 to lead", func() bool {
		leader = c.waitLeader()
		if leader.id != "n1" {
			leader.raft.LeadershipTransferToServer("n1", raft.ServerAddress(c.nodes[0].raftAddr))
			return false
		}
		return true
	})
	before := leader.raft.LastIndex()
	if _, err := leader.leaderReadIndexRound(ctx5(t)); err != nil {
		t.Fatalf("read index with two voters that predate the round: %v", err)
	}
	if leader.raft.LastIndex() == before {
		t.Fatal("no barrier proved the term")
	}
	uid := mustUser(t, leader.Node, "mixed")
	for _, f := range c.followers() {
		if err := f.WaitReady(ctx5(t)); err != nil {
			t.Fatalf("%s not ready under a leader of a newer binary: %v", f.id, err)
		}
	}
	mustLogin(t, c.followers()[0].Node, uid, "mixed-tok")
	if !valid(t, c.followers()[1].Node, Consistent, "mixed-tok") {
		t.Fatal("a consistent read on the other follower refused a login")
	}
}
