package api

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// testNode is the api tests' one in-process harness: a real single node
// (Raft on 127.0.0.1:0, raft.db in a temp dir), the auth service with
// minimal hashing, and the API over them, wired as cmd/sessiond wires
// them. Its logs go to the test's log, shown when the test fails.
type testNode struct {
	node *cluster.Node
	svc  *auth.Service
	srv  *Server
	cfg  Config
	acfg auth.ServiceConfig
}

// startTestNode starts the node, waits until it is ready and OnLeader has
// seeded the default db and the JWT key (and the admin, when the config
// has a password). opts change the test defaults before anything starts.
func startTestNode(tb testing.TB, id, apiURL string, opts ...envOpt) *testNode {
	tb.Helper()
	ccfg := cluster.DefaultConfig()
	ccfg.NodeID, ccfg.DataDir, ccfg.RaftBind = id, tb.TempDir(), "127.0.0.1:0"
	ccfg.APIURL = apiURL
	ccfg.ClusterKey = "test-cluster-key-0123456789"
	ccfg.HeartbeatTimeout, ccfg.ElectionTimeout, ccfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	ccfg.MaxStale = 300 * time.Millisecond
	ccfg.LogOutput = tbWriter{tb}
	acfg := auth.DefaultServiceConfig()
	acfg.Hash = auth.MinimalHashParams()
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	for _, o := range opts {
		o(&ccfg, &acfg, &cfg)
	}
	node, err := cluster.Open(ccfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { node.Shutdown(context.Background()) })
	svc, err := auth.NewService(acfg, auth.Deps{Node: authNode{node}})
	if err != nil {
		tb.Fatal(err)
	}
	srv, err := New(cfg, node, svc)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(srv.Close)
	node.SetOnLeader(srv.OnLeader)
	tn := &testNode{node: node, svc: svc, srv: srv, cfg: cfg, acfg: acfg}
	if ccfg.Bootstrap {
		tn.waitSeeded(tb)
	}
	return tn
}

// waitSeeded waits until the node is ready and holds the seeded cluster
// (its db, an active key, the admin when one is configured).
func (tn *testNode) waitSeeded(tb testing.TB) {
	tb.Helper()
	node, cfg := tn.node, tn.cfg
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		tb.Fatal(err)
	}
	waitFor(tb, "the cluster to be seeded", func() bool {
		st := node.FSM().State()
		if !st.HasDB(cfg.DefaultDB) || st.Settings().JWTActiveKid == "" {
			return false
		}
		_, admin := st.UserByLogin(cfg.DefaultDB, "admin")
		return admin || cfg.AdminPassword == ""
	})
}

// authNode is the cluster node as auth.Service needs it, as cmd/sessiond
// wires it: the node itself, whose State is its FSM's current state.
type authNode struct{ *cluster.Node }

func (n authNode) State() *fsm.State { return n.FSM().State() }

var _ auth.Node = authNode{}

// waitFor polls cond every 10 ms until it holds, failing the test after
// 10 s: tests never sleep to synchronise.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// tbWriter sends a node's log lines to the test's log. Lines written after
// the test ended (a background loop shutting down) are dropped.
type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // Log after the test completed panics
	w.tb.Log(string(p))
	return len(p), nil
}
