package fsm

import (
	"cmp"
	"crypto/sha256"
	"slices"
)

// Sealed values other than signing keys: a user's TOTP secret (in force
// or pending), the key of their recovery codes, a webhook's signing
// secret. All are sealed under the seal secret, which by default is the
// cluster key; after a rotation (docs/OPERATIONS.md) the old secret goes
// away, and whatever is still sealed under it stops opening: every user
// with a second factor locked out, every webhook unsigned. So the leader
// reseals them as it reseals signing keys (auth/reseal.go), one
// ResealValue each.

// TypeResealValue replaces one sealed value (proto's range, 64).
const TypeResealValue CmdType = 64

// Sealed values ResealValue can replace (ResealValue.What).
const (
	ResealTOTP        = "totp"
	ResealTOTPPending = "totp_pending"
	ResealRecoveryKey = "recovery_key"
	ResealWebhook     = "webhook"
)

// ResealValue replaces a sealed value with the same secret sealed anew.
// As with ResealKey, the FSM cannot see inside: From is the SHA-256 of
// the bytes it replaces, and a reseal computed against a state that has
// changed since (a new enrolment, a retry, another leader's reseal) does
// nothing.
type ResealValue struct {
	What      string `json:"what"`
	UserID    uint64 `json:"user_id,omitempty"`
	WebhookID string `json:"webhook_id,omitempty"`
	From      Digest `json:"from"`
	Sealed    []byte `json:"sealed"`
}

// Type implements Command.
func (ResealValue) Type() CmdType { return TypeResealValue }

func (s *State) applyResealValue(c *ResealValue) Result {
	if len(c.Sealed) == 0 {
		return fail(ErrBadCommand)
	}
	if c.What == ResealWebhook {
		w, ok := s.webhooks[c.WebhookID]
		if !ok {
			return Result{} // deleted since: nothing to reseal
		}
		if sha256.Sum256(w.Secret) == c.From {
			cp := *w
			cp.Secret = c.Sealed
			s.webhooks[c.WebhookID] = &cp
		}
		return Result{}
	}
	f, ok := s.factors[c.UserID]
	if !ok {
		return Result{UserID: c.UserID}
	}
	cp := s.factorsFor(c.UserID)
	var field *[]byte
	switch c.What {
	case ResealTOTP:
		field = &cp.TOTP
	case ResealTOTPPending:
		field = &cp.TOTPPending
	case ResealRecoveryKey:
		field = &cp.RecoveryKey
	default:
		return fail(ErrBadCommand)
	}
	if len(*field) == 0 || sha256.Sum256(*field) != c.From {
		return Result{UserID: f.UserID}
	}
	*field = c.Sealed
	s.putFactors(cp)
	return Result{UserID: c.UserID, Count: 1}
}

// AllFactors returns every user's second factors, by user id (for the
// leader's reseal pass). The values must not be modified.
func (s *State) AllFactors() []*Factors {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Factors, 0, len(s.factors))
	for _, f := range s.factors {
		out = append(out, f)
	}
	slices.SortFunc(out, func(a, b *Factors) int { return cmp.Compare(a.UserID, b.UserID) })
	return out
}
