package api

import (
	"encoding/json"
	"errors"
	"image/png"
	"net/http"
	"net/url"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The portal's second factor (issue 26): after the password, an account
// with TOTP is asked for a code (or a recovery code) on its own page; the
// account page enrols an authenticator app (QR code and key), shows the
// recovery codes left, makes new ones, and turns it off.
//
// Between the two pages the sign-in is a challenge in the replicated
// state (fsm challenges.go) named by a cookie holding its secret: the
// code may be posted to any node, and the step finishes once.
//
//	POST {prefix}signin/second        otp | recovery_code
//	POST {prefix}account/totp         begin enrolment
//	GET  {prefix}account/totp.png     the pending key's QR code
//	POST {prefix}account/totp/confirm code
//	POST {prefix}account/totp/off     password
//	POST {prefix}account/recovery     new recovery codes

// secondStepTTL is how long the code page waits: long enough to find a
// phone, short enough that a pending sign-in left on a shared computer
// expires soon.
const secondStepTTL = 5 * time.Minute

// secondStepCookie holds the pending sign-in's secret.
const secondStepCookie = "sessiond_2fa"

// challengePortal2FA is the challenge kind of a pending portal sign-in.
const challengePortal2FA = "portal_2fa"

// pendingData is what a pending sign-in keeps in its challenge.
type pendingData struct {
	RD       string `json:"rd,omitempty"`
	Remember bool   `json:"remember,omitempty"`
	After    string `json:"after,omitempty"`
}

// factorView is the account page's second-factor section.
type factorView struct {
	On, Pending  bool
	RecoveryLeft int
	Key          string   // the pending key as text
	Codes        []string // recovery codes just made, shown once
	AppPasswords []appPasswordView
	NewPassword  string // an app password just made, shown once
}

func (s *Server) portal2FARoutes() {
	p := s.cfg.Portal.Prefix
	if p == "" {
		return
	}
	s.addPortalStep(s.portalSecondStep)
	s.page("POST "+p+"signin/second", s.portalSecondFactor)
	s.page("POST "+p+"account/totp", s.portalTOTPBegin)
	s.page("GET "+p+"account/totp.png", s.portalTOTPImage)
	s.page("POST "+p+"account/totp/confirm", s.portalTOTPConfirm)
	s.page("POST "+p+"account/totp/off", s.portalTOTPOff)
	s.page("POST "+p+"account/recovery", s.portalRecovery)
}

// portalSecondStep runs after the password: an account with a second
// factor gets the code page instead of a session. A node that has not
// applied the account's enrolment catches up first (the log would refuse
// the password-only session anyway: fsm needsSecondFactor).
func (s *Server) portalSecondStep(w http.ResponseWriter, r *http.Request, p *pendingLogin) bool {
	if !s.svc.HasSecondFactor(p.User.ID) {
		if err := s.svc.CatchUp(r.Context()); err != nil || !s.svc.HasSecondFactor(p.User.ID) {
			return false
		}
	}
	data, _ := json.Marshal(pendingData{RD: p.RD, Remember: p.Remember, After: p.after})
	tok, err := s.svc.BeginChallenge(r.Context(), p.User.ID, challengePortal2FA, data, secondStepTTL)
	if err != nil {
		s.portalFailure(w, err)
		return true
	}
	http.SetCookie(w, s.secondStepCookie(r, tok))
	s.render(w, http.StatusOK, "secondfactor.html", pageData{Title: "Enter your code", User: p.User.Login, PasskeyOK: s.passkeySecondOK(r, p.User)})
	return true
}

// secondStepCookie is the pending sign-in's cookie: host-only, HttpOnly,
// Lax, as long as the step lives; tok "" clears it.
func (s *Server) secondStepCookie(r *http.Request, tok string) *http.Cookie {
	c := &http.Cookie{Name: secondStepCookie, Value: tok, Path: s.cfg.Portal.Prefix, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r), MaxAge: int(secondStepTTL / time.Second)}
	if tok == "" {
		c.MaxAge = -1
	}
	return c
}

// portalSecondFactor checks the code of a pending sign-in and finishes it.
func (s *Server) portalSecondFactor(w http.ResponseWriter, r *http.Request) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return
	}
	c, err := r.Cookie(secondStepCookie)
	var ch *fsm.Challenge
	if err == nil {
		ch, err = s.svc.PeekChallenge(r.Context(), c.Value, challengePortal2FA)
	}
	if err != nil {
		if errors.Is(err, http.ErrNoCookie) || errors.Is(err, auth.ErrChallengeGone) {
			http.SetCookie(w, s.secondStepCookie(r, ""))
			s.showSignIn(w, r, http.StatusUnauthorized, pageData{Error: "That sign-in has expired. Sign in again."})
			return
		}
		s.portalFailure(w, err)
		return
	}
	u, ok := s.svc.User(ch.UserID)
	if !ok {
		s.showSignIn(w, r, http.StatusUnauthorized, pageData{Error: "That sign-in has expired. Sign in again."})
		return
	}
	retry := func(status int, msg string) {
		s.render(w, status, "secondfactor.html", pageData{Title: "Enter your code", User: u.Login, Error: msg, PasskeyOK: s.passkeySecondOK(r, u)})
	}
	otpCode, recovery := f["otp"], f["recovery_code"]
	if otpCode == "" && recovery == "" {
		retry(http.StatusBadRequest, "Enter the code from your app, or a recovery code.")
		return
	}
	amr, err := s.svc.SecondFactor(r.Context(), u, otpCode, recovery, s.clientAddr(r))
	s.audit(r, "second_factor", portalDialect, u, err)
	if err != nil {
		switch {
		case errors.Is(err, auth.ErrBadOTPSyntax):
			retry(http.StatusBadRequest, "A code is six digits; a recovery code ten letters and digits.")
		case errors.Is(err, auth.ErrBadSecondFactor):
			retry(http.StatusUnauthorized, "That code is wrong or was used already.")
		case errors.Is(err, auth.ErrThrottled):
			retry(http.StatusTooManyRequests, "Too many attempts. Wait a little and try again.")
		default:
			s.portalFailure(w, err)
		}
		return
	}
	if err := s.svc.TakeChallenge(r.Context(), c.Value); err != nil {
		http.SetCookie(w, s.secondStepCookie(r, ""))
		if errors.Is(err, auth.ErrChallengeGone) {
			s.showSignIn(w, r, http.StatusUnauthorized, pageData{Error: "That sign-in has expired. Sign in again."})
			return
		}
		s.portalFailure(w, err)
		return
	}
	var pd pendingData
	_ = json.Unmarshal(ch.Data, &pd)
	http.SetCookie(w, s.secondStepCookie(r, ""))
	s.finishSignIn(w, r, &pendingLogin{User: u, RD: pd.RD, Remember: pd.Remember, after: pd.After, AMR: fsm.AMRPwd | amr})
}

// portalStepUp sends a browser whose sign-in is older than the step-up
// age to sign in again, back to the account page; true when it did.
func (s *Server) portalStepUp(w http.ResponseWriter, r *http.Request, p principal) bool {
	if s.stepUp(p) == nil {
		return false
	}
	portalHeaders(w, "")
	http.Redirect(w, r, s.cfg.Portal.Prefix+"?reauth=1&rd="+url.QueryEscape(s.cfg.Portal.Prefix+"account"), http.StatusSeeOther)
	return true
}

// accountAction is the common start of the account page's second-factor
// forms: the form read, a signed-in browser, a recent sign-in.
func (s *Server) accountAction(w http.ResponseWriter, r *http.Request) (map[string]string, principal, bool) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return nil, principal{}, false
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return nil, principal{}, false
	}
	if !ok {
		s.renderError(w, http.StatusUnauthorized, "You are not signed in.")
		return nil, principal{}, false
	}
	if s.portalStepUp(w, r, p) {
		return nil, principal{}, false
	}
	return f, p, true
}

func (s *Server) portalTOTPBegin(w http.ResponseWriter, r *http.Request) {
	_, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	_, err := s.svc.BeginTOTP(r.Context(), p.User)
	s.audit(r, "totp_begin", portalDialect, p.User, err)
	if err != nil {
		s.portalFailure(w, err)
		return
	}
	s.showAccount(w, r, http.StatusOK, p, pageData{})
}

// portalTOTPImage is the pending key's QR code (the CSP allows images
// from the portal only, so not a data: URL).
func (s *Server) portalTOTPImage(w http.ResponseWriter, r *http.Request) {
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if !ok {
		s.renderError(w, http.StatusUnauthorized, "You are not signed in.")
		return
	}
	key, err := s.svc.PendingTOTP(r.Context(), p.User)
	if errors.Is(err, auth.ErrNoTOTP) {
		s.renderError(w, http.StatusNotFound, "No authenticator app is being set up.")
		return
	}
	if err != nil {
		s.portalFailure(w, err)
		return
	}
	img, err := key.Image(240, 240)
	if err != nil {
		s.portalFailure(w, err)
		return
	}
	portalHeaders(w, "")
	w.Header().Set("Content-Type", "image/png")
	png.Encode(w, img)
}

func (s *Server) portalTOTPConfirm(w http.ResponseWriter, r *http.Request) {
	f, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	codes, err := s.svc.ConfirmTOTP(r.Context(), p.User, f["code"], s.clientAddr(r))
	s.audit(r, "totp_enable", portalDialect, p.User, err)
	switch {
	case err == nil:
		s.showAccount(w, r, http.StatusOK, p, pageData{Notice: "Your authenticator app is on. Keep the recovery codes below somewhere safe.", codes: codes})
	case errors.Is(err, auth.ErrBadOTPSyntax), errors.Is(err, auth.ErrBadSecondFactor), errors.Is(err, auth.ErrNoTOTP):
		s.showAccount(w, r, http.StatusBadRequest, p, pageData{Error: "That code is not right. Enter the code your app shows now."})
	default:
		s.portalFailure(w, err)
	}
}

func (s *Server) portalTOTPOff(w http.ResponseWriter, r *http.Request) {
	f, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	err := s.svc.DisableTOTP(r.Context(), p.User, f["password"], s.clientAddr(r))
	s.audit(r, "totp_disable", portalDialect, p.User, err)
	switch {
	case err == nil:
		s.showAccount(w, r, http.StatusOK, p, pageData{Notice: "Two-step sign-in is off."})
	case isCredentialFailure(err), isUnusableCredential(err):
		s.showAccount(w, r, http.StatusForbidden, p, pageData{Error: "The password is wrong."})
	default:
		s.portalFailure(w, err)
	}
}

func (s *Server) portalRecovery(w http.ResponseWriter, r *http.Request) {
	_, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	codes, err := s.svc.RegenerateRecoveryCodes(r.Context(), p.User)
	s.audit(r, "recovery_codes_regenerate", portalDialect, p.User, err)
	if err != nil {
		s.portalFailure(w, err)
		return
	}
	s.showAccount(w, r, http.StatusOK, p, pageData{Notice: "New recovery codes; the old ones no longer work.", codes: codes})
}

// factorSection fills the account page's second-factor section, from the
// state the page caught up to (portalAccount).
func (s *Server) factorSection(u *fsm.User, codes []string, newPassword string) *factorView {
	f := s.svc.Factors(u.ID)
	v := &factorView{Codes: codes, NewPassword: newPassword, AppPasswords: appPasswordsJSON(s.svc.AppPasswords(u.ID))}
	if f != nil {
		v.On, v.Pending, v.RecoveryLeft = f.Enabled(), len(f.TOTPPending) > 0, len(f.Recovery)
	}
	if v.Pending {
		if key, err := s.svc.PendingTOTPHere(u); err == nil {
			v.Key = key.Secret()
		}
	}
	return v
}
