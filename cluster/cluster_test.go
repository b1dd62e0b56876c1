package cluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func digest(tok string) fsm.Digest { return fsm.Digest(sha256.Sum256([]byte(tok))) }

// mustUser creates a user through n and returns its ID.
func mustUser(t *testing.T, n *Node, login string) uint64 {
	t.Helper()
	res, err := n.Apply(ctx5(t), &fsm.CreateUser{Nonce: "nonce-" + login, DB: "db", Login: login, PasswordHash: "$argon2id$test", Now: 1})
	if err != nil || res.Err() != nil {
		t.Fatalf("create user via %s: %v %v", n.ID(), err, res.Err())
	}
	return res.UserID
}

// liftSessionCap removes the per-user session cap, for tests in which one
// user holds hundreds of sessions.
func liftSessionCap(t *testing.T, n *Node) {
	t.Helper()
	set := n.fsm.State().Settings()
	set.MaxSessionsPerUser = 0
	if _, err := n.Apply(ctx5(t), &fsm.SetSettings{Settings: set}); err != nil {
		t.Fatal(err)
	}
}

// mustLogin stores a session for uid through n, as a login would.
func mustLogin(t *testing.T, n *Node, uid uint64, tok string) {
	t.Helper()
	res, err := n.Apply(ctx5(t), &fsm.CreateSession{Session: fsm.Session{
		ID: "id-" + tok, Digest: digest(tok), Kind: fsm.KindNative, UserID: uid, Created: 1,
	}})
	if err != nil || res.Err() != nil {
		t.Fatalf("login via %s: %v %v", n.ID(), err, res.Err())
	}
}

// valid looks tok up on n at level. A lookup that cannot tell yet (no
// leader, a leader change under way on a loaded machine) is retried for a
// few seconds: only a verdict counts.
func valid(t *testing.T, n *Node, level Level, tok string) bool {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		sess, err := n.LookupSession(ctx5(t), level, digest(tok))
		if err == nil {
			return sess != nil
		}
		if !retryable(err) && !errorsIs(err, ErrTimeout) || time.Now().After(deadline) {
			t.Fatalf("lookup on %s at %v: %v", n.ID(), level, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

func TestCluster_FollowerLoginValidatesOnOtherFollower(t *testing.T) {
	loginAcrossFollowers(t, newTestCluster(t, 3, nil), "alice", "tok-a")
}

// loginAcrossFollowers logs login in as tok through one follower, a, and
// checks that tok validates at the Default level on the other, b, with no
// wait: the miss on b is confirmed with a read index.
func loginAcrossFollowers(t *testing.T, c *testCluster, login, tok string) (a, b *testNode) {
	t.Helper()
	fs := c.followers()
	a, b = fs[0], fs[1]
	uid := mustUser(t, a.Node, login)
	mustLogin(t, a.Node, uid, tok)
	if !valid(t, b.Node, Default, tok) {
		t.Fatal("login via follower A does not validate on follower B at default level")
	}
	return a, b
}

func TestCluster_LogoutConsistentRefusedEverywhereAtOnce(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	fs := c.followers()
	a, b := fs[0], fs[1]
	uid := mustUser(t, leader.Node, "bob")
	mustLogin(t, leader.Node, uid, "tok-b")
	for _, n := range c.nodes {
		if !valid(t, n.Node, Consistent, "tok-b") {
			t.Fatalf("session missing on %s", n.id)
		}
	}
	d := digest("tok-b")
	if _, err := b.Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*testNode{a, leader} {
		if valid(t, n.Node, Consistent, "tok-b") {
			t.Fatalf("revoked session still valid on %s in consistent mode", n.id)
		}
	}
}

func TestCluster_LeaderKillFailover(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "carol")
	mustLogin(t, leader.Node, uid, "tok-before")
	c.waitConverged()

	for i, n := range c.nodes {
		if n == leader {
			n.stop()
			c.nodes[i] = nil
		}
	}
	start := time.Now()
	newLeader := c.waitLeader()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("new leader after %v", d)
	}
	for _, n := range c.nodes {
		if n == nil {
			continue
		}
		mustLogin(t, n.Node, uid, "tok-after-"+n.id)
		if !valid(t, n.Node, Consistent, "tok-before") {
			t.Fatalf("token issued before failover lost on %s", n.id)
		}
	}
	_ = newLeader
}

func TestCluster_FullRestartKeepsSessionsAndRevocations(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "dave")
	for i := 0; i < 20; i++ {
		mustLogin(t, c.nodes[i%3].Node, uid, "live-"+strconv.Itoa(i))
	}
	mustLogin(t, leader.Node, uid, "revoked")
	d := digest("revoked")
	if _, err := c.nodes[1].Apply(ctx5(t), &fsm.RevokeSession{Digest: &d}); err != nil {
		t.Fatal(err)
	}
	c.waitConverged()
	type saved struct{ id, dir, raft, api string }
	var all []saved
	for _, n := range c.nodes {
		all = append(all, saved{n.id, n.dir, n.raftAddr, n.apiLn.Addr().String()})
		n.stop()
	}
	c.nodes = nil
	for _, s := range all {
		ln, err := net.Listen("tcp", s.api)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes = append(c.nodes, startNode(t, s.id, s.dir, s.raft, ln, true, nil))
	}
	c.waitConverged()
	for _, n := range c.nodes {
		for i := 0; i < 20; i++ {
			if !valid(t, n.Node, Default, "live-"+strconv.Itoa(i)) {
				t.Fatalf("live session %d lost on %s after restart", i, n.id)
			}
		}
		if valid(t, n.Node, Consistent, "revoked") {
			t.Fatalf("revoked session resurrected on %s", n.id)
		}
	}
}

func TestCluster_LateJoinerInstallsSnapshot(t *testing.T) {
	tweak := func(cfg *Config) {
		cfg.SnapshotThreshold = 16
		cfg.TrailingLogs = 4
		cfg.SnapshotInterval = 50 * time.Millisecond
	}
	c := newTestCluster(t, 3, tweak)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "erin")
	liftSessionCap(t, leader.Node)
	for i := 0; i < 200; i++ {
		mustLogin(t, leader.Node, uid, fmt.Sprintf("s%d", i))
	}
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	// The joiner takes no snapshot of its own, so a snapshot index on it
	// can only come from an install. Raft restores the FSM before it
	// records the snapshot, so wait for both.
	late := c.addNode("n4", func(cfg *Config) {
		cfg.SnapshotThreshold, cfg.SnapshotInterval, cfg.TrailingLogs = 1<<30, time.Hour, 4
	})
	eventually(t, 10*time.Second, "late joiner to catch up through a snapshot install", func() bool {
		_, n := late.fsm.State().Counts()
		return n == 200 && late.raft.Stats()["last_snapshot_index"] != "0"
	})
	if !valid(t, late.Node, Consistent, "s199") {
		t.Fatal("late joiner cannot validate")
	}
}

func TestCluster_NoLeaderReturnsErrNoLeader(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "frank")
	f := c.followers()[0]
	for i, n := range c.nodes {
		if n != f {
			n.stop()
			c.nodes[i] = nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := f.Apply(ctx, &fsm.CreateSession{Session: fsm.Session{ID: "x", Digest: digest("x"), UserID: uid, Kind: fsm.KindNative}})
	if err == nil {
		t.Fatal("write succeeded without a quorum")
	}
	if !(errorsIs(err, ErrNoLeader) || errorsIs(err, ErrTimeout)) {
		t.Fatalf("want no-leader or timeout, got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("write without leader hung for %v", d)
	}
	if _, err := f.LookupSession(ctx5(t), Consistent, digest("x")); err == nil {
		t.Fatal("consistent read served without a leader")
	}
}
