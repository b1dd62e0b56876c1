package faults

import (
	"context"
	mrand "math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// Probes are operations the nemesis aims at the moment a fault's bug would
// show, which random traffic reaches only by luck: a restarted node's first
// second, a new leader's first milliseconds, the apply deadline of a write
// on an isolated leader, the instant after a session expired. They go
// through the workload's recorded operations, so every checker sees them.

// probeToken is a token and the user that holds it.
type probeToken struct{ tok, user string }

// loginOp logs u in on node and records it, without the follow-up
// validation; it returns the recorded login (Token set when it was
// acknowledged).
func (w *Workload) loginOp(ctx context.Context, client, node int, u *testUser) Op {
	return w.loginOpVia(ctx, client, node, u, "")
}

// loginOpVia is loginOp through dialectFor (empty: drawn).
func (w *Workload) loginOpVia(ctx context.Context, client, node int, u *testUser, dialectFor string) Op {
	u.pw.RLock()
	defer u.pw.RUnlock()
	if u.disabled {
		return Op{}
	}
	op := w.begin(client, Login, u, node)
	cctx, cancel := w.opCtx(ctx)
	dialect := dialectFor
	if dialect == "" {
		dialect = w.pickDialect()
	}
	if dialect != dialNative {
		op.Via = dialect
	}
	res, a := w.loginFor(dialect)(cctx, node, u.login, u.password)
	cancel()
	w.finish(&op, a)
	switch {
	case a.Status == http.StatusCreated && res.Token != "":
		op.Result, op.Token, op.ExpiresAt = OK, res.Token, res.ExpiresAt
		if idle := w.cfg.OdooIdle; dialect == dialOdoo && idle > 0 {
			// Idle expiry: its clock starts at the login, before now.
			if end := time.Now().Add(idle).UnixNano(); op.ExpiresAt == 0 || end < op.ExpiresAt {
				op.ExpiresAt = end
			}
		}
		w.book.kinds.Store(res.Token, dialect)
		if dialect == dialNative {
			if id := sessionID(a.Body); id != "" {
				w.book.sids.Store(res.Token, id)
				op.Session = id
			}
		}
		u.addToken(res.Token)
	case a.Status >= 400 && a.Status < 500, notSent(a.Err):
		op.Result = Failed
	default:
		op.Result = Unknown // dropped by the checkers: nobody learned the token
	}
	w.rec.Add(op)
	return op
}

// FirstLogin starts k logins on node at once and returns as soon as one
// is acknowledged (the others finish in the background): the nemesis
// kills a leader the moment it has acknowledged a write its followers may
// not yet know is committed.
func (w *Workload) FirstLogin(ctx context.Context, node, k int) []probeToken {
	ch := make(chan probeToken, k)
	for j := 0; j < k; j++ {
		go func(seed uint64) {
			u := w.pickUser(mrand.New(mrand.NewPCG(seed, uint64(time.Now().UnixNano()))))
			ch <- probeToken{w.loginOp(ctx, w.rec.NewClient(), node, u).Token, u.login}
		}(uint64(j))
	}
	for j := 0; j < k; j++ {
		if p := <-ch; p.tok != "" {
			return []probeToken{p}
		}
	}
	return nil
}

// RevokedSince returns tokens whose revocation was acknowledged after
// since (recorder time) and whose login answered with an index at most
// maxIndex (0: any): what a node that holds state up to maxIndex but has
// not heard from the cluster since then still finds as live sessions.
func (w *Workload) RevokedSince(since int64, maxIndex uint64) []probeToken {
	var out []probeToken
	for tok, ti := range w.rec.History().tokens() {
		if maxIndex > 0 && (ti.login.Index == 0 || ti.login.Index+8 > maxIndex) {
			continue
		}
		if ack, ok := ti.ackRevoke(); ok && ack >= since {
			out = append(out, probeToken{tok, ti.login.User})
		}
	}
	return out
}

// RevokeOld logs out, through node, up to k live tokens whose login
// answered with an index at most maxIndex: sessions that a node holding
// state up to maxIndex has, and must stop accepting once the logouts are
// acknowledged.
func (w *Workload) RevokeOld(ctx context.Context, node int, maxIndex uint64, k int) {
	var wg sync.WaitGroup
	for _, p := range w.liveTokens(maxIndex, k) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.logoutToken(ctx, w.rec.NewClient(), node, p)
		}()
	}
	wg.Wait()
}

// liveTokens returns up to k tokens not known to be revoked, whose login
// answered with an index at most maxIndex and that do not expire within
// 5 s.
func (w *Workload) liveTokens(maxIndex uint64, k int) []probeToken {
	var pick []probeToken
	soon := time.Now().Add(5 * time.Second).UnixNano()
	for tok, ti := range w.rec.History().tokens() {
		if len(pick) >= k {
			break
		}
		if ti.login.Index == 0 || ti.login.Index+8 > maxIndex || ti.maybeRevoked() {
			continue
		}
		if exp := ti.login.ExpiresAt; exp != 0 && exp < soon {
			continue
		}
		pick = append(pick, probeToken{tok, ti.login.User})
	}
	return pick
}

// logoutToken logs p out through node (in its dialect) as client and
// records the operation.
func (w *Workload) logoutToken(ctx context.Context, client, node int, p probeToken) Op {
	op := w.begin(client, Logout, &testUser{login: p.user}, node)
	op.Token = p.tok
	cctx, cancel := w.opCtx(ctx)
	a := w.cl.Client.DialectLogout(cctx, node, w.book.kind(p.tok), p.tok)
	cancel()
	w.finish(&op, a)
	if op.Result = writeOutcome(a, 0); op.Result == Unknown {
		op.Return = Open
	}
	w.rec.Add(op)
	return op
}

// Probe validates toks on nodes from k clients, one request at a time
// each, for d (ctx ending stops it too), at random levels of levels.
// Refused connections (the node not up yet) are retried after 5 ms.
func (w *Workload) Probe(ctx context.Context, nodes []int, toks []probeToken, levels []string, d time.Duration, k int) int {
	if len(toks) == 0 || len(nodes) == 0 {
		return 0
	}
	end := time.Now().Add(d)
	var mu sync.Mutex
	sent := 0
	var wg sync.WaitGroup
	for j := 0; j < k; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := w.rec.NewClient()
			for time.Now().Before(end) && ctx.Err() == nil {
				p := toks[mrand.IntN(len(toks))]
				op := w.validate(ctx, client, nodes[mrand.IntN(len(nodes))], &testUser{login: p.user}, p.tok, levels[mrand.IntN(len(levels))])
				mu.Lock()
				sent++
				mu.Unlock()
				pause := 3 * time.Millisecond
				if op.Status == 0 {
					pause = 5 * time.Millisecond
				}
				sleepCtx(ctx, pause)
			}
		}()
	}
	wg.Wait()
	return sent
}

// LogoutBurst sends k logouts of live tokens to node at once (each
// followed by a validation elsewhere once acknowledged) and returns when
// all have answered: writes whose apply deadline runs out on an isolated
// leader, where an ignored commit error turns a 503 into a false 204.
func (w *Workload) LogoutBurst(ctx context.Context, node, k int) {
	var wg sync.WaitGroup
	for j := 0; j < k; j++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := mrand.New(mrand.NewPCG(seed, uint64(time.Now().UnixNano())))
			u := w.pickUser(r)
			if tok := u.pickToken(r); tok != "" {
				w.logout(ctx, w.rec.NewClient(), node, u, tok)
			}
		}(uint64(j))
	}
	wg.Wait()
}

// expiring is an acknowledged login with an expiry, due for a probe.
type expiring struct {
	tok, user string
	at        int64 // unix ns: when to probe
}

// expiryProbes logs a user of its own in (one the workload never logs
// out, so its sessions live until they expire) every ExpiryEvery × 100 ms
// and validates each session once just after P8's limit (expires_at + 1 s
// + skew), at the default and stale levels on a random node: a node that
// skips the expiry check for local reads accepts it (P8), as the purge
// (every 30 s) has not run yet.
func (w *Workload) expiryProbes(ctx context.Context) {
	if w.cfg.ExpiryEvery <= 0 {
		return
	}
	u, err := w.createUser(ctx)
	if err != nil {
		return
	}
	client := w.rec.NewClient()
	var queue []expiring
	next := time.Now()
	k := 0
	for sleepCtx(ctx, 50*time.Millisecond) {
		if time.Now().After(next) {
			next = time.Now().Add(time.Duration(w.cfg.ExpiryEvery) * 100 * time.Millisecond)
			dialect := ""
			if ds := w.cfg.ExpiryDialects; len(ds) > 0 {
				dialect = ds[k%len(ds)]
				k++
			}
			// Only sessions that expire within the run are queued: one
			// that lives for days (an Odoo session under the default TTL)
			// at the queue's head would keep every later probe waiting
			// behind it, and P8 would examine nothing (CI, expiry).
			if op := w.loginOpVia(ctx, client, mrand.IntN(w.nodes), u, dialect); op.Token != "" && op.ExpiresAt != 0 && op.ExpiresAt < time.Now().Add(time.Minute).UnixNano() {
				queue = append(queue, expiring{op.Token, u.login, op.ExpiresAt + int64(time.Second+w.cfg.ExpirySkew+300*time.Millisecond)})
			}
		}
		now := time.Now().UnixNano()
		for len(queue) > 0 && queue[0].at <= now {
			e := queue[0]
			queue = queue[1:]
			node := mrand.IntN(w.nodes)
			w.validate(ctx, client, node, u, e.tok, "default")
			w.validate(ctx, client, node, u, e.tok, "stale")
		}
	}
}
