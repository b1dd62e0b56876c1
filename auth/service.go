package auth

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// RetryError is a refusal that tells the client when to try again.
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is the wait in whole seconds, at least 1.
func (e *RetryError) RetryAfter() int {
	s := int((e.After + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// Node is everything the service needs of the cluster node, in one
// interface, so that a node which lacks a part fails to compile instead of
// silently changing behaviour (code review 2.3: found by type assertion,
// a missing Sync refused lagging logins and a missing LookupIn validated
// at stale). cmd/sessiond passes the cluster node (api.AuthNode); tests
// pass a single in-memory replica, whose Sync and LookupIn are local.
type Node interface {
	// Apply commits a command through the cluster. The FSM's business
	// failure comes back as the error (the Result's other fields are
	// still set), so callers handle one error per failure.
	Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error)
	// State is the current replicated state on this node.
	State() *fsm.State
	// LookupIn finds a session at a consistency level and returns the
	// state the answer came from (validation's one read).
	LookupIn(ctx context.Context, level fsm.Level, d fsm.Digest) (*fsm.State, *fsm.Session, error)
	// Touch records a session's use for its idle expiry, batched by the
	// node: it never blocks on the network.
	Touch(d fsm.Digest, at time.Time)
	// Sync returns once the local state holds every write acknowledged
	// before the call (a read index from the leader, applied here).
	// Authenticate uses it before refusing credentials, so a user created
	// or re-keyed through another node can log in on a lagging one.
	Sync(ctx context.Context) error
	// ReadBarrier makes the local state fit to answer a read at level
	// about something found (hit) or not: at the default level a hit
	// under a valid read lease needs nothing, anything else a read index.
	// A credential read outside LookupIn (a service client) makes it
	// first, so a deletion acknowledged elsewhere is final here too.
	ReadBarrier(ctx context.Context, level fsm.Level, hit bool) error
}

// Deps are the service's collaborators, passed in the open.
type Deps struct {
	Node Node
	// Sealer seals JWT signing keys before they are proposed and unseals
	// them on lookup; nil stores keys as given (tests, and tools that
	// never hold a key).
	Sealer *Sealer
}

// ServiceConfig tunes the login flow.
type ServiceConfig struct {
	Hash    HashParams
	Policy  PasswordPolicy
	Pool    PoolConfig
	Limiter AddrLimiterConfig
	// Register is the per-address registration budget (regbudget.go);
	// zero means DefaultRegisterLimiterConfig.
	Register  AddrLimiterConfig
	DefaultDB string // used when a login names no db and several exist
	// RefreshEvery is the least time between two idle-expiry refreshes of
	// one session: use never costs a write per request.
	RefreshEvery time.Duration
	Now          func() time.Time
}

// DefaultServiceConfig returns production parameters.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{
		Hash: DefaultHashParams(), Policy: DefaultPasswordPolicy(),
		Pool: DefaultPoolConfig(), Limiter: DefaultAddrLimiterConfig(),
		Register: DefaultRegisterLimiterConfig(), RefreshEvery: time.Minute,
	}
}

// Validate checks every part.
func (c ServiceConfig) Validate() error {
	if err := c.Hash.Validate(); err != nil {
		return err
	}
	if err := c.Policy.Validate(); err != nil {
		return err
	}
	if err := c.Pool.Validate(); err != nil {
		return err
	}
	if c.Register != (AddrLimiterConfig{}) {
		if err := c.Register.Validate(); err != nil {
			return err
		}
	}
	return c.Limiter.Validate()
}

// Service runs logins and account changes: it checks throttles and locks
// before any hashing, verifies passwords on the bounded pool, mints tokens
// and digests, and proposes commands that hold only digests, hashes and
// timestamps chosen here — never a password or a token.
type Service struct {
	cfg      ServiceConfig
	pool     *Pool
	limiter  *AddrLimiter
	register *AddrLimiter // the registration budget, apart from logins
	node     Node
	seal     *Sealer // nil: keys stored as given
	guesses  guessCounters
	jwts     jwtCache // verified JWTs: skips only the signature check

	// Second factors (totp.go, recovery.go).
	factorChecks factorCounters
	recKeysOnce  sync.Once
	recKeys      [][]byte

	sharedAddr atomic.Pointer[func(string) bool] // sharedaddr.go
}

// NewService builds the service over a cluster node (d.Node) and, when
// keys are to be sealed, a Sealer.
func NewService(cfg ServiceConfig, d Deps) (*Service, error) {
	if d.Node == nil {
		return nil, errors.New("auth: NewService needs a node")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RefreshEvery <= 0 {
		cfg.RefreshEvery = DefaultServiceConfig().RefreshEvery
	}
	s := &Service{cfg: cfg, pool: NewPool(cfg.Pool), limiter: NewAddrLimiter(cfg.Limiter), node: d.Node, seal: d.Sealer}
	s.register = newRegisterLimiter(cfg.Register)
	return s, nil
}

// Pool exposes the hashing pool for metrics.
func (s *Service) Pool() *Pool { return s.pool }

// Limiter exposes the address limiter for metrics.
func (s *Service) Limiter() *AddrLimiter { return s.limiter }

// Policy is the password policy in force.
func (s *Service) Policy() PasswordPolicy { return s.cfg.Policy }

// Now is the service's clock.
func (s *Service) Now() time.Time { return s.cfg.Now() }

// ResolveDB picks the database for a request: the one named (which must
// exist), else DefaultDB, else the only one.
func (s *Service) ResolveDB(db string) (string, error) {
	st := s.node.State()
	if db != "" {
		if !st.HasDB(db) {
			return "", ErrUnknownDB
		}
		return db, nil
	}
	if s.cfg.DefaultDB != "" && st.HasDB(s.cfg.DefaultDB) {
		return s.cfg.DefaultDB, nil
	}
	if dbs := st.DBs(); len(dbs) == 1 {
		return dbs[0], nil
	}
	if s.cfg.DefaultDB != "" {
		return "", ErrUnknownDB
	}
	return "", ErrDBRequired
}

// Credentials is what a login presents.
type Credentials struct {
	DB         string
	Login      string
	Password   string
	ClientAddr string
	// OTP and Recovery are the second factor a login carries (a TOTP code
	// or a recovery code), needed when the account has one.
	OTP, Recovery string
}

// Authenticate checks credentials and returns the user. Unknown users cost
// the same hashing as wrong passwords; failures are recorded against the
// address and (replicated) the account.
//
// The account's guess budget (docs/OPERATIONS.md, "Guessing"): once its
// replicated failures reach the settings' threshold the budget is spent
// until the window ends, and a password check from a client network that
// never logged in to the account is not made at all — it is answered
// exactly as an unknown login is (a dummy hash, bad credentials), so a
// stranger learns nothing and gets no more guesses, while the owner from a
// known network logs in as usual. Nobody is locked out by others.
func (s *Service) Authenticate(ctx context.Context, c Credentials) (*fsm.User, error) {
	now := s.cfg.Now()
	if ok, wait := s.limiter.Allow(c.ClientAddr, now); !ok {
		s.guesses.throttled.Add(1)
		return nil, &RetryError{Err: ErrThrottled, After: wait}
	}
	login, err := NormalizeLogin(c.Login)
	if err != nil {
		return nil, err
	}
	if len(c.Password) > s.cfg.Policy.MaxLen {
		return nil, ErrPasswordTooLong
	}
	db, err := s.ResolveDB(c.DB)
	if err != nil {
		return nil, err
	}
	client := s.knownKey(c.ClientAddr)
	var u *fsm.User
	var found, ok, spent bool
	for attempt := 0; ; attempt++ {
		u, found = s.node.State().UserByLogin(db, login)
		spent = found && budgetSpent(u, client, now)
		ok = false
		err = s.pool.Do(ctx, func() {
			if !found || spent {
				DummyVerify(c.Password, s.cfg.Hash)
				return
			}
			ok, _, err = VerifyPassword(u.PasswordHash, c.Password)
		})
		if err != nil && !errors.Is(err, ErrBadHash) {
			return nil, err
		}
		// A refusal may come from a node that has not yet applied an
		// acknowledged user creation or password change: catch up with
		// the leader once (as a validation miss does) and check again.
		if (found && ok && !u.Disabled) || attempt > 0 {
			break
		}
		if err := s.node.Sync(ctx); err != nil {
			return nil, err // cannot tell yet (no leader): not a verdict on the password
		}
		if again, _ := s.node.State().UserByLogin(db, login); again == u {
			break // nothing changed (users are replaced, never mutated): no second hash
		}
	}
	switch {
	case !found:
		s.guesses.unknown.Add(1)
	case spent:
		s.guesses.spent.Add(1)
	case !ok:
		s.guesses.wrong.Add(1)
	}
	if !found || spent || !ok || u.Disabled {
		s.limiter.Fail(c.ClientAddr, now)
		if found && !spent && !ok {
			s.recordFailure(ctx, u, now)
		}
		return nil, ErrBadCredentials
	}
	s.guesses.ok.Add(1)
	if s.HasSecondFactor(u.ID) {
		// The guessing streak ends only with the second factor (clearFailures):
		// a right password must not reset what wrong codes have charged.
		return u, nil
	}
	if u.LockedUntil <= now.UnixNano() && (u.FailedLogins > 0 || u.LockedUntil != 0) {
		// Best effort: the password was right, so the login stands even if
		// the counter could not be cleared now; the next success clears it.
		// A known client logging in while the budget is spent leaves it
		// spent: its success must not hand strangers fresh guesses.
		_, _ = s.node.Apply(ctx, &fsm.ResetFailures{UserID: u.ID})
	}
	return u, nil
}

func (s *Service) recordFailure(ctx context.Context, u *fsm.User, now time.Time) {
	set := s.node.State().Settings()
	// Best effort: the refusal stands whether or not the failure could be
	// recorded (no leader); the per-address limiter has already counted it.
	_, _ = s.node.Apply(ctx, &fsm.LoginFailed{
		UserID: u.ID, At: now.UnixNano(), Threshold: set.LockoutThreshold,
		LockFor: set.LockoutDuration, Window: set.LockoutDuration, Nonce: requestID(),
	})
}

// SessionOptions describe the session a login creates.
type SessionOptions struct {
	Kind fsm.Kind
	TTL  time.Duration // 0 = from settings for the kind
	// Idle is the inactivity timeout; 0 = from settings for the kind. The
	// login portal sets it per cookie domain (api/portalcookie.go).
	Idle       time.Duration
	NoExpiry   bool // knox without a TTL: "expiry": null
	Name       string
	UserAgent  string
	ClientAddr string
	// AMR is how the user proved who they are (fsm.AMR); 0 = a password.
	AMR fsm.AMR
	// appPassword is the id of the app password a dialect login used;
	// singleFactor marks a password-only dialect login the settings allow
	// for an account with a second factor.
	appPassword  string
	singleFactor bool
}

// Issued is a created session and the secret the client gets. For JWT
// sessions Token is the jti (the store holds only its digest, and the
// session's ID is unrelated to it); the caller signs the JWT around it.
type Issued struct {
	Token   string
	Session fsm.Session
	// Evicted are the user's sessions ended to make room under the
	// per-user cap (least recently used first), for the audit log; they
	// are set even when the login itself then failed.
	Evicted []fsm.Session
}

// ttlFor picks the lifetimes of a kind from the replicated settings.
func ttlFor(set fsm.Settings, k fsm.Kind) (ttl, idle int64) {
	switch k {
	case fsm.KindOdoo:
		return set.OdooTTL, set.OdooIdle
	case fsm.KindJWT:
		return set.JWTTTL, 0
	case fsm.KindKnox:
		return set.KnoxTTL, 0
	}
	return set.NativeTTL, set.NativeIdle
}

// CreateSession mints a token for u and commits its digest. The session is
// refused if the user's password changed since it was verified. At the
// per-user session cap the least recently used sessions end first
// (sessioncap.go); knox's own token limit still refuses.
func (s *Service) CreateSession(ctx context.Context, u *fsm.User, o SessionOptions) (Issued, error) {
	var tok string
	var err error
	switch o.Kind {
	case fsm.KindOdoo:
		tok, err = NewSID()
	case fsm.KindJWT:
		tok, err = NewID()
	default:
		tok, err = NewToken()
	}
	if err != nil {
		return Issued{}, err
	}
	// Every kind gets a random public id, a JWT's too: its jti is a secret
	// like any token (with a signing key it makes a valid token), so only
	// its digest is stored, and the id that is listed, logged and sent in
	// forward auth's headers is unrelated to it.
	id, err := NewID()
	if err != nil {
		return Issued{}, err
	}
	now := s.cfg.Now().UnixNano()
	ttl, idle := ttlFor(s.node.State().Settings(), o.Kind)
	if o.TTL > 0 {
		ttl = int64(o.TTL)
	}
	if o.Idle > 0 {
		idle = int64(o.Idle)
	}
	sess := fsm.Session{
		ID: id, Digest: fsm.Digest(DigestToken(tok)), Kind: o.Kind, UserID: u.ID, DB: u.DB,
		Created: now, LastRefresh: now, IdleTimeout: idle,
		Name: o.Name, UserAgent: clip(o.UserAgent, 256), ClientAddr: o.ClientAddr,
	}
	if ttl > 0 && !o.NoExpiry {
		sess.ExpiresAt = now + ttl
	}
	if formatAtLeast(s.node.State(), fsm.FormatV3) {
		sess.AuthTime, sess.AMR = now, o.AMR
		if sess.AMR == 0 {
			sess.AMR = fsm.AMRPwd
		}
	}
	cmd := &fsm.CreateSession{Session: sess, UserVersion: u.Version, TrustAddr: s.knownKey(o.ClientAddr), AppPassword: o.appPassword, SingleFactor: o.singleFactor,
		Once: true} // cluster.Apply sends it without below FormatV3 (fsm.WithinFormat)
	evicted, err := s.createCapped(ctx, cmd)
	if err != nil {
		return Issued{Evicted: evicted}, err
	}
	return Issued{Token: tok, Session: sess, Evicted: evicted}, nil
}

// Login is Authenticate followed by CreateSession.
func (s *Service) Login(ctx context.Context, c Credentials, o SessionOptions) (Issued, *fsm.User, error) {
	if dialectKind(o.Kind) && isAppPassword(c.Password) {
		return s.appPasswordLogin(ctx, c, o)
	}
	u, err := s.Authenticate(ctx, c)
	if err != nil {
		return Issued{}, nil, err
	}
	if o.AMR == 0 {
		o.AMR = fsm.AMRPwd
	}
	if !s.HasSecondFactor(u.ID) && (c.OTP != "" || c.Recovery != "") {
		// A code for an account this node knows without one: it may not
		// have applied the enrolment yet. Catch up rather than refuse.
		_ = s.node.Sync(ctx)
	}
	if s.dialectPolicyRefuses(u, o.Kind) {
		return Issued{}, u, ErrDialectPolicy // policy2fa.go
	}
	if s.HasSecondFactor(u.ID) {
		switch {
		case dialectKind(o.Kind) && !s.node.State().Settings().DialectPasswordWith2FA:
			// The seed dialects have no field for a second factor.
			return Issued{}, u, ErrDialectSecondFactor
		case dialectKind(o.Kind):
			o.singleFactor = true // the operator allows it (settings)
		default:
			amr, err := s.SecondFactor(ctx, u, c.OTP, c.Recovery, c.ClientAddr)
			if err != nil {
				return Issued{}, u, err
			}
			o.AMR |= amr
		}
	}
	o.ClientAddr = c.ClientAddr
	iss, err := s.CreateSession(ctx, u, o)
	if errors.Is(err, fsm.ErrSecondFactorNeeded) {
		// This node had not applied the account's enrolment (or the
		// policy): the log refused the password-only session. Catch up,
		// and ask for the code, or refuse in the dialect's shape.
		_ = s.node.Sync(ctx)
		err = ErrSecondFactorRequired
		if dialectKind(o.Kind) {
			err = s.dialectRefusal(u)
		}
	}
	return iss, u, err
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// NewUser is an account to create.
type NewUser struct {
	DB, Login, Password, Email, Name string
	CompanyID                        uint64
	CompanyName                      string
	Admin                            bool
	// Operator grants the cluster operator role; who may grant it is the
	// API's rule. It needs fsm.FormatOperator on every member.
	Operator     bool
	PasswordHash string // an imported hash (bcrypt or argon2id) instead of Password
	// EmailUnverified marks an address nobody vouched for (Register's);
	// it needs fsm.FormatV3 on every member.
	EmailUnverified bool
}

// CreateUser validates, hashes on the pool and commits a new account. The
// nonce makes a retried request idempotent.
func (s *Service) CreateUser(ctx context.Context, nu NewUser) (uint64, error) {
	login, err := NormalizeLogin(nu.Login)
	if err != nil {
		return 0, err
	}
	if nu.DB == "" {
		if nu.DB, err = s.ResolveDB(""); err != nil {
			return 0, err
		}
	}
	hash := nu.PasswordHash
	if hash != "" {
		if err := CheckHash(hash); err != nil {
			return 0, fmt.Errorf("imported password hash: %w", err)
		}
	} else {
		if err := s.cfg.Policy.Check(nu.Password); err != nil {
			return 0, err
		}
		if hash, err = s.pool.Hash(ctx, nu.Password, s.cfg.Hash); err != nil {
			return 0, err
		}
	}
	nonce, err := NewID()
	if err != nil {
		return 0, err
	}
	res, err := s.node.Apply(ctx, &fsm.CreateUser{
		Nonce: nonce, DB: nu.DB, Login: login, Email: nu.Email, Name: nu.Name,
		CompanyID: nu.CompanyID, CompanyName: nu.CompanyName, PasswordHash: hash,
		Admin: nu.Admin, Operator: nu.Operator, EmailUnverified: nu.EmailUnverified, Now: s.cfg.Now().UnixNano(),
	})
	return res.UserID, err
}

// SetPassword hashes and commits a new password; every session of the user
// ends at the same index.
func (s *Service) SetPassword(ctx context.Context, uid uint64, password string) error {
	if err := s.cfg.Policy.Check(password); err != nil {
		return err
	}
	hash, err := s.pool.Hash(ctx, password, s.cfg.Hash)
	if err != nil {
		return err
	}
	_, err = s.node.Apply(ctx, &fsm.UpdateUser{
		UserID: uid, PasswordHash: &hash, Now: s.cfg.Now().UnixNano(), Nonce: requestID(),
	})
	return err
}
