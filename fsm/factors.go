package fsm

import (
	"crypto/sha256"
	"errors"
	"slices"
	"strings"
)

// Second factors (issue 26). What a user holds besides a password lives
// in its own record, keyed by user id, so the user record every
// validation reads stays small and a binary before FormatV3 never sees a
// field it would drop: every command that writes one is a FormatV3 type.
//
// One-time use is the point of keeping them here. A TOTP code is spent by
// moving LastStep forward through the log, and a recovery code by
// removing its digest: two nodes that check the same code at the same
// instant both propose, the log orders them, and the second finds the
// step or the digest gone. No node-local memory is involved.

// recFactors is the snapshot record of one user's Factors (records 12–15
// are this feature's), written only for users that have any, so a
// snapshot without second factors has the bytes it had before.
const recFactors byte = 12

// Factors is one user's second factors. Immutable once stored, like User.
type Factors struct {
	UserID uint64 `json:"user_id"`
	// TOTP is the sealed secret in force (auth seals it like a signing
	// key; the FSM never opens it); nil = TOTP off.
	TOTP []byte `json:"totp,omitempty"`
	// TOTPPending is a sealed secret enrolled but not yet confirmed with
	// a code: it does nothing until TOTPConfirm puts it in force.
	TOTPPending []byte `json:"totp_pending,omitempty"`
	TOTPSince   int64  `json:"totp_since,omitempty"`
	// LastStep is the highest RFC 6238 time step consumed: a code of this
	// step or an earlier one is refused (RFC 6238 §5.2).
	LastStep int64 `json:"last_step,omitempty"`
	// Recovery are the keyed digests of the recovery codes not yet used.
	Recovery     []Digest `json:"recovery,omitempty"`
	RecoveryMade int64    `json:"recovery_made,omitempty"`
	// RecoveryKey is the sealed key the Recovery digests are keyed with,
	// one per set, so that a seal rotation reseals it (reseal.go) instead
	// of orphaning every code. Empty for sets keyed from the seal secret
	// itself (before it existed).
	RecoveryKey []byte `json:"recovery_key,omitempty"`
	// LastUse is the nonce of the last FactorUse that succeeded: its
	// retry (a forward whose answer was lost) succeeds again instead of
	// finding its own step spent.
	LastUse string `json:"last_use,omitempty"`
	// AppPasswords are the user's app passwords (apppasswords.go).
	AppPasswords []AppPassword `json:"app_passwords,omitempty"`
}

// Enabled reports whether the user must give a second factor to log in.
func (f *Factors) Enabled() bool { return f != nil && len(f.TOTP) > 0 }

// SecretDigest is the SHA-256 of a sealed secret, by which a command
// names the secret it was checked against: a secret replaced in between
// (a reset, a new enrolment) makes the command a no-op refusal.
func SecretDigest(sealed []byte) Digest { return sha256.Sum256(sealed) }

// TOTPEnrol stores a new sealed secret awaiting confirmation, replacing a
// pending one; the secret in force (if any) stays until the confirmation.
type TOTPEnrol struct {
	UserID uint64 `json:"user_id"`
	Secret []byte `json:"secret"`
}

// TOTPConfirm puts the pending secret in force. Pending names the secret
// the code was checked against and Step the step it matched, which is
// consumed; Recovery replaces the recovery codes.
type TOTPConfirm struct {
	UserID   uint64   `json:"user_id"`
	Pending  Digest   `json:"pending"`
	Step     int64    `json:"step"`
	Recovery []Digest `json:"recovery"`
	Now      int64    `json:"now"`
	// RecoveryKey is the sealed key of the Recovery digests (Factors).
	RecoveryKey []byte `json:"recovery_key,omitempty"`
}

// FactorUse spends one second-factor proof: a TOTP step checked against
// the secret whose digest is Secret, or (Recovery set) a recovery code.
type FactorUse struct {
	Nonce    string  `json:"nonce,omitempty"` // chosen before the log, per use
	UserID   uint64  `json:"user_id"`
	Secret   *Digest `json:"secret,omitempty"`
	Step     int64   `json:"step,omitempty"`
	Recovery *Digest `json:"recovery,omitempty"`
}

// SetRecoveryCodes replaces the user's recovery codes: regenerating voids
// every code of the old set at this index.
type SetRecoveryCodes struct {
	UserID   uint64   `json:"user_id"`
	Recovery []Digest `json:"recovery"`
	Now      int64    `json:"now"`
	// RecoveryKey is the sealed key of the Recovery digests (Factors).
	RecoveryKey []byte `json:"recovery_key,omitempty"`
}

// ResetFactors turns a user's second factors off: TOTP (secret, pending
// secret, step memory) and the recovery codes that go with it, and with
// Passkeys their passkeys too (an admin's reset for a user who lost their
// devices: a lost key left registered would still sign in whoever found
// it). The user turning TOTP off keeps their passkeys.
type ResetFactors struct {
	UserID   uint64 `json:"user_id"`
	Passkeys bool   `json:"passkeys,omitempty"`
}

// Type implementations.
func (TOTPEnrol) Type() CmdType        { return TypeTOTPEnrol }
func (TOTPConfirm) Type() CmdType      { return TypeTOTPConfirm }
func (FactorUse) Type() CmdType        { return TypeFactorUse }
func (SetRecoveryCodes) Type() CmdType { return TypeSetRecoveryCodes }
func (ResetFactors) Type() CmdType     { return TypeResetFactors }

// Second-factor failures of Apply.
var (
	// ErrFactorUsed: the TOTP step was consumed already (or a later one
	// was), or the recovery code is not (or no longer) in the set.
	ErrFactorUsed = errors.New("fsm: second-factor code already used")
	// ErrFactorChanged: the secret the code was checked against is no
	// longer the user's (reset or replaced meanwhile).
	ErrFactorChanged = errors.New("fsm: second factor changed since the code was checked")
	// ErrNoFactor: the user has no second factor of that kind.
	ErrNoFactor = errors.New("fsm: no second factor of that kind")
	// ErrSecondFactorNeeded: a login without a second factor for an
	// account that has one (checked by a node that had not applied the
	// enrolment yet).
	ErrSecondFactorNeeded = errors.New("fsm: the account needs a second factor")
	// ErrChallengeGone: the sign-in step was finished already, expired,
	// or never begun (challenges.go).
	ErrChallengeGone = errors.New("fsm: sign-in step finished, expired or unknown")
)

func init() {
	errCodes[ErrFactorUsed] = "factor_used"
	errCodes[ErrFactorChanged] = "factor_changed"
	errCodes[ErrNoFactor] = "no_second_factor"
	errCodes[ErrSecondFactorNeeded] = "second_factor_required"
	errCodes[ErrChallengeGone] = "challenge_gone"
}

// needsSecondFactor refuses a session made with fewer factors than the
// account has, or than the operator's policy asks of it, at the session's
// index. The check is the log's, not the node's: a node that checked only
// the password because it had not yet applied an acknowledged enrolment
// or policy change has its login refused here, so a second factor, once
// turned on or required, is enforced by every node at once.
//
// A covered user without a second factor (SecondFactorRequired) may still
// get a native session, which is how it signs in to enrol: the API limits
// that session to enrolment (api/enrol.go). The seed dialects cannot
// enrol, so their logins are refused, with the password or an app
// password alike, unless the operator allows dialect passwords.
func (s *State) needsSecondFactor(c *CreateSession, u *User) bool {
	if c.Session.AMR.Factors() >= 2 {
		return false
	}
	if s.factors[u.ID].Enabled() {
		return !c.SingleFactor && c.AppPassword == ""
	}
	return dialectKind(c.Session.Kind) && !s.settings.DialectPasswordWith2FA && s.settings.SecondFactorRequired(u)
}

// dialectKind reports the seed dialects' sessions (Odoo, Odoo JWT, knox),
// whose logins have no field for a second factor.
func dialectKind(k Kind) bool { return k == KindOdoo || k == KindJWT || k == KindKnox }

// SecondFactorRequired reports whether the operator's policy covers u:
// an admin under Require2FAAdmins, or a user of a db in Require2FADBs.
// Forward auth admits a covered user only with a two-factor session; the
// native API limits its other sessions to enrolment; the seed dialects
// refuse it its password (needsSecondFactor).
func (st Settings) SecondFactorRequired(u *User) bool {
	if u == nil {
		return false
	}
	if st.Require2FAAdmins && u.Admin {
		return true
	}
	for db := range strings.SplitSeq(st.Require2FADBs, ",") {
		if db != "" && db == u.DB {
			return true
		}
	}
	return false
}

// factorsFor returns a copy of uid's record to modify (a new one when it
// has none).
func (s *State) factorsFor(uid uint64) Factors {
	if f, ok := s.factors[uid]; ok {
		cp := *f
		cp.Recovery = slices.Clone(f.Recovery)
		cp.AppPasswords = slices.Clone(f.AppPasswords)
		return cp
	}
	return Factors{UserID: uid}
}

func (s *State) putFactors(f Factors) {
	if s.factors == nil {
		s.factors = make(map[uint64]*Factors)
	}
	if len(f.TOTP) == 0 && len(f.TOTPPending) == 0 && len(f.Recovery) == 0 && len(f.AppPasswords) == 0 {
		delete(s.factors, f.UserID)
		return
	}
	s.factors[f.UserID] = &f
}

func (s *State) applyTOTPEnrol(c *TOTPEnrol) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	if len(c.Secret) == 0 {
		return fail(ErrBadCommand)
	}
	f := s.factorsFor(c.UserID)
	f.TOTPPending = c.Secret
	s.putFactors(f)
	return Result{UserID: c.UserID}
}

func (s *State) applyTOTPConfirm(c *TOTPConfirm) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	f := s.factorsFor(c.UserID)
	if len(f.TOTPPending) == 0 {
		return fail(ErrNoFactor)
	}
	if SecretDigest(f.TOTPPending) != c.Pending {
		return fail(ErrFactorChanged)
	}
	f.TOTP, f.TOTPPending, f.TOTPSince, f.LastStep = f.TOTPPending, nil, c.Now, c.Step
	f.Recovery, f.RecoveryMade, f.RecoveryKey = slices.Clone(c.Recovery), c.Now, c.RecoveryKey
	s.putFactors(f)
	return Result{UserID: c.UserID, Count: len(f.Recovery)}
}

// applyFactorUse is the one-time check: a step at or before LastStep, or
// a recovery digest not in the set, is refused, so of two uses of one
// code only the first in the log succeeds, whichever nodes they came to.
func (s *State) applyFactorUse(c *FactorUse) Result {
	f, ok := s.factors[c.UserID]
	if ok && c.Nonce != "" && c.Nonce == f.LastUse {
		return Result{UserID: c.UserID, Count: len(f.Recovery)} // a retry of the use that succeeded
	}
	switch {
	case c.Recovery != nil:
		if !ok {
			return fail(ErrNoFactor)
		}
		i := slices.Index(f.Recovery, *c.Recovery)
		if i < 0 {
			return fail(ErrFactorUsed)
		}
		cp := s.factorsFor(c.UserID)
		cp.Recovery = slices.Delete(cp.Recovery, i, i+1)
		cp.LastUse = c.Nonce
		s.putFactors(cp)
		return Result{UserID: c.UserID, Count: len(cp.Recovery)}
	case c.Secret != nil:
		if !ok || len(f.TOTP) == 0 {
			return fail(ErrNoFactor)
		}
		if SecretDigest(f.TOTP) != *c.Secret {
			return fail(ErrFactorChanged)
		}
		if c.Step <= f.LastStep {
			return fail(ErrFactorUsed)
		}
		cp := s.factorsFor(c.UserID)
		cp.LastStep, cp.LastUse = c.Step, c.Nonce
		s.putFactors(cp)
		return Result{UserID: c.UserID, Count: len(cp.Recovery)}
	}
	return fail(ErrBadCommand)
}

func (s *State) applySetRecoveryCodes(c *SetRecoveryCodes) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	f := s.factorsFor(c.UserID)
	if !f.Enabled() {
		return fail(ErrNoFactor)
	}
	f.Recovery, f.RecoveryMade, f.RecoveryKey = slices.Clone(c.Recovery), c.Now, c.RecoveryKey
	s.putFactors(f)
	return Result{UserID: c.UserID, Count: len(f.Recovery)}
}

// applyResetFactors turns TOTP and its recovery codes off; app
// passwords stay (they are revoked one by one).
func (s *State) applyResetFactors(c *ResetFactors) Result {
	n := 0
	if _, ok := s.passkeys[c.UserID]; ok && c.Passkeys {
		delete(s.passkeys, c.UserID)
		n = 1
	}
	if _, ok := s.factors[c.UserID]; !ok {
		return Result{UserID: c.UserID, Count: n}
	}
	s.putFactors(Factors{UserID: c.UserID, AppPasswords: s.factors[c.UserID].AppPasswords})
	return Result{UserID: c.UserID, Count: 1}
}

// Factors returns uid's second factors, or nil when it has none. The
// value must not be modified.
func (s *State) Factors(uid uint64) *Factors {
	s.mu.RLock()
	f := s.factors[uid]
	s.mu.RUnlock()
	return f
}
