package cluster

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// TestCluster_RollingRestartUnderLoad restarts every node in turn (clean
// shutdown with leadership transfer, then start on the same data dir and
// addresses) while writers keep logging in through every node. No
// acknowledged write may be lost, and a writer that retries after a failed
// attempt always gets through.
func TestCluster_RollingRestartUnderLoad(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "rolling")
	liftSessionCap(t, leader.Node) // one user logs in hundreds of times

	var mu sync.Mutex
	acked := map[string]bool{}
	var attempts, retried atomic.Int64
	nodeAt := func(i int) *Node {
		mu.Lock()
		defer mu.Unlock()
		if n := c.nodes[i%len(c.nodes)]; n != nil && !n.closing.Load() {
			return n.Node
		}
		return nil
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				tok := fmt.Sprintf("roll-%d-%d", w, i)
				sess := fsm.Session{ID: "id-" + tok, Digest: digest(tok), Kind: fsm.KindNative, UserID: uid, Created: 1}
				deadline := time.Now().Add(20 * time.Second)
				for try := 0; ; try++ {
					attempts.Add(1)
					n := nodeAt(w + i + try)
					if n != nil {
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						res, err := n.Apply(ctx, &fsm.CreateSession{Session: sess})
						cancel()
						if err == nil && res.Err() == nil {
							mu.Lock()
							acked[tok] = true
							mu.Unlock()
							break
						}
					}
					if time.Now().After(deadline) {
						t.Errorf("write %s never succeeded through retries", tok)
						return
					}
					retried.Add(1)
					time.Sleep(20 * time.Millisecond) // client back-off between retries
				}
			}
		}(w)
	}

	ackedN := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(acked)
	}
	for i := range c.nodes {
		// Writes between every two restarts, however fast a restart is on
		// this machine: the test is about writes that meet restarts.
		want := ackedN() + 7
		eventually(t, 20*time.Second, "writes acknowledged before the next restart", func() bool { return ackedN() >= want })
		old := c.nodes[i]
		api := old.apiLn.Addr().String()
		old.stop()
		ln, err := net.Listen("tcp", api)
		if err != nil {
			t.Fatal(err)
		}
		restarted := startNode(t, old.id, old.dir, old.raftAddr, ln, true, nil)
		mu.Lock()
		c.nodes[i] = restarted
		mu.Unlock()
		c.waitConverged()
	}
	close(stop)
	wg.Wait()
	c.waitConverged()

	mu.Lock()
	defer mu.Unlock()
	if len(acked) < 20 {
		t.Fatalf("only %d writes acknowledged during the rolling restart", len(acked))
	}
	for _, n := range c.nodes {
		for tok := range acked {
			if !valid(t, n.Node, Consistent, tok) {
				t.Fatalf("acknowledged login %s lost on %s", tok, n.id)
			}
		}
	}
	t.Logf("%d writes acknowledged, %d attempts, %d retries", len(acked), attempts.Load(), retried.Load())
}
