package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/raft"
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
	cfg.LogOutput = io.Discard
	return cfg
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
	mux := http.NewServeMux()
	mux.Handle("/internal/", n.InternalHandler())
	srv := &http.Server{Handler: mux}
	go srv.Serve(apiLn)
	return &testNode{Node: n, srv: srv, dir: dir, id: id, raftAddr: n.RaftAddr(), apiLn: apiLn}
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
	eventually(c.t, 10*time.Second, "a leader", func() bool {
		leader = nil
		for _, n := range c.nodes {
			if n != nil && n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm() {
				leader = n
			}
		}
		return leader != nil
	})
	return leader
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
