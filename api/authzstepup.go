package api

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Step-up for forward auth (issue 26): a rule may ask for a session
// signed in with a second factor (two_factor) or recently (max_age). A
// session that falls short is not refused outright: a browser is sent to
// the portal with reauth=1 and rd, signs in again (password and, where
// the account has one, its second factor), and comes back; an API client
// gets 401 step_up_required.

// ruleMaxAge is a rule's max_age: a Go duration string in the file
// ("90s", "15m", "12h"), at least a second.
type ruleMaxAge time.Duration

func (m *ruleMaxAge) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("max_age must be a duration string such as \"15m\": %w", err)
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return fmt.Errorf("max_age %q must be a duration of at least 1s (\"15m\")", s)
	}
	*m = ruleMaxAge(d)
	return nil
}

func (m ruleMaxAge) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(m).String()) }

// ruleStepUp checks a rule's two_factor and max_age against the session.
func (s *Server) ruleStepUp(ru *AuthzRule, p principal) error {
	if ru.TwoFactor && !s.svc.HasSecondFactor(p.User.ID) {
		// Signing in again would not help: say what would.
		return fieldError(ErrForbidden, "this path needs two-step sign-in: set it up on the account page")
	}
	if ru.TwoFactor && p.Session.Methods().Factors() < 2 {
		return fieldError(ErrStepUp, "this path needs a sign-in with a second factor")
	}
	if ru.MaxAge > 0 && s.svc.Now().UnixNano()-p.Session.AuthAt() > int64(ru.MaxAge) {
		return fieldError(ErrStepUp, fmt.Sprintf("this path needs a sign-in younger than %s", time.Duration(ru.MaxAge)))
	}
	return nil
}

// withReauth asks the portal for the sign-in form even for a signed-in
// browser (portalHome).
func withReauth(loc string) string {
	if strings.Contains(loc, "?") {
		return loc + "&reauth=1"
	}
	return loc + "?reauth=1"
}

// secondFactorPolicy is the operator's policy (settings require_2fa_admins,
// require_2fa_dbs): a covered user passes forward auth on every path only
// with a two-factor session, as if each path had a two_factor rule.
func (s *Server) secondFactorPolicy(p principal) error {
	if !s.svc.Settings().SecondFactorRequired(p.User) { // one definition of who is covered (fsm)
		return nil
	}
	return s.ruleStepUp(&AuthzRule{TwoFactor: true}, p)
}
