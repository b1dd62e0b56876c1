package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond/fsm"
)

// App passwords (fsm apppasswords.go): for the seed dialects only. Each
// is "sdap_" and 32 hex characters (128 random bits), shown once; the
// store keeps its SHA-256. A dialect login whose password has that shape
// is checked against the account's app passwords (no password hash is
// run), and its session names the app password, so the log refuses it
// once the app password is revoked.
const appPasswordPrefix = "sdap_"

// ErrBadAppPasswordName: a name empty, longer than 64 bytes or not text.
var ErrBadAppPasswordName = errors.New("auth: an app password needs a name of 1 to 64 characters")

// AppPasswordIssued is a new app password: the secret, shown once, and
// its record.
type AppPasswordIssued struct {
	Secret string
	fsm.AppPassword
}

// CreateAppPassword makes a named app password for u.
func (s *Service) CreateAppPassword(ctx context.Context, u *fsm.User, name string) (AppPasswordIssued, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return AppPasswordIssued{}, ErrBadAppPasswordName
	}
	raw, err := randomHex(16)
	if err != nil {
		return AppPasswordIssued{}, err
	}
	id, err := NewID()
	if err != nil {
		return AppPasswordIssued{}, err
	}
	secret := appPasswordPrefix + raw
	ap := fsm.AppPassword{ID: id, Name: name, Digest: fsm.Digest(DigestToken(secret)), Created: s.cfg.Now().UnixNano()}
	if _, err := s.node.Apply(ctx, &fsm.PutAppPassword{UserID: u.ID, AppPassword: ap}); err != nil {
		return AppPasswordIssued{}, err
	}
	return AppPasswordIssued{Secret: secret, AppPassword: ap}, nil
}

// AppPasswords lists uid's app passwords (never a secret).
func (s *Service) AppPasswords(uid uint64) []fsm.AppPassword {
	if f := s.node.State().Factors(uid); f != nil {
		return f.AppPasswords
	}
	return nil
}

// RevokeAppPassword removes one of uid's app passwords; false when it
// was not there.
func (s *Service) RevokeAppPassword(ctx context.Context, uid uint64, id string) (bool, error) {
	res, err := s.node.Apply(ctx, &fsm.DeleteAppPassword{UserID: uid, ID: id})
	return res.Count == 1, err
}

// isAppPassword reports the shape of an app password.
func isAppPassword(p string) bool {
	return strings.HasPrefix(p, appPasswordPrefix) && ValidTokenSyntax(p[len(appPasswordPrefix):], 32)
}

// appPasswordLogin signs in a seed dialect's client with an app password:
// the address limiter and the account's guess budget as for a password,
// then a constant-time compare against each of the account's app
// passwords. A miss is charged like a wrong password.
func (s *Service) appPasswordLogin(ctx context.Context, c Credentials, o SessionOptions) (Issued, *fsm.User, error) {
	now := s.cfg.Now()
	if ok, wait := s.limiter.Allow(c.ClientAddr, now); !ok {
		s.guesses.throttled.Add(1)
		return Issued{}, nil, &RetryError{Err: ErrThrottled, After: wait}
	}
	login, err := NormalizeLogin(c.Login)
	if err != nil {
		return Issued{}, nil, err
	}
	db, err := s.ResolveDB(c.DB)
	if err != nil {
		return Issued{}, nil, err
	}
	u, found := s.node.State().UserByLogin(db, login)
	if !found || len(s.AppPasswords(u.ID)) == 0 {
		// An app password made on another node may not be here yet.
		if err := s.node.Sync(ctx); err != nil {
			return Issued{}, nil, err
		}
		u, found = s.node.State().UserByLogin(db, login)
	}
	if !found || u.Disabled || budgetSpent(u, s.knownKey(c.ClientAddr), now) {
		s.limiter.Fail(c.ClientAddr, now)
		return Issued{}, nil, ErrBadCredentials
	}
	d := DigestToken(c.Password)
	id, hit := "", 0
	for _, ap := range s.AppPasswords(u.ID) {
		eq := subtle.ConstantTimeCompare(d[:], ap.Digest[:])
		if eq == 1 {
			id = ap.ID
		}
		hit |= eq
	}
	if hit == 0 {
		s.limiter.Fail(c.ClientAddr, now)
		s.recordFailure(ctx, u, now)
		return Issued{}, u, ErrBadCredentials
	}
	if s.dialectPolicyRefuses(u, o.Kind) {
		// Without a second factor an app password is just another
		// password: the policy's refusal holds for it too (policy2fa.go).
		return Issued{}, u, ErrDialectPolicy
	}
	o.ClientAddr, o.AMR, o.appPassword = c.ClientAddr, fsm.AMRPwd, id
	iss, err := s.CreateSession(ctx, u, o)
	switch {
	case errors.Is(err, fsm.ErrStaleUser):
		err = ErrBadCredentials // revoked meanwhile
	case errors.Is(err, fsm.ErrSecondFactorNeeded):
		_ = s.node.Sync(ctx)
		err = s.dialectRefusal(u) // the log applied a policy this node had not
	}
	return iss, u, err
}
