package faults

import (
	"context"
	mrand "math/rand/v2"
)

// pickNode spreads operations over the nodes, sending TargetPct of them to
// the node the nemesis is faulting: a fault window of one request's length
// is then hit (the report counts operations per window on the target).
func (w *Workload) pickNode(r *mrand.Rand) int {
	if w.Target != nil && r.IntN(100) < w.cfg.TargetPct {
		if t := w.Target(); t >= 0 && t < w.nodes {
			return t
		}
	}
	return r.IntN(w.nodes)
}

// changePassword gives u a new password through node: every session of u
// ends, so it is recorded as a logoutall (Via "password") and its tokens
// become probes. An unknown outcome leaves the password unknown: the user
// is then disabled for the workload (it logs in no more).
func (w *Workload) changePassword(ctx context.Context, client, node int, u *testUser) bool {
	if u.id == 0 {
		return false
	}
	u.pw.Lock()
	defer u.pw.Unlock()
	if u.disabled {
		return false
	}
	pw := newPassword()
	w.mu.Lock()
	w.passwords = append(w.passwords, pw)
	w.mu.Unlock()
	return w.endAll(ctx, client, node, u, "password", map[string]any{"password": pw}, func() { u.password = pw })
}

// retire ends a user that left the active set: disabled (RetireDisablePct
// of them) or left alone. A disabled user's tokens are then probed at
// once on random nodes at the default and consistent levels.
func (w *Workload) retire(ctx context.Context, client, node int, u *testUser, r *mrand.Rand) bool {
	p := r.IntN(100)
	if u.id == 0 || p >= w.cfg.RetireDisablePct+w.cfg.RetireDeletePct {
		return false
	}
	var unknown bool
	if p < w.cfg.RetireDisablePct {
		u.pw.Lock()
		unknown = w.endAll(ctx, client, node, u, "disable", map[string]any{"disabled": true}, nil)
		u.disabled = true
		u.pw.Unlock()
	} else {
		unknown = w.deleteUser(ctx, client, node, u)
	}
	u.mu.Lock()
	probes := append([]string(nil), u.tokens...)
	u.mu.Unlock()
	for _, tok := range probes {
		w.validate(ctx, client, w.pickNode(r), u, tok, []string{"default", "consistent"}[r.IntN(2)])
	}
	return unknown
}

// endAll sends an admin user change that ends every session of u and
// records it as a logoutall Via via; done runs when it succeeded. It
// reports whether the outcome is unknown.
func (w *Workload) endAll(ctx context.Context, client, node int, u *testUser, via string, patch map[string]any, done func()) bool {
	return w.endAllWith(ctx, client, node, u, via, func(cctx context.Context) Answer {
		return w.cl.Client.PatchUser(cctx, node, u.id, patch)
	}, done)
}

// endAllWith is endAll with the call that ends the sessions given.
func (w *Workload) endAllWith(ctx context.Context, client, node int, u *testUser, via string, call func(context.Context) Answer, done func()) bool {
	op := w.begin(client, LogoutAll, u, node)
	op.Via = via
	u.mu.Lock()
	held := append([]string(nil), u.tokens...)
	u.mu.Unlock()
	cctx, cancel := w.opCtx(ctx)
	a := call(cctx)
	cancel()
	w.finish(&op, a)
	op.Result = writeOutcome(a, 0)
	switch op.Result {
	case Unknown:
		op.Return = Open
		u.disabled = true // credentials unknown from here on
	case OK:
		u.revoke(held...)
		if done != nil {
			done()
		}
	}
	w.rec.Add(op)
	return op.Result == Unknown
}

// followUp validates tok at once on another node (the faulted one when
// there is one), at the default or consistent level, after its login or
// logout was acknowledged there: the moments a lagging replica, a skipped
// apply wait or a local answer to a miss shows, which random probes
// reach seconds too late.
func (w *Workload) followUp(ctx context.Context, client, node int, u *testUser, tok string) {
	other := (node + 1 + mrand.IntN(max(w.nodes-1, 1))) % w.nodes
	if w.Target != nil {
		if t := w.Target(); t >= 0 && t != node {
			other = t
		}
	}
	w.validate(ctx, client, other, u, tok, []string{"default", "consistent", "consistent"}[mrand.IntN(3)])
}
