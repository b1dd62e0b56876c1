package cluster

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// flood holds idle TCP connections to Raft ports, as finding N1's script
// did: it connects, sends nothing, and connects again as soon as the
// server closes it, until stopped.
type flood struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	opened atomic.Int64 // connections made
	open   atomic.Int64 // connections open now
}

// floodSources is who floods: 1,000 connections from the members' own
// address (an attacker on a member's host or behind its NAT) and 64 from
// each of eight other loopback addresses.
func floodSources() map[string]int {
	src := map[string]int{"127.0.0.1": 1000}
	for i := 2; i <= 9; i++ {
		src[fmt.Sprintf("127.0.0.%d", i)] = 64
	}
	return src
}

func startFlood(targets []string) *flood {
	f := &flood{}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	for _, target := range targets {
		for src, n := range floodSources() {
			for range n {
				f.wg.Add(1)
				go f.hold(target, src)
			}
		}
	}
	return f
}

func (f *flood) hold(target, src string) {
	defer f.wg.Done()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: time.Second}
	for f.ctx.Err() == nil {
		c, err := d.DialContext(f.ctx, "tcp", target)
		if err != nil {
			select { // the port is down (a killed node): try again shortly
			case <-f.ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
			continue
		}
		f.opened.Add(1)
		f.open.Add(1)
		stop := context.AfterFunc(f.ctx, func() { c.Close() })
		c.Read(make([]byte, 1)) // until the server closes it
		stop()
		c.Close()
		f.open.Add(-1)
	}
}

func (f *flood) stop() {
	f.cancel()
	f.wg.Wait()
}

// crash stops a node the way kill -9 does as far as its peers can tell:
// Raft stops without handing leadership over, and its connections drop.
func (tn *testNode) crash() {
	tn.srv.Close()
	tn.raft.Shutdown().Error()
	tn.transport.Close()
	tn.Node.Shutdown(context.Background())
}

// electionAfterCrash crashes the leader, waits for a new one and returns
// how long that took, with the crashed node's slot.
func electionAfterCrash(c *testCluster) (time.Duration, int, *testNode) {
	c.t.Helper()
	leader := c.waitLeader()
	slot := -1
	for i, n := range c.nodes {
		if n == leader {
			slot = i
		}
	}
	c.t.Logf("crashing leader %s (term %d, last index %d)", leader.id, leader.raft.CurrentTerm(), leader.raft.LastIndex())
	start := time.Now()
	leader.crash()
	c.nodes[slot] = nil
	c.waitLeader()
	return time.Since(start), slot, leader
}

// restart starts a crashed node again on its data dir and addresses and
// returns how long it took to catch up with the leader.
func restart(c *testCluster, slot int, old *testNode) time.Duration {
	c.t.Helper()
	start := time.Now()
	// A new API listener: nothing between members uses the API URL, and
	// the old port may have gone to one of the flood's outgoing sockets.
	n := startNode(c.t, old.id, old.dir, old.raftAddr, nil, false, productionTiming)
	c.nodes[slot] = n
	eventually(c.t, 15*time.Second, old.id+" to rejoin and catch up", func() bool {
		leader := c.leaderNow()
		_, id := n.raft.LeaderWithID()
		return leader != nil && string(id) == leader.id && n.fsm.AppliedIndex() >= leader.fsm.AppliedIndex()
	})
	return time.Since(start)
}

// newLowPortCluster is newTestCluster with Raft ports below the kernel's
// ephemeral range, so that a crashed node's port cannot be taken by one of
// the flood's thousands of outgoing sockets before the node restarts on it.
func newLowPortCluster(t *testing.T, size int, tweak func(*Config)) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	t.Cleanup(c.stopAll)
	c.nodes = append(c.nodes, startNode(t, "n1", t.TempDir(), lowPortAddr(t), nil, true, tweak))
	c.waitLeader()
	for i := 2; i <= size; i++ {
		n := startNode(t, fmt.Sprintf("n%d", i), t.TempDir(), lowPortAddr(t), nil, false, tweak)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := n.JoinVia(ctx, c.nodes[0].cfg.APIURL, false)
		cancel()
		if err != nil {
			t.Fatalf("join n%d: %v", i, err)
		}
		c.nodes = append(c.nodes, n)
	}
	c.waitConverged()
	return c
}

// lowPortAddr is a free loopback address with a port in 20000-31999.
func lowPortAddr(t *testing.T) string {
	t.Helper()
	for range 200 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 20000-31999")
	return ""
}

// leaderNow is the running node that leads, or nil.
func (c *testCluster) leaderNow() *testNode {
	for _, n := range c.nodes {
		if n != nil && n.IsLeader() {
			return n
		}
	}
	return nil
}

func overloads(c *testCluster) float64 {
	var sum float64
	for _, n := range c.nodes {
		if n != nil {
			sum += testutil.ToFloat64(n.auth.raftFailures.WithLabelValues("overload"))
		}
	}
	return sum
}

// productionTiming runs the nodes with the production defaults' Raft
// timeouts (500 ms), as in the finding: the harness's 50-100 ms ones make a
// leader step down whenever the shared test machine stalls for 50 ms, which
// the flood's own CPU cost does, and that would measure the machine.
func productionTiming(c *Config) {
	d := DefaultConfig()
	c.HeartbeatTimeout, c.ElectionTimeout, c.LeaderLeaseTimeout = d.HeartbeatTimeout, d.ElectionTimeout, d.LeaderLeaseTimeout
}

// Finding N1: idle connections on every member's Raft port must not keep
// the cluster leaderless after its leader crashes, nor keep a restarted
// member out. The flood is 1,000 idle connections per port from the
// members' own address and 64 from each of eight other addresses,
// reconnecting as the server closes them. The election with the flood
// must take at most 2 s longer than one without, measured here first.
func TestRaftAuth_IdleFloodDoesNotBlockElections(t *testing.T) {
	c := newLowPortCluster(t, 3, productionTiming)
	control, slot, crashed := electionAfterCrash(c)
	controlRejoin := restart(c, slot, crashed)
	c.waitConverged()

	var targets []string
	for _, n := range c.nodes {
		targets = append(targets, n.raftAddr)
	}
	f := startFloodProcess(t, targets)
	perPort := 0
	for _, n := range floodSources() {
		perPort += n
	}
	// Twice the flood's size: every connection was opened, and on average
	// closed by the server and opened again, so the ports are churning.
	// The deadline is generous: on a starved machine the flood process
	// opens a few hundred connections a second.
	eventually(t, 90*time.Second, "the flood to be up and reconnecting", func() bool {
		opened, _ := f.stats()
		return opened >= int64(2*perPort*len(targets))
	})
	before := overloads(c)
	openedBefore, _ := f.stats()
	flooded, slot, crashed := electionAfterCrash(c)
	floodedRejoin := restart(c, slot, crashed)
	// The restarted member serves a write through the new leader while
	// the flood goes on.
	mustLogin(t, c.nodes[slot].Node, mustUser(t, c.nodes[slot].Node, "flood-user"), "flood-token")
	// The flood went on throughout: it kept opening connections as the
	// servers closed them, and it still held a quarter of a port's worth
	// open at the end (the stats file is at most 50 ms old; servers close
	// idle ones after a second, so the open count swings: 1,821 in a
	// quiet run). How many it reopened depends on how long the
	// measurement took: a quick election churns fewer, so that count is
	// not bounded from below beyond "some".
	opened, open := f.stats()
	if opened <= openedBefore || open < int64(perPort/4) {
		t.Fatalf("the flood stalled during the measurement: %d connections opened (%d before), %d open at the end (want ≥ %d)", opened, openedBefore, open, perPort/4)
	}
	t.Logf("N1 flood: %d idle connections per Raft port (%d addresses), %d opened in all, %d open at the end, %.0f dropped or refused as overload",
		perPort, len(floodSources()), opened, open, overloads(c)-before)
	t.Logf("N1 election after a leader crash: control %v, flooded %v; restarted member caught up: control %v, flooded %v",
		control.Round(time.Millisecond), flooded.Round(time.Millisecond),
		controlRejoin.Round(time.Millisecond), floodedRejoin.Round(time.Millisecond))
	// The bound of issue 22: 2 s over the control. Under the race detector
	// every handshake costs several times more CPU on a shared machine, so
	// there the test proves the cluster recovers, with room.
	slack := 2 * time.Second
	if raceDetector {
		slack = 10 * time.Second
	}
	if flooded > control+slack {
		t.Fatalf("election under the flood took %v, control %v", flooded, control)
	}
}
