package auth

import (
	"errors"

	"github.com/sessiond/sessiond/fsm"
)

// The operator's second-factor policy at sign-in (settings
// require_2fa_admins, require_2fa_dbs; fsm Settings.SecondFactorRequired).
// A covered user with a second factor already needs it everywhere (Login).
// A covered user without one signs in to the native API and the portal,
// whose session the API limits to enrolment (EnrolOnly), and is refused
// by the seed dialects, which cannot enrol, unless the operator allows
// dialect passwords. The log makes the same refusal (fsm
// needsSecondFactor), so a node that has not applied the policy yet
// cannot let a dialect login through; this check only answers sooner.

// ErrDialectPolicy: a seed dialect's login (password or app password) of
// a user the policy covers who has no second factor yet. It wraps
// ErrBadCredentials so each dialect answers in its own bad-credentials
// shape.
var ErrDialectPolicy = errors.Join(ErrBadCredentials, errors.New("auth: the operator requires a second factor for this account: set one up on the account page"))

// dialectPolicyRefuses reports a seed dialect's login of u that the
// policy refuses on this node's settings.
func (s *Service) dialectPolicyRefuses(u *fsm.User, k fsm.Kind) bool {
	if !dialectKind(k) || s.HasSecondFactor(u.ID) {
		return false
	}
	set := s.node.State().Settings()
	return !set.DialectPasswordWith2FA && set.SecondFactorRequired(u)
}

// dialectRefusal is the answer to a dialect login the log refused for
// want of a second factor (fsm.ErrSecondFactorNeeded), which this node
// did not see coming: it had not applied the enrolment or the policy.
func (s *Service) dialectRefusal(u *fsm.User) error {
	if s.HasSecondFactor(u.ID) {
		return ErrDialectSecondFactor
	}
	return ErrDialectPolicy
}

// EnrolOnly reports a session that the policy limits to enrolling a
// second factor: its user is covered and it was not made with two
// factors. It is read at each request from the node's settings (a
// policy change narrows validity, so it is acknowledged once read-lease
// holders applied it), so it also limits sessions made before the policy.
func (s *Service) EnrolOnly(u *fsm.User, sess *fsm.Session) bool {
	return sess.Methods().Factors() < 2 && s.node.State().Settings().SecondFactorRequired(u)
}
