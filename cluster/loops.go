package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// watchLeadership reacts to gaining leadership: it waits until an entry of
// the new term is applied (the read-index precondition), publishes this
// node's addresses if they changed, and runs the OnLeader hook.
func (n *Node) watchLeadership(ch <-chan bool) {
	for {
		select {
		case <-n.stop:
			return
		case isLeader := <-ch:
			if isLeader {
				n.goAttach(n.becomeLeader)
			}
		}
	}
}

func (n *Node) becomeLeader() {
	var term uint64
	for n.raft.State() == raft.Leader && !n.closing.Load() {
		term = n.raft.CurrentTerm()
		if err := n.barrier(n.cfg.ApplyTimeout); err != nil {
			continue
		}
		if n.raft.CurrentTerm() != term || n.raft.State() != raft.Leader {
			return
		}
		n.readyTerm.Store(term)
		break
	}
	if n.raft.State() != raft.Leader {
		return
	}
	ctx, cancel := context.WithTimeout(n.stopCtx, n.cfg.ApplyTimeout)
	defer cancel()
	// Its own record first, with its format: on a new cluster this makes
	// the cluster's format the current one before the seed writes
	// anything that needs it (the first admin's operator role).
	self := n.selfMeta()
	if meta, ok := n.fsm.State().Node(self.ID); !ok || meta != self {
		n.Apply(ctx, &fsm.PutNode{Node: self})
	}
	// Then the cluster's level, when every member supports a higher one,
	// so that a new cluster's seed may use the current format.
	n.raiseFormat(ctx)
	n.preparedTerm.Store(term)
	n.runOnLeader(ctx, term)
}

// leaderLoop purges expired sessions while this node leads. Expiry is
// decided by the leader's clock once, in the command; followers only apply.
func (n *Node) leaderLoop() {
	n.every(n.cfg.PurgeInterval, func() {
		if n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm() {
			n.PurgeOnce(n.stopCtx)
		}
	})
}

// every is the body of each background loop: fn at every tick of d until
// the node stops (the loops run under goAttach).
func (n *Node) every(d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			fn()
		}
	}
}

// PurgeOnce proposes one batch of expired sessions for deletion and
// returns how many were deleted.
func (n *Node) PurgeOnce(ctx context.Context) (int, error) {
	now := n.cfg.now().UnixNano()
	ds := n.fsm.State().ExpiredSessions(now, n.cfg.PurgeBatch)
	if len(ds) == 0 {
		return 0, nil
	}
	res, err := n.Apply(ctx, &fsm.PurgeExpired{Now: now, Digests: ds})
	return res.Count, err
}

// refresher batches idle-expiry refreshes: a session in use is refreshed
// at most once per interval, in one command for all sessions touched.
type refresher struct {
	n       *Node
	mu      sync.Mutex
	pending map[fsm.Digest]int64
}

const maxPendingRefreshes = 50000

func newRefresher(n *Node) *refresher {
	r := &refresher{n: n, pending: make(map[fsm.Digest]int64)}
	n.goAttach(r.loop)
	return r
}

// Touch records that the session with digest d was used at. It never
// blocks on the network; if too many refreshes are pending the oldest
// interval's use is dropped, which only makes idle expiry earlier.
func (n *Node) Touch(d fsm.Digest, at time.Time) {
	r := n.refresher
	r.mu.Lock()
	if len(r.pending) < maxPendingRefreshes {
		r.pending[d] = at.UnixNano()
	}
	r.mu.Unlock()
}

func (r *refresher) loop() {
	r.n.every(r.n.cfg.RefreshInterval, func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.n.cfg.ApplyTimeout)
		r.flush(ctx)
		cancel()
	})
}

func (r *refresher) flush(ctx context.Context) {
	r.mu.Lock()
	if len(r.pending) == 0 {
		r.mu.Unlock()
		return
	}
	refs := make([]fsm.Refresh, 0, len(r.pending))
	for d, at := range r.pending {
		refs = append(refs, fsm.Refresh{Digest: d, At: at})
	}
	r.pending = make(map[fsm.Digest]int64)
	r.mu.Unlock()
	for _, cmd := range refreshChunks(refs, refreshChunkBytes) {
		// A refresh that fails is only an earlier idle expiry; the next
		// chunks still go.
		r.n.Apply(ctx, cmd)
	}
}
