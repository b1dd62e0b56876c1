package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The Odoo session dialect: OCA base_rest_auth_user_service
// (/session/auth/login, /session/auth/logout) over Odoo's session handling.
const (
	odooCookie     = "session_id"
	odooSIDHeader  = "X-Openerp-Session-Id"
	odooSIDParam   = "session_id"
	odooTimeLayout = "2006-01-02 15:04:05" // Odoo's DEFAULT_SERVER_DATETIME_FORMAT, naive UTC
	// odooLifetime is what Odoo reports as expires_at and uses as the
	// cookie's max-age when no absolute lifetime is configured.
	odooLifetime = 90 * 24 * time.Hour
	// Defaults shown for users created without a company, as the seed's
	// example ("My Company", id 1).
	defaultCompanyID   = 1
	defaultCompanyName = "My Company"
)

func (s *Server) odooRoutes() {
	s.handle("POST /session/auth/login", s.odooLogin)
	s.handle("POST /session/auth/logout", s.odooLogout)
	wrong := methodNotAllowed("POST", func(w http.ResponseWriter, r *http.Request) { writeOdooError(w, ErrMethod) })
	s.handle("/session/auth/login", wrong)
	s.handle("/session/auth/logout", wrong)
}

// writeOdooError renders err as base_rest does: {"code": N, "name":
// reason}, plus "description" on 400s (base_rest adds it for UserError
// and ValidationError). Bad credentials are 403 (AccessDenied), a missing
// or invalid session 401 (SessionExpiredException).
func writeOdooError(w http.ResponseWriter, err error) {
	status := dialectStatus(err)
	switch {
	case isCredentialFailure(err), errors.Is(err, auth.ErrThrottled):
		// Odoo answers repeated failures from one address with a cooldown
		// that reads as 403 Forbidden (Retry-After is set as well).
		status = http.StatusForbidden
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrNoCredentials):
		status = http.StatusUnauthorized
	}
	setRetryAfter(w, err, status)
	body := map[string]any{"code": status, "name": http.StatusText(status)}
	if status == http.StatusBadRequest {
		body["description"] = describe(err)
	}
	writeJSON(w, status, body)
}

// odooSID finds the session id as Odoo does (odooSIDFrom). explicit is
// true for a parameter or header, for which Odoo sets no cookie.
func odooSID(r *http.Request) (sid string, explicit bool) {
	if v := odooSIDFrom(r, fromOdooParam|fromOdooHeader); v != "" {
		return v, true
	}
	return odooSIDFrom(r, fromOdooCookie), false
}

// requiredParam is a parameter that must be a non-empty string.
func requiredParam(p params, name string) (string, error) {
	v, ok, err := p.value(name)
	if err != nil {
		return "", fieldError(ErrBadField, name+" must be a string")
	}
	if !ok || v == "" {
		return "", fieldError(ErrMissingField, name+" is required")
	}
	return v, nil
}

// odooLogin authenticates {db?, login, password} from a JSON body or the
// query string and answers Odoo's session_info plus "session": {sid,
// expires_at}.
func (s *Server) odooLogin(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r, fromQuery)
	if err != nil {
		writeOdooError(w, err)
		return
	}
	db, _, err := p.value("db")
	if err != nil {
		writeOdooError(w, fieldError(ErrBadField, "db must be a string"))
		return
	}
	login, err := requiredParam(p, "login")
	if err == nil {
		var password string
		password, err = requiredParam(p, "password")
		if err == nil {
			s.odooAuthenticate(w, r, db, login, password)
			return
		}
	}
	writeOdooError(w, err)
}

func (s *Server) odooAuthenticate(w http.ResponseWriter, r *http.Request, db, login, password string) {
	iss, u, err := s.svc.Login(r.Context(),
		auth.Credentials{DB: db, Login: login, Password: password, ClientAddr: s.clientAddr(r)},
		auth.SessionOptions{Kind: fsm.KindOdoo, UserAgent: r.UserAgent()})
	s.auditLogin(r, dialectOdoo, u, iss, err)
	s.metrics.login(dialectOdoo, err)
	if err != nil {
		writeOdooError(w, err)
		return
	}
	old, explicit := odooSID(r)
	s.rotateOdooSID(r, old)
	expires := time.Unix(0, iss.Session.ExpiresAt).UTC()
	if iss.Session.ExpiresAt == 0 {
		expires = s.svc.Now().UTC().Add(odooLifetime)
	}
	if !explicit {
		maxAge := int((expires.Sub(s.svc.Now()) + time.Second - 1) / time.Second)
		if maxAge < 1 {
			maxAge = 1
		}
		http.SetCookie(w, s.odooCookie(r, iss.Token, maxAge))
	}
	out := odooSessionInfo(u, s.svc.Settings(), s.odooBaseURL(r))
	out["session"] = map[string]any{"sid": iss.Token, "expires_at": expires.Format(odooTimeLayout)}
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}

// rotateOdooSID ends the session a client presented while logging in
// again, as Odoo rotates the session on authenticate, so re-logins from a
// browser leave no orphan sessions. Best effort: the new login stands
// either way.
func (s *Server) rotateOdooSID(r *http.Request, old string) {
	if !auth.ValidTokenSyntax(old, auth.SIDLen) {
		return
	}
	if sess, ok := s.svc.Session(auth.DigestToken(old)); !ok || sess.Kind != fsm.KindOdoo {
		return
	}
	if err := s.revokeToken(r, dialectOdoo, old); err != nil {
		s.log.Warn("ending the replaced odoo session failed", "err", err)
	}
}

// odooCookie is the session_id cookie in answer to r; maxAge < 0 clears
// it. Secure as cookieSecure says.
func (s *Server) odooCookie(r *http.Request, sid string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: odooCookie, Value: sid, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.cookieSecure(r),
	}
}

// odooLogout ends the session of the request (param, header or cookie):
// 200 {"message": "Successful logout"} and the cookie cleared; 401 when
// there is no valid session, as Odoo's auth="user" routes answer.
func (s *Server) odooLogout(w http.ResponseWriter, r *http.Request) {
	p, _, err := s.authenticate(r, odooCarriers, kindsOdoo)
	if err != nil {
		writeOdooError(w, err)
		return
	}
	if err := s.revokeSession(r, dialectOdoo, p); err != nil {
		writeOdooError(w, err)
		return
	}
	http.SetCookie(w, s.odooCookie(r, "", -1))
	writeJSON(w, http.StatusOK, map[string]string{"message": "Successful logout"})
}

// company is the user's company as Odoo shows it, with the seed's
// defaults for users created without one.
func company(u *fsm.User) (uint64, string) {
	id, name := u.CompanyID, u.CompanyName
	if id == 0 {
		id = defaultCompanyID
	}
	if name == "" {
		name = defaultCompanyName
	}
	return id, name
}

// displayName is the user's name, or the login when none was given (Odoo
// requires a name).
func displayName(u *fsm.User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Login
}
