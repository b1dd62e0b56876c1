package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

const testKey = "test-cluster-key-0123456789"

// testNode is a Node plus the HTTP server that exposes its internal API.
type testNode struct {
	*Node
	srv *http.Server
	dir string
	id  string
	// raftAddr is kept so that a restarted node reuses its address.
	raftAddr string
	apiLn    net.Listener
	// frozen, when set, holds every internal request until it is closed.
	frozen atomic.Pointer[chan struct{}]
}

// testCluster is a set of real nodes on loopback, as rqlite's system tests
// build them.
type testCluster struct {
	t     *testing.T
	nodes []*testNode
}

func fastConfig(t *testing.T, id, dir, raftAddr, apiURL string) Config {
	cfg := DefaultConfig()
	cfg.NodeID, cfg.DataDir, cfg.RaftBind, cfg.APIURL = id, dir, raftAddr, apiURL
	cfg.ClusterKey = testKey
	cfg.HeartbeatTimeout = 100 * time.Millisecond
	cfg.ElectionTimeout = 100 * time.Millisecond
	cfg.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.MaxStale = 300 * time.Millisecond
	cfg.ApplyTimeout = 5 * time.Second
	cfg.LogOutput = testLog{t}
	return cfg
}

// testLog sends a node's Raft log to the test's log, shown when it fails.
// Lines written after the test ended (loops shutting down) are dropped.
type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // t.Log after the test completed panics
	w.t.Log(string(p))
	return len(p), nil
}

func startNode(t *testing.T, id, dir, raftAddr string, apiLn net.Listener, bootstrap bool, tweak func(*Config)) *testNode {
	t.Helper()
	if apiLn == nil {
		var err error
		if apiLn, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	if raftAddr == "" {
		raftAddr = "127.0.0.1:0"
	}
	cfg := fastConfig(t, id, dir, raftAddr, "http://"+apiLn.Addr().String())
	cfg.Bootstrap = bootstrap
	if tweak != nil {
		tweak(&cfg)
	}
	n, err := Open(cfg)
	if err != nil {
		t.Fatalf("open %s: %v", id, err)
	}
	tn := &testNode{Node: n, dir: dir, id: id, raftAddr: n.RaftAddr(), apiLn: apiLn}
	mux := http.NewServeMux()
	mux.Handle("/internal/", n.InternalHandler())
	tn.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := tn.frozen.Load(); g != nil {
			<-*g // a frozen node: the connection is open, no answer comes
		}
		mux.ServeHTTP(w, r)
	})}
	go tn.srv.Serve(apiLn)
	return tn
}

func (tn *testNode) stop() {
	tn.srv.Close()
	tn.Node.Shutdown(context.Background())
}

// newTestCluster starts size nodes: the first bootstraps, the others join
// through it.
func newTestCluster(t *testing.T, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	first := startNode(t, "n1", t.TempDir(), "", nil, true, tweak)
	c.nodes = append(c.nodes, first)
	c.waitLeader()
	for i := 2; i <= size; i++ {
		c.addNode(fmt.Sprintf("n%d", i), tweak)
	}
	t.Cleanup(c.stopAll)
	c.waitConverged()
	return c
}

func (c *testCluster) addNode(id string, tweak func(*Config)) *testNode {
	c.t.Helper()
	n := startNode(c.t, id, c.t.TempDir(), "", nil, false, tweak)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.JoinVia(ctx, c.nodes[0].cfg.APIURL, false); err != nil {
		c.t.Fatalf("join %s: %v", id, err)
	}
	c.nodes = append(c.nodes, n)
	return n
}

func (c *testCluster) stopAll() {
	for _, n := range c.nodes {
		if n != nil {
			n.stop()
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// waitLeader waits for a stable leader among the running nodes whose term
// has an applied entry, and returns it.
func (c *testCluster) waitLeader() *testNode {
	c.t.Helper()
	var leader *testNode
	eventually(c.t, 10*time.Second, "a leader all nodes agree on", func() bool {
		leader = nil
		for _, n := range c.nodes {
			if n != nil && n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm() {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		// Like hashicorp/raft's GetInState: not just some node that thinks
		// it leads, but one every running node (in the configuration)
		// names, so a test never acts on a leader about to be deposed.
		for _, n := range c.nodes {
			if n == nil || !n.isVoterOrMember() {
				continue
			}
			if _, id := n.raft.LeaderWithID(); string(id) != leader.id {
				return false
			}
		}
		return true
	})
	return leader
}

// isVoterOrMember reports whether the node is in its own view of the
// configuration (a node not yet joined knows no leader).
func (tn *testNode) isVoterOrMember() bool {
	f := tn.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == tn.id {
			return true
		}
	}
	return false
}

// waitApplied waits until every running node has applied index idx.
func (c *testCluster) waitApplied(idx uint64) {
	c.t.Helper()
	eventually(c.t, 10*time.Second, fmt.Sprintf("every node to apply index %d", idx), func() bool {
		for _, n := range c.nodes {
			if n != nil && n.fsm.AppliedIndex() < idx {
				return false
			}
		}
		return true
	})
}

// ensureSameState waits for every running node to reach the leader's
// applied index and then asserts that all hold byte-identical state (as
// hashicorp/raft's EnsureSame does with its FSMs).
func (c *testCluster) ensureSameState() {
	c.t.Helper()
	leader := c.waitLeader()
	idx := leader.fsm.AppliedIndex()
	c.waitApplied(idx)
	// The hash is compared at one index; background loops may apply more
	// entries meanwhile, so it is polled until all nodes agree at one.
	eventually(c.t, 10*time.Second, "every node to hold the same state at one index", func() bool {
		want, at := "", uint64(0)
		for _, n := range c.nodes {
			if n == nil {
				continue
			}
			h, i := n.fsm.StateHash()
			if want == "" {
				want, at = h, i
			} else if h != want || i != at {
				return false
			}
		}
		return true
	})
}

func (c *testCluster) followers() []*testNode {
	var out []*testNode
	for _, n := range c.nodes {
		if n != nil && n.raft.State() != raft.Leader {
			out = append(out, n)
		}
	}
	return out
}

// waitConverged waits until every running node has applied the leader's
// commit index and knows the leader.
func (c *testCluster) waitConverged() {
	c.t.Helper()
	leader := c.waitLeader()
	eventually(c.t, 10*time.Second, "nodes to converge", func() bool {
		want := leader.fsm.AppliedIndex()
		for _, n := range c.nodes {
			if n != nil && (n.fsm.AppliedIndex() < want || n.LeaderURL() == "") {
				return false
			}
		}
		return true
	})
}

// The harness checks itself: a three-node cluster that converged holds
// byte-identical state on every node.
func TestHarness_ConvergedClusterHoldsSameState(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.waitLeader().Apply(ctx, &fsm.CreateDB{Name: "harness"}); err != nil {
		t.Fatal(err)
	}
	c.ensureSameState()
}
