package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"hash"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessiond/sessiond/fsm"
)

// TOTP (RFC 6238) with the parameters every authenticator app supports:
// SHA-1, six digits, 30-second steps, and one step of skew either way.
//
// pquerna/otp makes the key, its otpauth:// URL and its QR code; codes
// are checked here, one step at a time with a constant-time compare, so
// the matched step is known (the library's Validate does not say which
// step matched, and keeps no memory of used codes). The step is then
// consumed through the log (fsm.FactorUse), which is what makes a code
// single-use across the whole cluster.
const (
	totpPeriod = 30
	totpDigits = 6
	totpSkew   = 1
	// totpSecretLen is 160 bits, RFC 4226's recommended secret length.
	totpSecretLen = 20
)

// Second-factor failures.
var (
	// ErrSecondFactorRequired: the password was right, and the account
	// needs a second factor the login did not carry.
	ErrSecondFactorRequired = errors.New("auth: a second factor is required")
	// ErrBadSecondFactor: the code is wrong, already used, or for a step
	// outside the allowed skew.
	ErrBadSecondFactor = errors.New("auth: second factor not accepted")
	// ErrBadOTPSyntax: a code that cannot be one (not six digits, or a
	// recovery code of the wrong shape); no guess is charged for it.
	ErrBadOTPSyntax = errors.New("auth: malformed one-time code")
	// ErrNoTOTP: the operation needs TOTP enrolled (or pending).
	ErrNoTOTP = errors.New("auth: no TOTP enrolment")
	// ErrDialectSecondFactor: a seed dialect's password login for an
	// account with a second factor, which those dialects cannot carry.
	// It wraps ErrBadCredentials so each dialect answers in its own
	// bad-credentials shape.
	ErrDialectSecondFactor = errors.Join(ErrBadCredentials, errors.New("auth: the account has a second factor; use an app password"))
)

// TOTPIssuer is the issuer shown in authenticator apps.
const TOTPIssuer = "sessiond"

// totpStep is the RFC 6238 time step of t.
func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// hotpCode is RFC 4226's HOTP value of counter, digits long, with the
// given HMAC hash (SHA-1 for TOTP's default; RFC 6238's vectors also use
// SHA-256 and SHA-512).
func hotpCode(h func() hash.Hash, secret []byte, counter int64, digits int) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(counter))
	m := hmac.New(h, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	s := strconv.FormatUint(uint64(v%mod), 10)
	for len(s) < digits {
		s = "0" + s
	}
	return s
}

// matchStep checks code against the steps around now and returns the one
// it matches. Every candidate is computed and compared in constant time,
// so the time taken says nothing about which step (if any) matched.
func matchStep(secret []byte, code string, now time.Time) (int64, bool) {
	cur := totpStep(now)
	var found int64
	ok := 0
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		want := hotpCode(sha1.New, secret, cur+d, totpDigits)
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		// The latest matching step wins (a code is the same for two
		// steps only by a 1-in-10^6 chance; taking the later spends more).
		found = int64(subtle.ConstantTimeSelect(eq, int(cur+d), int(found)))
		ok |= eq
	}
	return found, ok == 1
}

// validOTPSyntax reports whether code is exactly six ASCII digits.
func validOTPSyntax(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

func totpAD(uid uint64) string { return "sessiond totp secret\x00" + strconv.FormatUint(uid, 10) }

// TOTPEnrolment is what BeginTOTP answers: the key as text (base32) and
// as an otpauth:// URL (what a QR code carries).
type TOTPEnrolment struct {
	Secret string
	URL    string
	Key    *otp.Key
}

// BeginTOTP makes a new TOTP secret for u and stores it sealed, pending
// until ConfirmTOTP sees a code from it. A TOTP in force stays in force
// until then, so a user re-enrolling on a new phone is never left
// without a second factor halfway.
func (s *Service) BeginTOTP(ctx context.Context, u *fsm.User) (TOTPEnrolment, error) {
	raw := make([]byte, totpSecretLen)
	if _, err := rand.Read(raw); err != nil {
		return TOTPEnrolment{}, err
	}
	key, err := totpKey(u, raw)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	sealed, err := s.sealValue(totpAD(u.ID), raw)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if _, err := s.node.Apply(ctx, &fsm.TOTPEnrol{UserID: u.ID, Secret: sealed}); err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{Secret: base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(raw), URL: key.URL(), Key: key}, nil
}

// totpKey is the otpauth key of raw for u: what an app is given.
func totpKey(u *fsm.User, raw []byte) (*otp.Key, error) {
	return totp.Generate(totp.GenerateOpts{
		Issuer: TOTPIssuer, AccountName: u.Login + "@" + u.DB, Secret: raw,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// PendingTOTP is u's enrolment awaiting its confirming code (the account
// page shows its QR code and key until then); ErrNoTOTP when none. It
// catches up first: the key was begun through whichever node the balancer
// picked for that request, and this one may not have applied it, or a
// newer one, yet (a read index: no log write). Cut off from the leader,
// it shows what this node has (CatchUpBriefly).
func (s *Service) PendingTOTP(ctx context.Context, u *fsm.User) (*otp.Key, error) {
	s.CatchUpBriefly(ctx)
	return s.PendingTOTPHere(u)
}

// PendingTOTPHere is PendingTOTP from this node's state as it is, for a
// caller that has just caught up itself (the account page does, once for
// everything it shows).
func (s *Service) PendingTOTPHere(u *fsm.User) (*otp.Key, error) {
	f := s.node.State().Factors(u.ID)
	if f == nil || len(f.TOTPPending) == 0 {
		return nil, ErrNoTOTP
	}
	raw, err := s.openValue(totpAD(u.ID), f.TOTPPending)
	if err != nil {
		return nil, err
	}
	defer clear(raw)
	return totpKey(u, raw)
}

// ConfirmTOTP checks code against u's pending secret; on a match it puts
// the secret in force (the matched step consumed) and answers ten new
// recovery codes, shown once. A wrong code is charged to the guess budget.
func (s *Service) ConfirmTOTP(ctx context.Context, u *fsm.User, code, clientAddr string) ([]string, error) {
	// The key may have been begun (or begun again) through another node,
	// not applied here yet: the code is checked against the newest. Cut
	// off from the leader, the local key is checked and the confirm's
	// write, which needs the leader, fails as writes do.
	s.CatchUpBriefly(ctx)
	f := s.node.State().Factors(u.ID)
	if f == nil || len(f.TOTPPending) == 0 {
		return nil, ErrNoTOTP
	}
	step, err := s.checkTOTP(ctx, u, f.TOTPPending, code, clientAddr)
	if err != nil {
		return nil, err
	}
	codes, digests, sealedKey, err := s.newRecoveryCodes(u.ID)
	if err != nil {
		return nil, err
	}
	_, err = s.node.Apply(ctx, &fsm.TOTPConfirm{UserID: u.ID, Pending: fsm.SecretDigest(f.TOTPPending),
		Step: step, Recovery: digests, Now: s.cfg.Now().UnixNano(), RecoveryKey: sealedKey})
	if err != nil {
		return nil, factorErr(err)
	}
	return codes, nil
}

// checkTOTP opens a sealed secret and matches code against it, charging
// a miss to the account's guess budget. It consumes nothing.
func (s *Service) checkTOTP(ctx context.Context, u *fsm.User, sealed []byte, code, clientAddr string) (int64, error) {
	if !validOTPSyntax(code) {
		return 0, ErrBadOTPSyntax
	}
	now := s.cfg.Now()
	if ok, wait := s.limiter.Allow(clientAddr, now); !ok {
		s.guesses.throttled.Add(1)
		return 0, &RetryError{Err: ErrThrottled, After: wait}
	}
	if budgetSpent(u, s.knownKey(clientAddr), now) {
		s.guesses.spent.Add(1)
		return 0, ErrBadSecondFactor
	}
	secret, err := s.openValue(totpAD(u.ID), sealed)
	if err != nil {
		return 0, err
	}
	step, ok := matchStep(secret, code, now)
	clear(secret)
	if !ok {
		s.limiter.Fail(clientAddr, now)
		s.recordFailure(ctx, u, now)
		return 0, ErrBadSecondFactor
	}
	return step, nil
}

// SecondFactor checks and spends one proof for u: a TOTP code or a
// recovery code. It answers the method used. Of two checks of one code,
// on any nodes, exactly one succeeds: the second finds its step (or
// recovery digest) consumed when its FactorUse is applied.
func (s *Service) SecondFactor(ctx context.Context, u *fsm.User, code, recovery, clientAddr string) (fsm.AMR, error) {
	f := s.node.State().Factors(u.ID)
	if !f.Enabled() {
		return 0, ErrNoTOTP
	}
	var use fsm.FactorUse
	var amr fsm.AMR
	switch {
	case code != "":
		step, err := s.checkTOTP(ctx, u, f.TOTP, code, clientAddr)
		if err != nil {
			s.countFactor("totp", err)
			return 0, err
		}
		d := fsm.SecretDigest(f.TOTP)
		use, amr = fsm.FactorUse{UserID: u.ID, Secret: &d, Step: step}, fsm.AMROTP
	case recovery != "":
		d, err := s.checkRecovery(ctx, u, f, recovery, clientAddr)
		if err != nil {
			s.countFactor("recovery", err)
			return 0, err
		}
		use, amr = fsm.FactorUse{UserID: u.ID, Recovery: &d}, fsm.AMRKba
	default:
		return 0, ErrSecondFactorRequired
	}
	method := map[fsm.AMR]string{fsm.AMROTP: "totp", fsm.AMRKba: "recovery"}[amr]
	nonce, err := NewID()
	if err != nil {
		return 0, err
	}
	use.Nonce = nonce
	if _, err := s.node.Apply(ctx, &use); err != nil {
		err = factorErr(err)
		s.countFactor(method, err)
		return 0, err
	}
	s.countFactor(method, nil)
	s.clearFailures(ctx, u)
	return amr, nil
}

// factorErr turns the FSM's refusals of a use into the login's answer: a
// used code and a changed secret are both "not accepted".
func factorErr(err error) error {
	if errors.Is(err, fsm.ErrFactorUsed) || errors.Is(err, fsm.ErrFactorChanged) || errors.Is(err, fsm.ErrNoFactor) {
		return errors.Join(ErrBadSecondFactor, err)
	}
	return err
}

// HasSecondFactor reports whether uid must give a second factor.
func (s *Service) HasSecondFactor(uid uint64) bool {
	return s.node.State().Factors(uid).Enabled()
}

// DisableTOTP turns u's second factor off after checking its password
// again (a stolen session alone cannot remove it).
func (s *Service) DisableTOTP(ctx context.Context, u *fsm.User, password, clientAddr string) error {
	if _, err := s.Authenticate(ctx, Credentials{DB: u.DB, Login: u.Login, Password: password, ClientAddr: clientAddr}); err != nil {
		return err
	}
	_, err := s.node.Apply(ctx, &fsm.ResetFactors{UserID: u.ID}) // their passkeys stay
	return err
}

// ResetSecondFactor removes every second factor of uid, passkeys
// included: an admin's reset for a user who lost their devices.
func (s *Service) ResetSecondFactor(ctx context.Context, uid uint64) error {
	_, err := s.node.Apply(ctx, &fsm.ResetFactors{UserID: uid, Passkeys: true})
	return err
}

// clearFailures ends a guessing streak after a complete login (password
// and second factor), as Authenticate does for a password-only account.
func (s *Service) clearFailures(ctx context.Context, u *fsm.User) {
	if cur, ok := s.node.State().User(u.ID); ok {
		u = cur // the failures the code checks may have charged meanwhile
	}
	if u.LockedUntil <= s.cfg.Now().UnixNano() && (u.FailedLogins > 0 || u.LockedUntil != 0) {
		_, _ = s.node.Apply(ctx, &fsm.ResetFailures{UserID: u.ID})
	}
}

// formatAtLeast reports whether every member has announced format lv:
// a session records how it was made only then, so a login during a
// rolling upgrade is never refused for a field an older member would
// drop (the leader's gate would refuse the entry). A state without node
// records (a replica in tests) has no older member to wait for.
func formatAtLeast(st *fsm.State, lv int) bool {
	for _, n := range st.Nodes() {
		if n.Format < lv {
			return false
		}
	}
	return true
}

// dialectKind reports the seed dialects' kinds (Odoo session, Odoo JWT,
// knox): their login bodies have no second-factor field.
func dialectKind(k fsm.Kind) bool {
	return k == fsm.KindOdoo || k == fsm.KindJWT || k == fsm.KindKnox
}

// Factors is uid's second-factor record on this node (nil: none).
func (s *Service) Factors(uid uint64) *fsm.Factors { return s.node.State().Factors(uid) }
