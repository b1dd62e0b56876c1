package cluster

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// commitThenDie makes one node die the way a leader does between
// committing a forwarded write and answering it: the next forwarded apply
// it takes is served (committed and applied), then between runs (what
// other clients did meanwhile), then the answer is dropped with the
// connection, and from then on the node answers nothing; died is closed
// for the test to stop it. The forwarding node sees an unknown outcome
// and retries on its own (ApplyEncoded), which reaches the new leader.
type commitThenDie struct {
	mu      sync.Mutex
	armed   string // the node id that dies on its next forwarded apply
	between func(leader *Node)
	nodes   map[string]*Node
	dead    map[string]*atomic.Bool
	died    chan struct{}
}

func (d *commitThenDie) tweak(cfg *Config) {
	cfg.PurgeInterval = 1 << 62 // no purge entries in the way
	id := cfg.NodeID
	d.mu.Lock()
	if d.dead[id] == nil {
		d.dead[id] = new(atomic.Bool)
	}
	dead := d.dead[id]
	dead.Store(false)
	d.mu.Unlock()
	inner := cfg.wrapInternal
	cfg.wrapInternal = func(h http.Handler) http.Handler {
		if inner != nil {
			h = inner(h)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if dead.Load() {
				panic(http.ErrAbortHandler) // a dying node: no answer
			}
			d.mu.Lock()
			fire := d.armed == id && (r.URL.Path == batchPath || r.URL.Path == "/internal/v1/apply")
			if fire {
				d.armed = ""
			}
			between, self := d.between, d.nodes[id]
			d.mu.Unlock()
			if !fire {
				h.ServeHTTP(w, r)
				return
			}
			h.ServeHTTP(httptest.NewRecorder(), r) // committed; the answer is lost
			if between != nil {
				between(self)
			}
			dead.Store(true)
			close(d.died)
			panic(http.ErrAbortHandler)
		})
	}
}

// TestOnce_EachRetryProneWriteAppliesOnceAcrossALeaderKill sends each
// write that is not idempotent by its content through a follower; the
// leader commits it, something else commits after it, and the leader dies
// without answering. The follower's own retry reaches the new leader with
// the same bytes, and the nonce makes it a no-op there. Without the nonce
// each retry does harm that the checks below see: a later login ended, a
// failure counted twice, a later update overwritten, a session opened with
// the new password ended.
func TestOnce_EachRetryProneWriteAppliesOnceAcrossALeaderKill(t *testing.T) {
	d := &commitThenDie{nodes: map[string]*Node{}, dead: map[string]*atomic.Bool{}}
	c := newTestCluster(t, 3, d.tweak)
	for _, n := range c.nodes {
		d.nodes[n.id] = n.Node
	}
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "once")
	st := func() *fsm.State { return c.waitLeader().fsm.State() }
	login := func(ver uint64, tok string) func(*Node) {
		return func(l *Node) {
			if _, err := l.Apply(ctx5(t), &fsm.CreateSession{UserVersion: ver, Session: fsm.Session{
				ID: "id-" + tok, Digest: digest(tok), Kind: fsm.KindNative, UserID: uid, Created: 1,
			}}); err != nil {
				t.Errorf("login between: %v", err)
			}
		}
	}
	later := "later"
	cases := []struct {
		name    string
		cmd     fsm.Command
		between func(*Node)
		check   func(t *testing.T)
	}{
		{"logoutall", &fsm.RevokeUserSessions{UserID: uid, Nonce: "req-logoutall", At: 1}, login(0, "tok-after-logoutall"),
			func(t *testing.T) {
				if _, ok := st().Session(digest("tok-after-logoutall")); !ok {
					t.Error("the retried logoutall ended a login acknowledged after it")
				}
			}},
		{"failed login", &fsm.LoginFailed{UserID: uid, At: 1, Threshold: 10, LockFor: 1, Window: 1 << 40, Nonce: "req-failed"}, nil,
			func(t *testing.T) {
				if u, _ := st().User(uid); u.FailedLogins != 1 {
					t.Errorf("one failed login counted %d times", u.FailedLogins)
				}
			}},
		{"update", &fsm.UpdateUser{UserID: uid, Name: &[]string{"first"}[0], Now: 1, Nonce: "req-update"},
			func(l *Node) {
				if _, err := l.Apply(ctx5(t), &fsm.UpdateUser{UserID: uid, Name: &later, Now: 2, Nonce: "req-later"}); err != nil {
					t.Errorf("update between: %v", err)
				}
			},
			func(t *testing.T) {
				if u, _ := st().User(uid); u.Name != later {
					t.Errorf("the retried update overwrote a later one: name %q", u.Name)
				}
			}},
		{"password change", &fsm.UpdateUser{UserID: uid, PasswordHash: &[]string{"$argon2id$new"}[0], Now: 3, Nonce: "req-password"}, login(2, "tok-new-password"),
			func(t *testing.T) {
				u, _ := st().User(uid)
				if _, ok := st().Session(digest("tok-new-password")); !ok || u.Version != 2 {
					t.Errorf("the retried password change applied again: version %d, new password's login kept %v", u.Version, ok)
				}
			}},
	}
	for _, tc := range cases {
		leader := c.waitLeader()
		var via *testNode
		for _, n := range c.followers() {
			via = n
		}
		d.mu.Lock()
		d.armed, d.between, d.died = leader.id, tc.between, make(chan struct{})
		died := d.died
		d.mu.Unlock()

		done := make(chan error, 1)
		go func() {
			_, err := via.Apply(context.Background(), tc.cmd)
			done <- err
		}()
		select {
		case <-died:
		case err := <-done:
			t.Fatalf("%s: answered (%v) before the leader died", tc.name, err)
		}
		i := c.indexOf(leader)
		dir, raftAddr, apiAddr := leader.dir, leader.raftAddr, leader.apiLn.Addr().String()
		leader.stop()
		c.nodes[i] = nil
		if err := <-done; err != nil {
			t.Fatalf("%s: the follower's retry failed: %v", tc.name, err)
		}
		c.ensureSameState()
		tc.check(t)

		ln, err := net.Listen("tcp", apiAddr)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[i] = startNode(t, leader.id, dir, raftAddr, ln, false, d.tweak)
		d.mu.Lock()
		d.nodes[leader.id] = c.nodes[i].Node
		d.mu.Unlock()
		c.waitConverged()
	}
	c.ensureSameState()
}

func (c *testCluster) indexOf(n *testNode) int {
	for i, m := range c.nodes {
		if m == n {
			return i
		}
	}
	c.t.Fatalf("node %s is not in the cluster", n.id)
	return -1
}

// TestOnce_BelowFormatV3SendsTheOldForm: while the cluster is below
// fsm.FormatV3, a write with a nonce is sent without it
// (applied as before, not refused), through the leader and through a
// follower alike, and no member remembers the nonce.
func TestOnce_BelowFormatV3SendsTheOldForm(t *testing.T) {
	older := fsm.FormatOperator
	// Every member announces the older level (a member below the
	// cluster's level may no longer join), so the cluster stays below it.
	c := newTestCluster(t, 2, func(cfg *Config) { cfg.claimFormat = &older })
	old := c.nodes[1]
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "old-form")
	for _, via := range []*testNode{c.nodes[0], old} {
		nonce := "req-" + via.id
		if _, err := via.Apply(ctx5(t), &fsm.LoginFailed{UserID: uid, At: 1, Threshold: 10, LockFor: 1, Window: 1 << 40, Nonce: nonce}); err != nil {
			t.Fatalf("failed-login record via %s in a cluster at format %d: %v", via.id, older, err)
		}
		c.ensureSameState()
		if leader.fsm.State().Remembered(nonce) {
			t.Fatalf("via %s: the nonce entered the log of a cluster below FormatV3", via.id)
		}
	}
	// At least 2: in the old form a node's retry of a forward whose answer
	// it lost applies again (what clusters below FormatV3 always did; seen
	// as 3 or 4 on a starved machine), which is why the nonce exists.
	if u, _ := leader.fsm.State().User(uid); u.FailedLogins < 2 {
		t.Fatalf("FailedLogins = %d, want at least 2 (each write applied)", u.FailedLogins)
	}
}
