package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WorkloadConfig shapes the client traffic.
type WorkloadConfig struct {
	Workers     int           // concurrent clients
	ActiveUsers int           // users in use at once
	OpsPerUser  int           // a user is retired after this many operations (keeps porcupine partitions small)
	OpTimeout   time.Duration // per-request deadline
	Levels      []string      // validation levels to spread over
	// Percentages of logins, logouts and logoutalls; the rest validates.
	LoginPct, LogoutPct, LogoutAllPct int
	// PasswordPct of operations change a user's password (ending its
	// sessions); KnoxPct of logins go through knox's /auth/login/;
	// RetireDisablePct of retiring users are disabled (ending theirs).
	PasswordPct, KnoxPct, RetireDisablePct int
	// OdooPct and JWTPct of logins go through those dialects;
	// RetireDeletePct of retiring users are deleted; KeepCurrentPct of
	// logoutalls keep the calling session.
	OdooPct, JWTPct, RetireDeletePct, KeepCurrentPct int
	// TargetPct of operations go to the node the nemesis is faulting, so
	// that a short fault window sees traffic on the faulted node.
	TargetPct int
	// ExpiryEvery, when > 0, has a user of its own log in every
	// ExpiryEvery × 100 ms and each session probed just after P8's limit
	// (expires_at + 1 s + ExpirySkew).
	ExpiryEvery int
	ExpirySkew  time.Duration
	// ExpiryDialects are the dialects the expiry probes log in with, in
	// turn (none: drawn like any login); the suite shortens their TTL or
	// idle timeout.
	ExpiryDialects []string
	// OdooIdle is the Odoo idle timeout the suite set (0: none). An Odoo
	// login then expires at the latest OdooIdle after it returned unless
	// it is used, so its ExpiresAt is recorded as the earlier of the two:
	// set it only when nothing but the expiry prober logs in through Odoo
	// (OdooPct 0), whose sessions are never used before their probe.
	OdooIdle time.Duration
	// CredsEvery, when > 0, runs the credentials workload
	// (workload_creds.go): a JWT key revoked and a service client deleted
	// about this often.
	CredsEvery time.Duration
}

// DefaultWorkload is a mix heavy on validation, as real traffic is.
func DefaultWorkload() WorkloadConfig {
	return WorkloadConfig{
		// OpTimeout is longer than the nodes' apply deadline (5 s) and
		// read deadline (2 s): a server failure arrives as the 503 (or the
		// false 204) it is, not as a client timeout.
		Workers: 16, ActiveUsers: 24, OpsPerUser: 60, OpTimeout: 6500 * time.Millisecond,
		Levels:   []string{"consistent", "default", "stale"},
		LoginPct: 20, LogoutPct: 10, LogoutAllPct: 4,
		PasswordPct: 2, KnoxPct: 20, OdooPct: 15, JWTPct: 15, RetireDisablePct: 35, RetireDeletePct: 30,
		KeepCurrentPct: 50, TargetPct: 50, CredsEvery: 300 * time.Millisecond,
	}
}

// testUser is one user of the workload with the tokens it holds.
type testUser struct {
	login, password string
	id              uint64 // 0 when unknown (created by an earlier attempt)
	// pw is held for reading by logins and for writing by a password
	// change or a disable, so no login races a change of credentials
	// (CheckCorrectLogins stays exact); disabled users log in no more.
	pw       sync.RWMutex
	disabled bool
	mu       sync.Mutex
	tokens   []string // recent tokens, revoked ones included
	revoked  []string // recently revoked (acknowledged) tokens
	ops      int
}

// revoke notes tokens whose revocation was acknowledged, so validations
// probe them: a revoked token that still validates is what P2 and P4 look
// for.
func (u *testUser) revoke(toks ...string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.revoked = append(u.revoked, toks...)
	if len(u.revoked) > maxUserTokens {
		u.revoked = u.revoked[len(u.revoked)-maxUserTokens:]
	}
}

// pickProbe returns a token to validate: often a recently revoked one.
func (u *testUser) pickProbe(r *mrand.Rand) string {
	u.mu.Lock()
	n := len(u.revoked)
	var t string
	if n > 0 && r.IntN(100) < 40 {
		t = u.revoked[r.IntN(n)]
	}
	u.mu.Unlock()
	if t == "" {
		t = u.pickToken(r)
	}
	return t
}

// maxUserTokens bounds a user's token pool; older tokens stay in the
// history but are no longer used.
const maxUserTokens = 6

func (u *testUser) addToken(t string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.tokens = append(u.tokens, t)
	if len(u.tokens) > maxUserTokens {
		u.tokens = u.tokens[len(u.tokens)-maxUserTokens:]
	}
}

func (u *testUser) pickToken(r *mrand.Rand) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.tokens) == 0 {
		return ""
	}
	return u.tokens[r.IntN(len(u.tokens))]
}

// Workload drives clients against a cluster and records the history.
type Workload struct {
	cfg     WorkloadConfig
	cl      *Cluster
	rec     *Recorder
	runID   string
	nodes   int
	mu      sync.Mutex
	active  []*testUser
	all     []*testUser
	fresh   chan *testUser
	created atomic.Int64
	// lastDown counts refused connections; a worker that sees it grow pauses.
	lastDown atomic.Int64
	// Passwords holds every test password, for P7.
	passwords []string
	// Target, when set, names the node the nemesis is faulting (-1: none).
	Target  func() int
	retired chan *testUser
	book    dialectBook
	keyUser *testUser // the credentials workload's user (workload_creds.go)
}

// NewWorkload prepares a workload; Setup creates the first users.
func NewWorkload(cfg WorkloadConfig, cl *Cluster, rec *Recorder) *Workload {
	b := make([]byte, 3)
	rand.Read(b)
	return &Workload{cfg: cfg, cl: cl, rec: rec, runID: hex.EncodeToString(b), nodes: len(cl.Procs),
		fresh: make(chan *testUser, cfg.ActiveUsers), retired: make(chan *testUser, 64)}
}

// newPassword returns a unique test password with a recognisable prefix.
func newPassword() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "fz-pw-" + hex.EncodeToString(b)
}

// createUser creates a fresh user through any node that accepts it.
func (w *Workload) createUser(ctx context.Context) (*testUser, error) {
	n := w.created.Add(1)
	u := &testUser{login: fmt.Sprintf("fz%s-u%d", w.runID, n), password: newPassword()}
	w.mu.Lock()
	w.passwords = append(w.passwords, u.password)
	w.mu.Unlock()
	var last Answer
	for attempt := 0; ; attempt++ {
		node := attempt % w.nodes
		cctx, cancel := context.WithTimeout(ctx, w.cfg.OpTimeout)
		last = w.cl.Client.CreateUser(cctx, node, u.login, u.password)
		cancel()
		switch last.Status {
		case http.StatusCreated, http.StatusConflict: // 409: an earlier attempt created it
			u.id = userID(last)
			w.mu.Lock()
			w.all = append(w.all, u)
			w.mu.Unlock()
			return u, nil
		}
		if !sleepCtx(ctx, 200*time.Millisecond) {
			return nil, fmt.Errorf("faults: creating user %s: status %d %s %v", u.login, last.Status, last.Body, last.Err)
		}
	}
}

// Setup creates the first active users (and the credentials workload's).
func (w *Workload) Setup(ctx context.Context) error {
	if err := w.setupCreds(ctx); err != nil {
		return err
	}
	for i := 0; i < w.cfg.ActiveUsers; i++ {
		u, err := w.createUser(ctx)
		if err != nil {
			return err
		}
		w.active = append(w.active, u)
	}
	return nil
}

// Passwords returns every test password created so far.
func (w *Workload) Passwords() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.passwords...)
}

// Run drives the workers until ctx ends and waits for their last
// operations to return.
func (w *Workload) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); w.refill(ctx) }()
	go func() { defer wg.Done(); w.expiryProbes(ctx) }()
	go func() { defer wg.Done(); w.credsLoops(ctx) }()
	for i := 0; i < w.cfg.Workers; i++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			w.worker(ctx, mrand.New(mrand.NewPCG(seed, uint64(time.Now().UnixNano()))))
		}(uint64(i))
	}
	wg.Wait()
}

// refill keeps fresh users ready for the ones that retire.
func (w *Workload) refill(ctx context.Context) {
	for ctx.Err() == nil {
		u, err := w.createUser(ctx)
		if err != nil {
			return
		}
		select {
		case w.fresh <- u:
		case <-ctx.Done():
			return
		}
	}
}

// pickUser returns an active user, retiring it for a fresh one once it
// has had its share of operations.
func (w *Workload) pickUser(r *mrand.Rand) *testUser {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := r.IntN(len(w.active))
	u := w.active[i]
	u.ops++
	if u.ops > w.cfg.OpsPerUser {
		select {
		case nu := <-w.fresh:
			w.active[i] = nu
			select {
			case w.retired <- u:
			default:
			}
			u = nu
			u.ops++
		default:
		}
	}
	return u
}

func (w *Workload) worker(ctx context.Context, r *mrand.Rand) {
	client := w.rec.NewClient()
	down := w.lastDown.Load()
	for ctx.Err() == nil {
		u := w.pickUser(r)
		node := w.pickNode(r)
		tok := u.pickToken(r)
		p := r.IntN(100)
		var unknownWrite bool
		var old *testUser
		select {
		case old = <-w.retired:
		default:
		}
		switch {
		case old != nil:
			unknownWrite = w.retire(ctx, client, node, old, r)
		case p >= 100-w.cfg.PasswordPct:
			unknownWrite = w.changePassword(ctx, client, node, u)
		case tok == "" || p < w.cfg.LoginPct:
			w.login(ctx, client, node, u)
		case p < w.cfg.LoginPct+w.cfg.LogoutPct:
			unknownWrite = w.logout(ctx, client, node, u, tok)
		case p < w.cfg.LoginPct+w.cfg.LogoutPct+w.cfg.LogoutAllPct:
			unknownWrite = w.logoutAll(ctx, client, node, u, tok)
		default:
			w.validate(ctx, client, node, u, u.pickProbe(r), w.cfg.Levels[r.IntN(len(w.cfg.Levels))])
		}
		if unknownWrite {
			// etcd's rule: after a write with an unknown outcome the
			// client continues as a new one, so each stays sequential.
			client = w.rec.NewClient()
		}
		if d := w.lastDown.Load(); d != down {
			// A node refused connections (it is down): pace the loop
			// rather than spin on it.
			down = d
			sleepCtx(ctx, 20*time.Millisecond)
		}
	}
}

func (w *Workload) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	// Operations in flight when the run ends still finish (bounded by
	// OpTimeout) so that their outcome is known.
	return context.WithTimeout(context.WithoutCancel(ctx), w.cfg.OpTimeout)
}

func (w *Workload) begin(client int, kind Kind, u *testUser, node int) Op {
	return Op{Client: client, Kind: kind, User: u.login, Node: w.cl.Procs[node].ID, Wall: time.Now().UnixNano(), Call: w.rec.Now()}
}

func (w *Workload) finish(op *Op, a Answer) {
	op.Return = w.rec.Now()
	if notSent(a.Err) {
		w.lastDown.Add(1)
	}
	op.Status, op.Index = a.Status, a.Index
	if a.Err != nil {
		op.Err = a.Err.Error()
	} else if a.Status >= 400 && len(a.Body) < 300 {
		op.Err = string(a.Body)
	}
}

func (w *Workload) login(ctx context.Context, client, node int, u *testUser) {
	if op := w.loginOp(ctx, client, node, u); op.Token != "" {
		w.followUp(ctx, client, node, u, op.Token)
	}
}

// validate records one validation of the workload.
func (w *Workload) validate(ctx context.Context, client, node int, u *testUser, tok, level string) Op {
	cctx, cancel := w.opCtx(ctx)
	defer cancel()
	op := w.validateOnce(cctx, client, node, u, tok, level, false)
	w.rec.Add(op)
	return op
}

// validateOnce asks one node about tok within cctx and classifies the
// answer: 200 valid, 401 refused, anything else unknown (a failed read,
// dropped by the checkers). It does not record the operation.
func (w *Workload) validateOnce(cctx context.Context, client, node int, u *testUser, tok, level string, sweep bool) Op {
	op := w.begin(client, Validate, u, node)
	op.Token, op.Level, op.Sweep = tok, w.servedLevel(level), sweep
	routes := readRoutes(w.book.kind(tok))
	route := routes[0]
	if !sweep {
		route = routes[mrand.IntN(len(routes))]
	}
	if route != "session" {
		op.Via = route
	}
	a := w.read(cctx, node, route, tok, level)
	w.finish(&op, a)
	switch a.Status {
	case http.StatusOK:
		op.Result, op.Valid = OK, true
	case http.StatusUnauthorized:
		op.Result = OK
	default:
		op.Result = Unknown
	}
	return op
}

func (w *Workload) logout(ctx context.Context, client, node int, u *testUser, tok string) bool {
	op := w.begin(client, Logout, u, node)
	op.Token = tok
	cctx, cancel := w.opCtx(ctx)
	a, via := w.logoutVia(cctx, node, tok)
	cancel()
	w.finish(&op, a)
	op.Via = via
	op.Result = writeOutcome(a, 0)
	if op.Result == Unknown {
		op.Return = Open
	}
	if op.Result == OK {
		u.revoke(tok)
	}
	w.rec.Add(op)
	if op.Result == OK {
		w.followUp(ctx, client, node, u, tok)
	}
	return op.Result == Unknown
}

func (w *Workload) logoutAll(ctx context.Context, client, node int, u *testUser, tok string) bool {
	if !w.ownsDialect(tok) {
		return w.logout(ctx, client, node, u, tok)
	}
	op := w.begin(client, LogoutAll, u, node)
	op.Token, op.Level = tok, "consistent"
	keep := mrand.IntN(100) < w.cfg.KeepCurrentPct
	u.mu.Lock()
	var held []string // logged in before this call
	for _, t := range u.tokens {
		if !keep || t != tok {
			held = append(held, t)
		}
	}
	u.mu.Unlock()
	cctx, cancel := w.opCtx(ctx)
	var a Answer
	if keep {
		op.Via = "keep-current"
		a = w.cl.Client.LogoutAllKeep(cctx, node, tok)
	} else {
		a = w.cl.Client.LogoutAll(cctx, node, tok, "consistent")
	}
	cancel()
	w.finish(&op, a)
	op.Result = writeOutcome(a, http.StatusNoContent)
	if op.Result == Unknown {
		op.Return = Open
	}
	if op.Result == OK {
		u.revoke(held...)
	}
	w.rec.Add(op)
	return op.Result == Unknown
}

// writeOutcome classifies a write's answer: success (okStatus, or any 2xx
// when okStatus is 0), a 4xx refusal that changed nothing, or unknown (no
// answer, 5xx).
func writeOutcome(a Answer, okStatus int) Outcome {
	switch {
	case okStatus != 0 && a.Status == okStatus, okStatus == 0 && a.Status >= 200 && a.Status < 300:
		return OK
	case a.Status >= 400 && a.Status < 500, notSent(a.Err):
		return Failed
	}
	return Unknown
}

// notSent reports whether a request failed before any byte reached the
// node (the connection could not be made), so it cannot have taken
// effect.
func notSent(err error) bool {
	var op *net.OpError
	return err != nil && errors.As(err, &op) && op.Op == "dial"
}
