package cluster

import (
	"context"
)

// SetOnLeader registers fn to run (in its own goroutine) each time this
// node becomes leader and has committed an entry of its term — the place
// for one-time seeding such as the first admin user. fn runs once per term
// of leadership whichever comes first: if this node already leads when fn
// is registered (the election won the race with the caller's set-up), fn
// runs now; otherwise the next leadership runs it. Config.OnLeader
// registers it before Raft starts.
func (n *Node) SetOnLeader(fn func(context.Context)) {
	n.onLeader.Store(&fn)
	// becomeLeader stores preparedTerm before it loads the hook, and this
	// stores the hook before it loads preparedTerm: at least one of the
	// two sees the other, and runOnLeader keeps it to one run.
	term := n.preparedTerm.Load()
	if term == 0 || n.raft == nil || !n.IsLeader() || n.raft.CurrentTerm() != term {
		return
	}
	n.goAttach(func() {
		ctx, cancel := context.WithTimeout(n.stopCtx, n.cfg.ApplyTimeout)
		defer cancel()
		n.runOnLeader(ctx, term)
	})
}

// runOnLeader runs the leader hook for term unless it already ran for it.
// With no hook registered it does nothing, and the registration runs it.
func (n *Node) runOnLeader(ctx context.Context, term uint64) {
	fn := n.onLeader.Load()
	if fn == nil {
		return
	}
	n.hookMu.Lock()
	if n.hookTerm >= term {
		n.hookMu.Unlock()
		return
	}
	n.hookTerm = term
	n.hookMu.Unlock()
	(*fn)(ctx)
}
