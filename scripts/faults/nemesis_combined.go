package faults

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// ScCombined injects a partition, a kill and clock steps at once: the
// leader is cut off alone with its clock stepped, a follower is killed
// and restarted while the partition holds, so the majority must elect
// among a node just back from the dead (possibly from its snapshot) and
// nodes whose clocks disagree. Revocations acknowledged by the majority
// are then probed on the old leader, which still believes in its lease:
// each fault alone has its scenario; together they test that the
// lease's monotonic clock, restart catch-up and the read-index barrier
// do not lean on one another.
const ScCombined = "partition-kill-clock"

// combined is the ScCombined fault.
func (n *Nemesis) combined(ctx context.Context, start int64) error {
	old, err := n.pick(ctx, true)
	if err != nil {
		return err
	}
	var notes []string
	if n.cl.cfg.ClockFiles {
		for i := range n.cl.Procs {
			d := n.offset()
			n.cl.setClock(i, d)
			notes = append(notes, fmt.Sprintf("%s clock %v", n.cl.Procs[i].ID, d.Round(time.Millisecond)))
		}
	}
	since := n.rec.Now()
	if err := n.partition([]int{old}); err != nil {
		return err
	}
	rest := n.others(old)
	victim := rest[n.r.IntN(len(rest))]
	if err := n.cl.Kill(victim); err != nil {
		return err
	}
	notes = append(notes, "isolated "+n.cl.Procs[old].ID, "killed "+n.cl.Procs[victim].ID)
	sleepCtx(ctx, n.jitter(n.election/2, n.election))
	if err := n.cl.Start(victim); err != nil {
		return err
	}
	if n.cl.cfg.ClockFiles {
		d := n.offset()
		n.cl.setClock(old, d)
		notes = append(notes, fmt.Sprintf("then %s stepped to %v", n.cl.Procs[old].ID, d.Round(time.Millisecond)))
	}
	probes := 0
	if n.wl != nil {
		// Once the majority leads again, revoke there and probe the old
		// leader for what it must no longer accept.
		lctx, cancel := context.WithTimeout(ctx, 10*n.election)
		l, lerr := n.leaderOf(lctx, rest)
		cancel()
		if lerr == nil {
			n.wl.LogoutBurst(ctx, l, 4)
			toks := n.wl.RevokedSince(since, 0)
			probes = n.wl.Probe(ctx, []int{old}, toks, []string{"default", "consistent"}, n.election, 4)
		}
	}
	n.hold(ctx)
	n.resetClocks()
	n.record(ScCombined, n.cl.Procs[old].ID, fmt.Sprintf("%s; %d probes", strings.Join(notes, ", "), probes), start)
	return nil
}

// ScSlowFollower delays every fsync of one follower (strace, as
// stall-leader does), so it stores and applies entries a fraction of a
// second after the leader and the other follower committed them, while
// its network is fast: a read-index answer then reaches it before the
// entries it covers are applied. Revocations are made through the leader
// and each is validated on the slow follower as soon as it is
// acknowledged: a consistent read that skips the apply wait answers from
// state without the revocation (P1, P2). Network latency alone cannot
// show that: the entries travel on the same links as the answer, ahead
// of it.
const ScSlowFollower = "slow-follower"

// slowFollower is the ScSlowFollower fault.
func (n *Nemesis) slowFollower(ctx context.Context, start int64) error {
	i, err := n.pick(ctx, false)
	if err != nil {
		return err
	}
	d := n.jitter(n.election/4, n.election/2)
	stop, err := n.stallDisk(i, d)
	if err != nil {
		n.record(ScSlowFollower, n.cl.Procs[i].ID, "skipped: "+err.Error(), start)
		return nil
	}
	defer stop()
	end := time.Now().Add(n.jitter(2*n.election, 4*n.election))
	bursts := 0
	for n.wl != nil && time.Now().Before(end) && ctx.Err() == nil {
		lctx, cancel := context.WithTimeout(ctx, n.election)
		l, lerr := n.leaderOf(lctx, n.others(i))
		cancel()
		if lerr == nil {
			// Each acknowledged logout is followed by a validation on
			// the target, the slow follower (Workload.followUp).
			n.wl.LogoutBurst(ctx, l, 4)
			bursts++
		}
	}
	sleepCtx(ctx, time.Until(end))
	n.record(ScSlowFollower, n.cl.Procs[i].ID, fmt.Sprintf("fsync delayed %v; %d logout bursts through the leader", d.Round(time.Millisecond), bursts), start)
	return nil
}
