package faults

import (
	"context"
	"fmt"
	"time"
)

// ScLateAnswer makes a follower's read-lease renewals come back late and
// then isolates it, so that the leader must wait out the lease it recorded
// for it: the leader's link to the follower is slowed by a fifth to three
// tenths of an election timeout while the follower renews its lease
// (default validations on it), then the follower's requests are cut (no
// grant after this), the answers still in flight are let arrive, and the
// leader's side is cut too. Logouts through the leader of sessions the
// follower has are then acknowledged once the leader's record of the lease
// (its arrival + MaxStale + 50 ms) has run out, and each is validated on
// the follower at the default level at once. A follower that counts its
// lease from the answer instead of from its request (invariant I4 of
// cluster/protocol.go) still holds it for the answer's delay less the
// 50 ms margin after that acknowledgement, and accepts the token (P2).
// Cutting the requests first keeps a renewal whose answer the cut drops
// from extending the leader's record past the follower's lease. The heal
// waits for the first acknowledgement of these logouts, not any: healing
// at a workload logout acknowledged through the other follower, while the
// leader still waited out the lease, let the follower renew and hid the
// mutant (1 run in 10 before 2026-12-07, 1 in 2 full catalogue runs).
// Not in Scenarios (the short suite's time budget): the mutant runner, `all`
// and `scripts/faults.sh -s late-lease-answer` run it.
const ScLateAnswer = "late-lease-answer"

// lateLeaseAnswer is the ScLateAnswer fault.
func (n *Nemesis) lateLeaseAnswer(ctx context.Context, start int64) error {
	l, err := n.pick(ctx, true)
	if err != nil {
		return err
	}
	f, err := n.pick(ctx, false)
	if err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	d := n.jitter(n.election/5, 3*n.election/10)
	n.net.SetLatency(l, f, d)
	note := fmt.Sprintf("%s's link to %s +%v", n.cl.Procs[l].ID, n.cl.Procs[f].ID, d.Round(time.Millisecond))
	var toks []probeToken
	if n.wl != nil {
		if st, err := n.cl.Client.Status(ctx, f, false); err == nil {
			toks = n.wl.liveTokens(st.Applied, 6)
		}
		// Two renewal periods of default hits: its lease now rests on
		// answers that arrived d late.
		n.wl.Probe(bg, []int{f}, toks, []string{"default"}, 2*n.election/3, 2)
	}
	if err := n.net.Cut(f, l); err != nil {
		return err
	}
	sleepCtx(bg, d+n.election/10)
	before, _ := n.cl.Client.Status(bg, f, false)
	if err := n.partition([]int{f}); err != nil {
		return err
	}
	if n.wl != nil && len(toks) > 0 {
		since := n.rec.Now()
		done := make(chan struct{})
		go func() { n.wl.LogoutsProbed(bg, l, f, toks); close(done) }()
		// Heal a tenth of a timeout after the first acknowledgement: the
		// window is the first milliseconds after it, and a validation
		// the cut-off follower cannot prove would wait out its 2 s read
		// deadline. Its lease, if it still holds one, outlives the heal.
		// The first acknowledgement of these logouts: the workload's
		// own logouts through the other follower are acknowledged
		// meanwhile too, and healing at one of those (while the leader
		// still waits out the lease) once hid the mutant.
		for end := time.Now().Add(3 * n.election); !anyOf(n.wl.RevokedSince(since, 0), toks) && time.Now().Before(end); {
			select {
			case <-done:
				end = time.Now()
			case <-time.After(10 * time.Millisecond):
			}
		}
		at, _ := n.cl.Client.Status(bg, f, false)
		note += fmt.Sprintf("; its lease before the cut %v, at the first acknowledgement %v", before.LeaseValid, at.LeaseValid)
		sleepCtx(bg, n.election/10)
		n.net.Heal()
		<-done
		k := n.wl.Probe(bg, []int{f}, n.wl.RevokedSince(since, 0), []string{"default"}, n.election/4, 2)
		note += fmt.Sprintf("; cut off, %d logouts through the leader, each validated on it at once, healed %v after the first acknowledgement, %d probes more", len(toks), n.election/10, k)
	}
	n.net.Heal()
	n.record(ScLateAnswer, n.cl.Procs[f].ID, note, start)
	return nil
}

// anyOf reports whether got holds one of want's tokens.
func anyOf(got, want []probeToken) bool {
	for _, g := range got {
		for _, w := range want {
			if g.tok == w.tok {
				return true
			}
		}
	}
	return false
}
