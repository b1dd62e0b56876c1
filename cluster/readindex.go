package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// appliedWaiter lets readers wait until the FSM has applied an index. The
// apply path takes the lock only when somebody is waiting.
type appliedWaiter struct {
	index   atomic.Uint64
	waiting atomic.Int32
	mu      sync.Mutex
	waiters map[chan struct{}]uint64
	closed  bool
}

func newAppliedWaiter() *appliedWaiter {
	return &appliedWaiter{waiters: make(map[chan struct{}]uint64)}
}

// raise stores v in a unless a already holds as much: an atomic max, for
// indexes and clocks that only move forward whoever writes them.
func raise[T uint64 | int64](a interface {
	Load() T
	CompareAndSwap(old, new T) bool
}, v T) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

func (w *appliedWaiter) set(idx uint64) {
	raise(&w.index, idx)
	if w.waiting.Load() == 0 {
		return
	}
	w.mu.Lock()
	cur := w.index.Load()
	for ch, want := range w.waiters {
		if want <= cur {
			close(ch)
			delete(w.waiters, ch)
			w.waiting.Add(-1)
		}
	}
	w.mu.Unlock()
}

func (w *appliedWaiter) close() {
	w.mu.Lock()
	w.closed = true
	for ch := range w.waiters {
		close(ch)
		delete(w.waiters, ch)
	}
	w.waiting.Store(0)
	w.mu.Unlock()
}

// wait blocks until idx is applied, ctx ends, or the node shuts down.
func (w *appliedWaiter) wait(ctx context.Context, idx uint64) error {
	if w.index.Load() >= idx {
		return nil
	}
	ch := make(chan struct{})
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrShutdown
	}
	w.waiters[ch] = idx
	w.waiting.Add(1)
	w.mu.Unlock()
	if w.index.Load() >= idx { // applied between the check and the register
		w.set(w.index.Load())
	}
	select {
	case <-ch:
		if w.index.Load() < idx {
			return ErrShutdown
		}
		return nil
	case <-ctx.Done():
		w.mu.Lock()
		if _, ok := w.waiters[ch]; ok {
			delete(w.waiters, ch)
			w.waiting.Add(-1)
		}
		w.mu.Unlock()
		return fmt.Errorf("%w: waiting for index %d", ErrNotCaughtUp, idx)
	}
}

// batcher shares one read-index round among every caller that arrives
// while the previous round is in flight: under load the cost of a
// linearizable read is one quorum round per batch, not per request.
type batcher struct {
	round func(ctx context.Context) (uint64, error)
	// observe, when set, sees each round's batch size.
	observe func(size int)

	mu      sync.Mutex
	running bool
	pending []chan riResult

	// Rounds and Batched count rounds run and callers served, for metrics.
	Rounds  atomic.Uint64
	Batched atomic.Uint64
}

type riResult struct {
	index uint64
	err   error
}

func newBatcher(round func(context.Context) (uint64, error)) *batcher {
	return &batcher{round: round}
}

// get joins the next round and returns its index.
func (b *batcher) get(ctx context.Context) (uint64, error) {
	ch := make(chan riResult, 1)
	b.mu.Lock()
	b.pending = append(b.pending, ch)
	if !b.running {
		b.running = true
		go b.loop()
	}
	b.mu.Unlock()
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: read index", ErrTimeout)
	}
}

// loop runs rounds while callers keep arriving. A caller that joins during
// a round waits for the next one: the round must start after the caller's
// request to be linearizable.
func (b *batcher) loop() {
	for {
		b.mu.Lock()
		batch := b.pending
		b.pending = nil
		if len(batch) == 0 {
			b.running = false
			b.mu.Unlock()
			return
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		idx, err := b.round(ctx)
		cancel()
		b.Rounds.Add(1)
		b.Batched.Add(uint64(len(batch)))
		if b.observe != nil {
			b.observe(len(batch))
		}
		for _, ch := range batch {
			ch <- riResult{idx, err}
		}
	}
}

// ReadIndex returns an index such that every write acknowledged before the
// call is at or below it. It retries across leader changes until ctx ends.
func (n *Node) ReadIndex(ctx context.Context) (uint64, error) {
	for {
		if n.closing.Load() {
			return 0, ErrShutdown
		}
		var idx uint64
		var err error
		if n.raft.State() == raft.Leader {
			idx, err = n.leaderRI.get(ctx)
		} else {
			idx, err = n.forwardRI.get(ctx)
		}
		if err == nil {
			return idx, nil
		}
		if !retryable(err) || !n.pause(ctx) {
			return 0, err
		}
	}
}

// pause waits a little before a retry; it reports false when ctx or the
// node is done.
func (n *Node) pause(ctx context.Context) bool {
	t := time.NewTimer(20 * time.Millisecond)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	case <-n.stop:
		return false
	}
}

// WaitApplied blocks until the local FSM has applied idx.
func (n *Node) WaitApplied(ctx context.Context, idx uint64) error {
	return n.applied.wait(ctx, idx)
}

// ReadBarrier makes the local state fit to answer a read at level. For
// Default, hit says whether the local lookup found the token: a hit under a
// valid lease needs nothing, a miss (or no lease) needs a fresh read index.
// After it returns nil, the caller looks up again.
func (n *Node) ReadBarrier(ctx context.Context, level Level, hit bool) error {
	switch level {
	case Stale:
		return nil
	case Default:
		if hit && n.LeaseValid() {
			return nil
		}
		return n.refreshLease(ctx)
	}
	idx, err := n.ReadIndex(ctx)
	if err != nil {
		return err
	}
	return n.WaitApplied(ctx, idx)
}

// Sync returns once this node has applied every write acknowledged before
// the call (auth.Syncer): a login refused by lagging state is checked
// again after it.
func (n *Node) Sync(ctx context.Context) error { return n.ReadBarrier(ctx, Consistent, false) }

// LookupSession finds the session with digest d at the given consistency
// level. It returns nil when no such session exists in state that is fresh
// enough for the level; expiry is the caller's decision (its clock).
func (n *Node) LookupSession(ctx context.Context, level Level, d fsm.Digest) (*fsm.Session, error) {
	_, sess, err := n.LookupIn(ctx, level, d)
	return sess, err
}

// staleForwardWait bounds how long a Stale miss waits for a login this
// node forwarded to be applied here: the commit reaches a healthy follower
// within a few CommitTimeouts.
const staleForwardWait = 100 * time.Millisecond

// LookupIn is LookupSession that also returns the state the answer came
// from, so the caller reads the session's user from that same state: a
// session and its user never straddle a restore.
func (n *Node) LookupIn(ctx context.Context, level Level, d fsm.Digest) (*fsm.State, *fsm.Session, error) {
	st := n.fsm.State()
	sess, hit := st.Session(d)
	if level == Default {
		n.useLease()
	}
	if level == Default && hit && n.LeaseValid() {
		return st, sess, nil
	}
	fwd := n.fwdIndex.Load()
	if level == Stale && (hit || fwd <= n.applied.index.Load()) {
		return st, sess, nil
	}
	if level == Stale {
		// A miss while a login forwarded from here is not yet applied
		// here: it may be that login's session (afterForward). Stale
		// answers from local state, so the wait is short, and one that
		// runs out (this node cut off since) is not repeated by every
		// later miss.
		wctx, cancel := context.WithTimeout(ctx, staleForwardWait)
		err := n.WaitApplied(wctx, fwd)
		cancel()
		if err != nil {
			n.fwdIndex.CompareAndSwap(fwd, 0)
		}
		st = n.fsm.State()
		sess, _ = st.Session(d)
		return st, sess, nil
	}
	if _, ok := ctx.Deadline(); !ok && n.cfg.ReadTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ReadTimeout)
		defer cancel()
	}
	if err := n.ReadBarrier(ctx, level, hit); err != nil {
		return nil, nil, err
	}
	st = n.fsm.State()
	sess, _ = st.Session(d)
	return st, sess, nil
}
