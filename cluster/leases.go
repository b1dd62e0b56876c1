package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The lease holders' side of the revocation wait (protocol.go, I2): the
// leader asks each holder whether it has applied an index, one poll in
// flight per holder shared by every waiting revocation.

// watch returns holder id's confirmation record, made on first use (one
// per node that ever held a lease: bounded by the membership).
func (t *leaseTable) watch(id string) *holderWatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.watches[id]
	if w == nil {
		w = &holderWatch{waiters: map[chan bool]uint64{}}
		t.watches[id] = w
	}
	return w
}

// awaitHolder waits until one holder has confirmed it applied idx, and
// waits out its lease when it cannot confirm (partitioned, paused, slow).
// Confirmations are shared (holderWatch): one poll in flight per holder
// answers every revocation at or below the index it confirms, so 64
// concurrent logouts cost a few polls per holder, not 64 each. A lapse
// counts once per revocation the wait stands for (awaitLeaseHolders).
func (n *Node) awaitHolder(ctx context.Context, id string, deadline time.Duration, idx uint64, revocations int) error {
	if deadline-n.mono() <= 0 {
		return nil
	}
	w := n.leases.watch(id)
	ch, confirmed, start := w.register(idx)
	if confirmed {
		return nil
	}
	if start {
		go n.pollHolder(id, w)
	}
	select {
	case ok := <-ch:
		if ok {
			return nil
		}
	case <-ctx.Done():
		w.unregister(ch)
		return fmt.Errorf("%w: waiting for the read lease holder %s", ErrTimeout, id)
	case <-n.stop:
		return ErrShutdown
	}
	n.metrics.leaseLapses.Add(float64(revocations))
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

// pollHolder asks holder id for the highest index waited for, releases
// every waiter its answer covers, and goes on while waiters remain. A
// failed poll releases its waiters to wait out the lease and ends; the
// next revocation starts a new one.
func (n *Node) pollHolder(id string, w *holderWatch) {
	for {
		want, ok := w.next()
		if !ok {
			return
		}
		applied, err := n.askApplied(id, want)
		if !w.answer(applied, err) {
			return
		}
	}
}

// askApplied is one /internal/v1/applied call, bounded by what is left
// of the holder's lease (past it, nobody needs the answer), but given at
// least MaxStale: a poll that must open a new connection (the quorum
// rounds may hold the idle ones) pays a handshake, and one cut short by
// a nearly spent lease would make a healthy holder's revocations wait
// out leases. The wait stays within one lease period of its start.
func (n *Node) askApplied(id string, want uint64) (uint64, error) {
	n.leases.polls.Add(1)
	left := n.leases.deadline(id) - n.mono()
	addr, ok := n.memberRaftAddr(id)
	if left <= 0 || !ok {
		return 0, fmt.Errorf("%w: no lease or no address for %s", ErrForward, id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(left, n.cfg.MaxStale))
	defer cancel()
	var out struct {
		Applied uint64 `json:"applied"`
	}
	if err := n.call(ctx, id, addr, "/internal/v1/applied?index="+strconv.FormatUint(want, 10), nil, &out); err != nil {
		return 0, err
	}
	return max(out.Applied, want), nil
}

// holderWatch is the leader's record of what one lease holder has
// confirmed, and who waits for more.
//
// Reusing a confirmation across polls is safe: a holder's applied index
// only grows within one process, and a restarted holder has no lease at
// all until it has asked for a read index — at or above the leader's
// commit index, so above anything confirmed before — and applied it
// (refreshLease in readindex.go). An index at or below a confirmation is
// therefore applied on every incarnation of the holder that can serve.
type holderWatch struct {
	mu        sync.Mutex
	confirmed uint64
	polling   bool
	waiters   map[chan bool]uint64
}

// register adds a waiter for idx; confirmed means no wait is needed, and
// start that the caller must start the poll.
func (w *holderWatch) register(idx uint64) (ch chan bool, confirmed, start bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if idx <= w.confirmed {
		return nil, true, false
	}
	ch = make(chan bool, 1)
	w.waiters[ch] = idx
	start = !w.polling
	w.polling = true
	return ch, false, start
}

func (w *holderWatch) unregister(ch chan bool) {
	w.mu.Lock()
	delete(w.waiters, ch)
	w.mu.Unlock()
}

// next is the index the next poll asks for; !ok ends the poll (nobody
// waits).
func (w *holderWatch) next() (uint64, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var want uint64
	for _, idx := range w.waiters {
		want = max(want, idx)
	}
	if want == 0 {
		w.polling = false
		return 0, false
	}
	return want, true
}

// answer records a poll's outcome and reports whether polling goes on.
func (w *holderWatch) answer(applied uint64, err error) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		for ch := range w.waiters {
			ch <- false
			delete(w.waiters, ch)
		}
		w.polling = false
		return false
	}
	w.confirmed = max(w.confirmed, applied)
	for ch, idx := range w.waiters {
		if idx <= w.confirmed {
			ch <- true
			delete(w.waiters, ch)
		}
	}
	return true
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
	// Who answers, too: the promoter (promote.go) promotes only the member
	// it asked about, not whatever node an API URL leads to.
	json.NewEncoder(w).Encode(appliedAnswer{Applied: n.applied.index.Load(), NodeID: n.cfg.NodeID, RaftAddr: n.RaftAddr()})
}

// appliedAnswer is handleApplied's answer.
type appliedAnswer struct {
	Applied  uint64 `json:"applied"`
	NodeID   string `json:"node_id,omitempty"`
	RaftAddr string `json:"raft_addr,omitempty"`
}
