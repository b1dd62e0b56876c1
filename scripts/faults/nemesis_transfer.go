package faults

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"time"
)

// ScTransferLeader stops the leader gracefully (SIGTERM), as a rolling
// upgrade does: its shutdown hands leadership to a follower in
// milliseconds (raft's LeadershipTransfer in cluster.Node.Shutdown), while
// the other follower still holds the read lease the old leader granted
// it. The new leader never saw that grant (invariant I5 of
// cluster/protocol.go: it must count every member as a holder for one
// lease period from its first narrowing wait). Right after the hand-over
// the nemesis logs out, through the new leader, sessions the holder has,
// and validates each on the holder at the default level the moment its
// logout is acknowledged: a new leader that forgets its predecessor's
// leases acknowledges at once, and the holder answers the hit from its
// old lease before it has applied the logout (P2). The new leader's link
// to the holder is slowed (a twentieth to a tenth of an election timeout)
// once it leads, so that the holder learns of the commit that much after
// the acknowledgement. The window closes when the holder's next lease
// renewal (every MaxStale/3) reaches the new leader, which then counts
// it; after a kill (kill-leader) the election outlasts the lease and the
// bug cannot show. The old leader is restarted and waited
// for, so the next fault again finds three voters.
const ScTransferLeader = "transfer-leader"

// transferLeader is the ScTransferLeader fault.
func (n *Nemesis) transferLeader(ctx context.Context, start int64) error {
	old, err := n.pick(ctx, true)
	if err != nil {
		return err
	}
	bg := context.WithoutCancel(ctx)
	st, err := n.cl.Client.Status(ctx, old, false)
	if err != nil {
		return err
	}
	rest := n.others(old)
	var toks []probeToken
	if n.wl != nil {
		// Sessions both followers have applied, used at the default
		// level on both for a lease renewal's time, so that each holds
		// a fresh lease from the old leader when it stops.
		applied := ^uint64(0)
		for _, j := range rest {
			s, err := n.cl.Client.Status(ctx, j, false)
			if err != nil {
				return err
			}
			applied = min(applied, s.Applied)
		}
		toks = n.wl.liveTokens(applied, 6)
		n.wl.Probe(bg, rest, toks, []string{"default"}, n.election/2, 2)
	}
	if err := n.cl.Signal(old, syscall.SIGTERM); err != nil {
		return err
	}
	note := n.cl.Procs[old].ID + " stopped (SIGTERM)"
	lctx, cancel := context.WithTimeout(bg, 5*n.election)
	l, took, lerr := n.successor(lctx, rest, st.Term)
	cancel()
	if lerr != nil {
		note += "; no successor: " + lerr.Error()
	} else {
		holder := rest[0]
		if holder == l {
			holder = rest[1]
		}
		n.target.Store(int64(holder) + 1)
		// Only now: a slow link between the followers before the
		// election would slow the vote (a new connection's handshake
		// pays it per message) past the old leases.
		d := n.jitter(n.election/20, n.election/10)
		n.net.SetLatency(l, holder, d)
		note += fmt.Sprintf("; %s led %v after the signal, its link to %s +%v", n.cl.Procs[l].ID, took.Round(time.Millisecond), n.cl.Procs[holder].ID, d.Round(time.Millisecond))
		if n.wl != nil && len(toks) > 0 {
			since := n.rec.Now()
			n.wl.LogoutsProbed(bg, l, holder, toks)
			k := n.wl.Probe(bg, []int{holder}, n.wl.RevokedSince(since, 0), []string{"default"}, n.election/2, 2)
			note += fmt.Sprintf("; %d logouts through it, each validated on %s at once, %d probes more", len(toks), n.cl.Procs[holder].ID, k)
		}
	}
	n.net.Heal()
	// The graceful stop ends with the process; a stop that fails or
	// hangs is noted (the harness kills it after its grace).
	p := n.cl.Procs[old]
	select {
	case <-p.Done():
		if err := p.Err(); err != nil {
			note += fmt.Sprintf("; its graceful stop exited with %v", err)
		}
	case <-time.After(20 * time.Second):
		n.cl.Kill(old)
		note += "; it did not exit within 20 s of SIGTERM (killed)"
	}
	if err := n.cl.Start(old); err != nil {
		n.record(ScTransferLeader, n.cl.Procs[old].ID, note, start)
		return err
	}
	rctx, cancel := context.WithTimeout(bg, 15*n.election)
	err = n.cl.WaitReady(rctx, []int{old})
	cancel()
	n.record(ScTransferLeader, n.cl.Procs[old].ID, note, start)
	return err
}

// successor polls nodes every few milliseconds until one leads in a term
// after term, and returns it with the time it took.
func (n *Nemesis) successor(ctx context.Context, nodes []int, term uint64) (int, time.Duration, error) {
	began := time.Now()
	for {
		for _, j := range nodes {
			if st, err := n.cl.Client.Status(ctx, j, false); err == nil && st.State == "Leader" && st.Term > term {
				return j, time.Since(began), nil
			}
		}
		if !sleepCtx(ctx, 2*time.Millisecond) {
			return -1, time.Since(began), ctx.Err()
		}
	}
}

// LogoutsProbed logs toks out through node at once and validates each on
// holder at the default level the moment its logout is acknowledged (as
// the same client: the validation follows the acknowledgement), twice:
// a hit answered after the acknowledgement is a P2 violation.
func (w *Workload) LogoutsProbed(ctx context.Context, node, holder int, toks []probeToken) {
	var wg sync.WaitGroup
	for _, p := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := w.rec.NewClient()
			if op := w.logoutToken(ctx, client, node, p); op.Result == OK {
				for range 2 {
					w.validate(ctx, client, holder, &testUser{login: p.user}, p.tok, "default")
				}
			}
		}()
	}
	wg.Wait()
}
