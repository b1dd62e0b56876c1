package api

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Second factors on /v1 (issue 26): TOTP enrolment, recovery codes, and
// an admin's reset. The checks themselves and their one-time use are in
// auth (totp.go, recovery.go) and fsm (factors.go).
func (s *Server) totpRoutes() {
	s.handle("GET /v1/me/second-factor", s.secondFactorStatus)
	s.handle("POST /v1/me/totp", s.totpBegin)
	s.handle("POST /v1/me/totp/confirm", s.totpConfirm)
	s.handle("DELETE /v1/me/totp", s.totpDisable)
	s.handle("POST /v1/me/recovery-codes", s.recoveryRegenerate)
	s.handle("DELETE /v1/users/{id}/second-factor", s.admin(s.adminResetSecondFactor))
}

// DefaultStepUpAge is how recent an authentication must be for account
// changes (password, second factor, app passwords) when the operator sets
// none: GitHub's "sudo mode" window is of the same order.
const DefaultStepUpAge = 10 * time.Minute

// ErrStepUp: the session's authentication is older than the step-up age;
// sign in again (the answer says how recent it must be).
var ErrStepUp = errors.New("api: a more recent sign-in is needed for this change")

// stepUp refuses a change from a session authenticated longer ago than
// the step-up age: a stolen or forgotten session alone cannot take over
// the account by changing its credentials.
// steppedUp authenticates a native caller whose authentication is young
// enough to change its credentials (stepUp), or writes the refusal: the
// one preamble of every route that changes a password, a second factor
// or an app password.
func (s *Server) steppedUp(w http.ResponseWriter, r *http.Request) (principal, bool) {
	return s.steppedUpBy(w, r, s.nativeAuth)
}

// steppedUpBy is steppedUp with the caller authenticated by authn (the
// portal's script authenticates by its cookie: portalpasskeys.go).
func (s *Server) steppedUpBy(w http.ResponseWriter, r *http.Request, authn func(*http.Request) (principal, error)) (principal, bool) {
	p, err := authn(r)
	if err == nil {
		err = s.stepUp(p)
	}
	if err != nil {
		writeNativeError(w, err)
		return principal{}, false
	}
	return p, true
}

func (s *Server) stepUp(p principal) error {
	age := s.cfg.StepUpAge
	if age <= 0 {
		age = DefaultStepUpAge
	}
	if s.svc.Now().UnixNano()-p.Session.AuthAt() > int64(age) {
		return fieldError(ErrStepUp, fmt.Sprintf("sign in again: this change needs a sign-in younger than %s", age))
	}
	return nil
}

// secondFactorView is what GET /v1/me/second-factor answers.
type secondFactorView struct {
	TOTP              bool `json:"totp"`
	TOTPPending       bool `json:"totp_pending"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

func secondFactorJSON(f *fsm.Factors) secondFactorView {
	if f == nil {
		return secondFactorView{}
	}
	return secondFactorView{TOTP: f.Enabled(), TOTPPending: len(f.TOTPPending) > 0, RecoveryCodesLeft: len(f.Recovery)}
}

func (s *Server) secondFactorStatus(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, secondFactorJSON(s.svc.Factors(p.User.ID)))
}

func (s *Server) totpBegin(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	en, err := s.svc.BeginTOTP(r.Context(), p.User)
	s.audit(r, "totp_begin", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]string{"secret": en.Secret, "otpauth_url": en.URL})
}

type codeBody struct {
	Code string `json:"code"`
}

func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	var in codeBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Code == "" {
		writeNativeError(w, fieldError(ErrMissingField, "code is required"))
		return
	}
	codes, err := s.svc.ConfirmTOTP(r.Context(), p.User, in.Code, s.clientAddr(r))
	s.audit(r, "totp_enable", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

type passwordBody struct {
	Password string `json:"password"`
}

func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	var in passwordBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Password == "" {
		writeNativeError(w, fieldError(ErrMissingField, "password is required"))
		return
	}
	err := s.svc.DisableTOTP(r.Context(), p.User, in.Password, s.clientAddr(r))
	s.audit(r, "totp_disable", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) recoveryRegenerate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), p.User)
	s.audit(r, "recovery_codes_regenerate", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]any{"recovery_codes": codes})
}

// adminResetSecondFactor removes a user's second factors (a lost phone
// and lost recovery codes): an admin of the user's db, audited.
func (s *Server) adminResetSecondFactor(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, true)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	err = s.svc.ResetSecondFactor(r.Context(), u.ID)
	s.auditAdmin(r, "second_factor_reset", p, u.ID, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// Second-factor rows of the error table (errors.go's errorTable takes
// them in init, next to the rest of this feature).
func init() {
	errorTable = append([]struct {
		err error
		apiError
	}{
		{auth.ErrSecondFactorRequired, apiError{401, "second_factor_required"}},
		{fsm.ErrSecondFactorNeeded, apiError{401, "second_factor_required"}},
		{auth.ErrBadSecondFactor, apiError{401, "bad_second_factor"}},
		{auth.ErrBadOTPSyntax, apiError{400, "invalid_otp"}},
		{auth.ErrNoTOTP, apiError{409, "no_second_factor"}},
		{ErrStepUp, apiError{401, "step_up_required"}},
	}, errorTable...)
}

// secondFactorChecks is sessiond_second_factor_checks_total{method,
// result}: every pair at zero from the start (absent() alerts stay
// quiet). A rising wrong is someone holding a password and guessing
// codes; a rising replayed, codes being reused (a phished code raced by
// its owner, or a client retrying).
func secondFactorChecks(svc *auth.Service) prometheus.Collector {
	return &factorCollector{svc: svc, desc: prometheus.NewDesc("sessiond_second_factor_checks_total",
		"Second-factor checks by method (totp, recovery) and result: ok, wrong, replayed (a code already used), malformed (not a code), throttled, error.",
		[]string{"method", "result"}, nil)}
}

type factorCollector struct {
	svc  *auth.Service
	desc *prometheus.Desc
}

func (c *factorCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *factorCollector) Collect(ch chan<- prometheus.Metric) {
	got := c.svc.SecondFactorChecks()
	for _, m := range []string{"totp", "recovery"} {
		for _, r := range []string{"ok", "wrong", "replayed", "malformed", "throttled", "error"} {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(got[[2]string{m, r}]), m, r)
		}
	}
}

// isSecondFactorRefusal: a login refused for its second factor (none
// given, wrong, used, malformed), which metrics count as bad credentials.
func isSecondFactorRefusal(err error) bool {
	return errors.Is(err, auth.ErrSecondFactorRequired) || errors.Is(err, auth.ErrBadSecondFactor) ||
		errors.Is(err, auth.ErrBadOTPSyntax) || errors.Is(err, fsm.ErrSecondFactorNeeded)
}
