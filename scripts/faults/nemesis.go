package faults

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Scenario names, each a fault the nemesis injects on a schedule.
const (
	ScNone            = "none"
	ScKillLeader      = "kill-leader"
	ScKillFollower    = "kill-follower"
	ScKillAll         = "kill-all"
	ScIsolateLeader   = "isolate-leader"
	ScIsolateFollower = "isolate-follower"
	ScOneWay          = "one-way"
	ScFlapping        = "flapping"
	ScPauseLeader     = "pause-leader"
	ScSnapshotInstall = "snapshot-install"
	ScLatency         = "latency"
	ScDiskFull        = "disk-full"
	ScExpiry          = "expiry"
	ScAll             = "all" // a random mix of every fault
)

// Scenarios lists every scenario in the order the short suite runs them
// (all but late-lease-answer, left out for the suite's time).
var Scenarios = []string{
	ScNone, ScKillLeader, ScKillFollower, ScKillAll, ScIsolateLeader, ScIsolateFollower,
	ScOneWay, ScFlapping, ScPauseLeader, ScStallLeader, ScMembership, ScClockSkew, ScSnapshotInstall, ScLatency, ScDiskFull, ScExpiry,
	ScCombined, ScSlowFollower, ScTransferLeader,
}

// mixFaults are the faults the "all" scenario draws from.
var mixFaults = []string{
	ScKillLeader, ScKillFollower, ScKillAll, ScIsolateLeader, ScIsolateFollower,
	ScOneWay, ScFlapping, ScPauseLeader, ScStallLeader, ScMembership, ScClockSkew, ScSnapshotInstall, ScLatency, ScDiskFull,
	ScCombined, ScSlowFollower, ScTransferLeader, ScLateAnswer,
}

// FaultEvent is one injected fault.
type FaultEvent struct {
	Kind   string `json:"kind"`
	Target string `json:"target,omitempty"`
	Start  int64  `json:"start"`
	End    int64  `json:"end"`
	Note   string `json:"note,omitempty"`
}

// Nemesis injects faults into a cluster on a schedule.
type Nemesis struct {
	cl       *Cluster
	net      Network
	rec      *Recorder
	election time.Duration
	r        *mrand.Rand
	log      func(format string, args ...any)
	// snapshotFlags: the binary can be told to snapshot and compact
	// often, so a follower held back needs a snapshot install.
	snapshotFlags bool
	// trailingLogs is how many entries the nodes keep after a snapshot;
	// snapshotWait bounds how long a follower is held back for one.
	trailingLogs uint64
	snapshotWait time.Duration
	longWaits    int // long holds so far
	// wl, when set, sends the probes some faults aim at their moment.
	wl *Workload

	// target is 1 + the index of the node the current fault is aimed
	// at (0: none): the workload sends part of its traffic there.
	target atomic.Int64

	mu     sync.Mutex
	events []FaultEvent
}

// Target is the node the latest fault was aimed at, or -1. It stays set
// after the heal until the next fault, so a restarted or rejoining node
// keeps receiving traffic while it catches up.
func (n *Nemesis) Target() int { return int(n.target.Load()) - 1 }

// Events returns the faults injected so far.
func (n *Nemesis) Events() []FaultEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]FaultEvent(nil), n.events...)
}

func (n *Nemesis) record(kind, target, note string, start int64) {
	n.mu.Lock()
	n.events = append(n.events, FaultEvent{Kind: kind, Target: target, Start: start, End: n.rec.Now(), Note: note})
	n.mu.Unlock()
	n.log("fault %s %s %s", kind, target, note)
}

// Run injects the scenario's faults until ctx ends, then heals everything:
// network faults removed, paused nodes continued, dead nodes restarted.
func (n *Nemesis) Run(ctx context.Context, scenario string) {
	defer n.HealAll()
	if scenario == ScNone || scenario == ScExpiry {
		<-ctx.Done()
		return
	}
	for ctx.Err() == nil {
		// Quiet time between faults lets the cluster recover and the
		// workload record healthy operations.
		if !sleepCtx(ctx, n.jitter(time.Second, 2*time.Second)) {
			return
		}
		f := scenario
		if f == ScAll {
			f = mixFaults[n.r.IntN(len(mixFaults))]
		}
		if err := n.inject(ctx, f); err != nil {
			n.log("fault %s: %v", f, err)
		}
		n.HealAll()
	}
}

func (n *Nemesis) jitter(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(n.r.Int64N(int64(hi-lo)+1))
}

// hold keeps a fault for a while (a few election timeouts) or until ctx
// ends.
func (n *Nemesis) hold(ctx context.Context) {
	sleepCtx(ctx, n.jitter(2*n.election, 4*n.election))
}

func (n *Nemesis) inject(ctx context.Context, f string) error {
	start := n.rec.Now()
	n.target.Store(0)
	switch f {
	case ScKillLeader:
		return n.killLeaderProbed(ctx, start)
	case ScKillFollower:
		return n.killFollowerProbed(ctx, start)
	case ScIsolateLeader:
		return n.isolateLeaderProbed(ctx, start)
	case ScStallLeader:
		return n.stallLeader(ctx, start)
	case ScMembership:
		return n.membership(ctx, start)
	case ScClockSkew:
		return n.clockSkew(ctx, start)
	case ScCombined:
		return n.combined(ctx, start)
	case ScSlowFollower:
		return n.slowFollower(ctx, start)
	case ScTransferLeader:
		return n.transferLeader(ctx, start)
	case ScLateAnswer:
		return n.lateLeaseAnswer(ctx, start)
	case ScKillAll:
		for i := range n.cl.Procs {
			n.cl.Kill(i)
		}
		sleepCtx(ctx, n.jitter(200*time.Millisecond, time.Second))
		for i := range n.cl.Procs {
			n.cl.Start(i)
		}
		n.record(f, "all", "", start)
		return nil
	case ScIsolateFollower:
		return n.isolateFollowerProbed(ctx, start)
	case ScOneWay:
		// The leader still hears the others but cannot reach them.
		i, err := n.pick(ctx, true)
		if err != nil {
			return err
		}
		for j := range n.cl.Procs {
			if j != i {
				if err := n.net.Cut(i, j); err != nil {
					return err
				}
			}
		}
		n.hold(ctx)
		n.record(f, n.cl.Procs[i].ID+"->others", "", start)
		return nil
	case ScFlapping:
		end := time.Now().Add(n.jitter(4*n.election, 8*n.election))
		flips := 0
		for time.Now().Before(end) && ctx.Err() == nil {
			var side []int
			for j := range n.cl.Procs {
				if n.r.IntN(2) == 0 {
					side = append(side, j)
				}
			}
			n.net.Heal()
			if len(side) > 0 && len(side) < len(n.cl.Procs) {
				n.partition(side)
			}
			flips++
			sleepCtx(ctx, n.jitter(n.election/4, n.election))
		}
		n.record(f, "random halves", fmt.Sprintf("%d flips", flips), start)
		return nil
	case ScPauseLeader:
		i, err := n.pick(ctx, true)
		if err != nil {
			return err
		}
		if err := n.cl.Signal(i, syscall.SIGSTOP); err != nil {
			return err
		}
		sleepCtx(context.WithoutCancel(ctx), n.jitter(2*n.election, 4*n.election))
		err = n.cl.Signal(i, syscall.SIGCONT)
		n.record(f, n.cl.Procs[i].ID, "", start)
		return err
	case ScLatency:
		d := n.jitter(20*time.Millisecond, n.election/5)
		for a := range n.cl.Procs {
			for b := range n.cl.Procs {
				if a != b {
					n.net.SetLatency(a, b, d)
				}
			}
		}
		n.hold(ctx)
		n.record(f, "all links", d.String(), start)
		return nil
	case ScSnapshotInstall:
		return n.snapshotInstall(ctx, start)
	case ScDiskFull:
		return n.diskFull(ctx, start)
	}
	return fmt.Errorf("unknown fault %q", f)
}

// cutFollower picks a running follower, notes its state, and partitions it
// from the others (snapshot-install and the probed isolate-follower start
// alike).
func (n *Nemesis) cutFollower(ctx context.Context) (int, NodeState, error) {
	i, err := n.pick(ctx, false)
	if err != nil {
		return -1, NodeState{}, err
	}
	st, _ := n.cl.Client.Status(ctx, i, false)
	return i, st, n.partition([]int{i})
}

// pick returns the leader or a random running follower.
func (n *Nemesis) pick(ctx context.Context, leader bool) (i int, err error) {
	defer func() {
		if err == nil {
			n.target.Store(int64(i) + 1)
		}
	}()
	lctx, cancel := context.WithTimeout(ctx, 10*n.election)
	defer cancel()
	l, err := n.cl.Leader(lctx)
	if err != nil {
		return -1, err
	}
	if leader {
		return l, nil
	}
	var fs []int
	for i, p := range n.cl.Procs {
		if i != l && p.Running() {
			fs = append(fs, i)
		}
	}
	if len(fs) == 0 {
		return -1, fmt.Errorf("no running follower")
	}
	return fs[n.r.IntN(len(fs))], nil
}

// partition cuts the given nodes off from the others, both ways.
func (n *Nemesis) partition(side []int) error {
	in := map[int]bool{}
	for _, i := range side {
		in[i] = true
	}
	for a := range n.cl.Procs {
		for b := range n.cl.Procs {
			if a != b && in[a] != in[b] {
				if err := n.net.Cut(a, b); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (n *Nemesis) names(idx []int) string {
	var s []string
	for _, i := range idx {
		s = append(s, n.cl.Procs[i].ID)
	}
	sort.Strings(s)
	return fmt.Sprint(s)
}

// snapshotInstall holds a follower back until the leader has compacted
// its log past the follower (a snapshot at least trailing entries beyond
// the follower's last index), heals, and kills the follower while it
// installs the snapshot; the follower then restarts and must converge.
// If that takes longer than snapshotWait, the follower is let go anyway
// and only catches up from the log (the note says so).
func (n *Nemesis) snapshotInstall(ctx context.Context, start int64) error {
	i, st, err := n.cutFollower(ctx)
	if err != nil {
		return err
	}
	// While the follower is held back, the traffic goes to the majority:
	// its writes are what moves the log a snapshot past the follower (aimed
	// at the cut-off node they would only wait out their deadlines). The
	// follower is the target again from the heal on.
	n.target.Store(0)
	defer n.target.Store(int64(i) + 1)
	need := st.Applied + n.trailingLogs + 1
	wait := n.snapshotWait
	if n.longWaits > 0 {
		// One long hold per run; later ones stay short so that other
		// faults get their turn.
		wait = min(wait, 15*n.election)
	}
	if wait > 15*n.election {
		n.longWaits++
	}
	deadline := time.Now().Add(wait)
	note := fmt.Sprintf("released before a snapshot reached index %d (caught up from the log)", need)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if idx := n.newestSnapshotIndex(i); idx >= need {
			note = fmt.Sprintf("held back at index %d until a snapshot at %d", st.Applied, idx)
			break
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
	n.net.Heal()
	// Kill it while it catches up (the install is under way or about to
	// be), then restart.
	sleepCtx(context.WithoutCancel(ctx), n.jitter(50*time.Millisecond, 400*time.Millisecond))
	n.cl.Kill(i)
	sleepCtx(context.WithoutCancel(ctx), n.jitter(100*time.Millisecond, 500*time.Millisecond))
	err = n.cl.Start(i)
	n.record(ScSnapshotInstall, n.cl.Procs[i].ID, note, start)
	return err
}

// newestSnapshotIndex is the highest index of a snapshot on any node but
// skip (snapshot directories are named term-index-millis).
func (n *Nemesis) newestSnapshotIndex(skip int) uint64 {
	var best uint64
	for j := range n.cl.Procs {
		if j != skip {
			best = max(best, n.snapshotIndexOf(j))
		}
	}
	return best
}

// ballast is the file that fills the tmpfs data dir.
const ballast = "zz-faults-ballast"

// diskFull fills the data dir of the tmpfs node until writes fail, keeps
// it full for a while, frees it and restarts the node if it died.
func (n *Nemesis) diskFull(ctx context.Context, start int64) error {
	dir := n.cl.tmpfsDir()
	if dir == "" {
		n.record(ScDiskFull, "", "skipped: no tmpfs data dir (needs root)", start)
		return nil
	}
	idx := n.cl.cfg.TmpfsNode
	path := filepath.Join(dir, ballast)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	written := 0
	for {
		k, err := f.Write(buf)
		written += k
		if err != nil {
			break
		}
	}
	f.Close()
	n.hold(ctx)
	os.Remove(path)
	note := fmt.Sprintf("filled %d KiB", written>>10)
	if !n.cl.Procs[idx].Running() {
		note += "; node exited, restarted"
		if err := n.cl.Start(idx); err != nil {
			return err
		}
	}
	n.record(ScDiskFull, n.cl.Procs[idx].ID, note, start)
	return nil
}

// HealAll removes every fault: network healed, paused nodes continued,
// dead nodes restarted, the disk ballast removed.
func (n *Nemesis) HealAll() {
	n.net.Heal()
	n.resetClocks()
	if dir := n.cl.tmpfsDir(); dir != "" {
		os.Remove(filepath.Join(dir, ballast))
	}
	for i, p := range n.cl.Procs {
		if p.Running() {
			n.cl.Signal(i, syscall.SIGCONT)
		} else {
			n.cl.Start(i)
		}
	}
}
