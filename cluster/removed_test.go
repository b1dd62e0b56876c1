package cluster

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRemove_RemovedNodeIsToldAndLeavesTheBalancer: a member removed
// while it runs (issue 25: "a removed node never says it was removed")
// hears it from the leader, logs it once at error level with what to do,
// and stops answering ready, so a load balancer stops sending it
// validations it can no longer answer from a current state.
func TestRemove_RemovedNodeIsToldAndLeavesTheBalancer(t *testing.T) {
	var mu sync.Mutex
	logs := map[string]*syncBuffer{}
	c := newTestCluster(t, 3, func(cfg *Config) {
		mu.Lock()
		defer mu.Unlock()
		logs[cfg.NodeID] = &syncBuffer{}
		cfg.LogOutput = io.MultiWriter(cfg.LogOutput, logs[cfg.NodeID])
	})
	leader := c.waitLeader()
	victim := c.followers()[0]
	if victim.Removed() {
		t.Fatal("a member reports itself removed")
	}
	if err := leader.Remove(ctx5(t), victim.id); err != nil {
		t.Fatalf("remove: %v", err)
	}
	eventually(t, 10*time.Second, "the removed node is told", victim.Removed)
	if victim.Ready() {
		t.Error("a removed node still answers ready")
	}
	mu.Lock()
	got := logs[victim.id].String()
	mu.Unlock()
	if n := strings.Count(got, "removed from the cluster"); n != 1 || !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "--join") {
		t.Errorf("the removed node logged the removal %d times, want once at error level saying what to do:\n%s", n, got)
	}
	for _, n := range c.nodes {
		if n != victim && n.Removed() {
			t.Errorf("%s, still a member, reports itself removed", n.id)
		}
	}
	// Added back (a join, as the log line says), it takes part again.
	if err := victim.JoinVia(ctx5(t), leader.cfg.APIURL, false); err != nil {
		t.Fatalf("join back: %v", err)
	}
	eventually(t, 10*time.Second, "joined back, a member and ready again", func() bool { return !victim.Removed() && victim.Ready() })
}
