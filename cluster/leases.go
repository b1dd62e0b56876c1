package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// Revocation that no read lease outlives (Chubby's cache invalidation,
// applied to sessiond's read leases).
//
// A follower answers Default-level hits from local state while it holds a
// read lease: a read index it asked the leader for less than MaxStale ago
// and has applied. The leader notes each such request (holder, and until
// when its lease can last: the time it received the request plus MaxStale
// plus a margin for clock-rate drift, on the leader's monotonic clock; the
// follower counts its lease from before it sent the request, so the
// leader's deadline is never the earlier one). A revoking command is
// acknowledged only once every holder whose lease may still be running has
// applied it — asked over /internal/v1/applied — or its lease has provably
// lapsed. So at the Default level no node accepts a token after its
// revocation was acknowledged, and a partitioned follower costs a logout at
// most one lease period.

// leaseMargin covers clock-rate drift between the leader's and a holder's
// monotonic clocks over one lease.
const leaseMargin = 50 * time.Millisecond

// leaseTable is the leader's record of read leases granted to followers.
type leaseTable struct {
	mu      sync.Mutex
	holders map[string]time.Duration // node id → lease deadline on mono()
}

func newLeaseTable() *leaseTable { return &leaseTable{holders: map[string]time.Duration{}} }

// grant notes that node id asked for a read index at now: its lease can
// last until now+period.
func (t *leaseTable) grant(id string, now, period time.Duration) {
	if id == "" {
		return
	}
	t.mu.Lock()
	if d := now + period; d > t.holders[id] {
		t.holders[id] = d
	}
	t.mu.Unlock()
}

// active returns the holders whose lease may still run at now, forgetting
// the lapsed ones.
func (t *leaseTable) active(now time.Duration) map[string]time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]time.Duration, len(t.holders))
	for id, d := range t.holders {
		if d <= now {
			delete(t.holders, id)
			continue
		}
		out[id] = d
	}
	return out
}

// revokes reports whether a command ends sessions or what validates them:
// its acknowledgement waits for the lease holders.
func revokes(data []byte) bool {
	if len(data) == 0 {
		return false
	}
	switch fsm.CmdType(data[0]) &^ fsm.IgnorableFlag {
	case fsm.TypeRevokeSession, fsm.TypeRevokeUserSessions, fsm.TypeUpdateUser,
		fsm.TypeDeleteUser, fsm.TypeRetireKey:
		return true
	}
	return false
}

// awaitLeaseHolders returns once every follower whose read lease may still
// run has applied idx, or its lease has lapsed: at most one lease period.
// It fails only when ctx ends first; the command is committed then, but
// not yet final everywhere, so it must not be acknowledged as done (a
// retry is safe: commands are idempotent).
func (n *Node) awaitLeaseHolders(ctx context.Context, idx uint64) error {
	holders := n.leases.active(n.mono())
	delete(holders, n.cfg.NodeID)
	if len(holders) == 0 {
		return nil
	}
	start := time.Now()
	errs := make(chan error, len(holders))
	for id, deadline := range holders {
		go func() { errs <- n.awaitHolder(ctx, id, deadline, idx) }()
	}
	var first error
	for range holders {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	n.metrics.revocationWait.Observe(time.Since(start).Seconds())
	return first
}

// awaitHolder asks one holder to confirm it applied idx, and waits out its
// lease when it cannot (partitioned, paused, slow).
func (n *Node) awaitHolder(ctx context.Context, id string, deadline time.Duration, idx uint64) error {
	left := deadline - n.mono()
	if left <= 0 {
		return nil
	}
	if meta, ok := n.fsm.State().Node(id); ok && meta.APIAddr != "" {
		cctx, cancel := context.WithTimeout(ctx, left)
		err := n.call(cctx, meta.APIAddr, "/internal/v1/applied?index="+strconv.FormatUint(idx, 10), nil, nil)
		cancel()
		if err == nil {
			return nil
		}
	}
	n.metrics.leaseLapses.Inc()
	t := time.NewTimer(deadline - n.mono())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: waiting out the read lease of %s", ErrTimeout, id)
	case <-n.stop:
		return ErrShutdown
	}
}

// handleApplied answers once this node has applied ?index= (or the
// caller's deadline ends): the leader's check before it acknowledges a
// revocation.
func (n *Node) handleApplied(w http.ResponseWriter, r *http.Request) {
	idx, err := strconv.ParseUint(r.URL.Query().Get("index"), 10, 64)
	if err != nil {
		writeInternalError(w, ErrConfig)
		return
	}
	if err := n.WaitApplied(r.Context(), idx); err != nil {
		writeInternalError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]uint64{"applied": n.applied.index.Load()})
}

// mono is the node's monotonic clock: time since the node started, read
// from Go's monotonic reading, so a stepped wall clock never stretches a
// lease.
func (n *Node) mono() time.Duration { return time.Since(n.born) }
