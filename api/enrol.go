package api

import (
	"errors"
	"net/http"
	"strings"
)

// Sessions limited to enrolment (issue 26). The operator's second-factor
// policy (settings require_2fa_admins, require_2fa_dbs) covers users who
// may not have a second factor yet: they sign in to /v1 and the portal
// with the password so they can enrol, and such a session (one factor,
// auth.Service.EnrolOnly) reaches only the caller's own account routes
// here, while forward auth refuses it (authzstepup.go) and the seed
// dialects refuse the login itself (auth policy2fa.go, fsm
// needsSecondFactor). It is decided at each request, so a session made
// before the policy is limited as well, and one made after enrolling
// needs a sign-in with the second factor to be whole again.

// ErrSecondFactorSetup: the caller's session is limited to setting up a
// second factor, which the operator requires of its account.
var ErrSecondFactorSetup = errors.New("api: the operator requires a second factor for this account: set one up (POST /v1/me/totp) and sign in with it")

// enrolRoute reports the routes an enrol-only session may reach: its own
// session and sign-out, and the /v1/me routes of its second factors
// (passkeys' included, whatever they are named), but not app passwords,
// which would be a password without the factor the policy asks for.
func enrolRoute(r *http.Request) bool {
	_, path, _ := strings.Cut(r.Pattern, " ")
	switch path {
	case "/v1/session", "/v1/sessions", "/v1/sessions/{id}", "/v1/logout", "/v1/logoutall":
		return true
	}
	return strings.HasPrefix(path, "/v1/me/") && !strings.HasPrefix(path, "/v1/me/app-passwords")
}

// enrolOnly refuses a limited session outside the enrolment routes.
func (s *Server) enrolOnly(r *http.Request, p principal) error {
	if s.svc.EnrolOnly(p.User, p.Session) && !enrolRoute(r) {
		return ErrSecondFactorSetup
	}
	return nil
}

func init() {
	errorTable = append(errorTable, struct {
		err error
		apiError
	}{ErrSecondFactorSetup, apiError{403, "second_factor_setup_required"}})
}
