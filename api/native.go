package api

import (
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

func (s *Server) nativeRoutes() {
	s.handle("POST /v1/login", s.nativeLogin)
	s.handle("GET /v1/session", s.whoami)
	s.handle("POST /v1/introspect", s.introspect)
	s.handle("POST /v1/logout", s.nativeLogout)
	s.handle("POST /v1/logoutall", s.nativeLogoutAll)
	s.handle("GET /v1/sessions", s.listOwnSessions)
	s.handle("DELETE /v1/sessions/{id}", s.deleteOwnSession)
	s.clientRoutes()
	s.totpRoutes()
	s.appPasswordRoutes()
}

// sessionJSON is how the native API shows a session; never its token,
// digest or (for a JWT) jti: its id is auth.PublicID. A typed view, fields in alphabetical order: the bytes a map
// would give, without a map and a boxed value per field on the
// validation path (whoami answers it on every request).
func sessionJSON(s *fsm.Session, current bool) *sessionView {
	return &sessionView{AMR: s.Methods().Names(), AuthTime: unixOrNil(s.AuthAt()), ClientAddr: s.ClientAddr, Created: unixOrNil(s.Created), Current: current, DB: s.DB,
		ExpiresAt: unixOrNil(s.ExpiresAt), ID: auth.PublicID(s), Kind: s.Kind.String(), LastRefresh: unixOrNil(s.LastRefresh),
		Name: s.Name, UserAgent: s.UserAgent}
}

type sessionView struct {
	AMR         []string `json:"amr"`       // RFC 8176 methods of the sign-in (fsm.AMR)
	AuthTime    any      `json:"auth_time"` // when the user last proved who they are
	ClientAddr  string   `json:"client_addr"`
	Created     any      `json:"created"`
	Current     bool     `json:"current"`
	DB          string   `json:"db"`
	ExpiresAt   any      `json:"expires_at"`
	ID          string   `json:"id"`
	Kind        string   `json:"kind"`
	LastRefresh any      `json:"last_refresh"`
	Name        string   `json:"name"`
	UserAgent   string   `json:"user_agent"`
}

// userJSON is how the native API shows a user; never the password hash.
func userJSON(u *fsm.User) *userView {
	return &userView{Admin: u.Admin, Operator: u.Operator, CompanyID: u.CompanyID, CompanyName: u.CompanyName, Created: unixOrNil(u.Created),
		DB: u.DB, Disabled: u.Disabled, Email: u.Email, EmailVerified: !u.EmailUnverified, ID: u.ID, LockedUntil: unixOrNil(u.LockedUntil),
		Login: u.Login, Name: u.Name, PasswordChanged: unixOrNil(u.PasswordChanged)}
}

type userView struct {
	Admin           bool   `json:"admin"` // of DB
	CompanyID       uint64 `json:"company_id"`
	CompanyName     string `json:"company_name"`
	Created         any    `json:"created"`
	DB              string `json:"db"`
	Disabled        bool   `json:"disabled"`
	Email           string `json:"email"`
	EmailVerified   bool   `json:"email_verified"` // false for a self-registration's address until an admin verifies it
	ID              uint64 `json:"id"`
	LockedUntil     any    `json:"locked_until"`
	Login           string `json:"login"`
	Name            string `json:"name"`
	Operator        bool   `json:"operator"` // of the cluster (roles.go); fields in key order
	PasswordChanged any    `json:"password_changed"`
}

// whoamiView is the answer of GET /v1/session.
type whoamiView struct {
	Session *sessionView `json:"session"`
	User    *userView    `json:"user"`
}

type loginBody struct {
	DB       string `json:"db"`
	Login    string `json:"login"`
	Password string `json:"password"`
	Name     string `json:"name"`
	// OTP or RecoveryCode: the second factor, for an account that has one.
	OTP          string `json:"otp"`
	RecoveryCode string `json:"recovery_code"`
}

func (s *Server) nativeLogin(w http.ResponseWriter, r *http.Request) {
	var in loginBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Login == "" || in.Password == "" {
		writeNativeError(w, fieldError(ErrMissingField, "login and password are required"))
		return
	}
	if len(in.Name) > 128 {
		writeNativeError(w, fieldError(ErrBadField, "name is longer than 128 bytes"))
		return
	}
	iss, u, err := s.svc.Login(r.Context(),
		auth.Credentials{DB: in.DB, Login: in.Login, Password: in.Password, ClientAddr: s.clientAddr(r),
			OTP: in.OTP, Recovery: in.RecoveryCode},
		auth.SessionOptions{Kind: fsm.KindNative, Name: in.Name, UserAgent: r.UserAgent()})
	s.auditLogin(r, "native", u, iss, err)
	if err != nil {
		s.metrics.login("native", err)
		writeNativeError(w, err)
		return
	}
	s.metrics.login("native", nil)
	noStore(w)
	out := map[string]any{
		"token": iss.Token, "token_type": "Bearer",
		"session": sessionJSON(&iss.Session, true), "user": userJSON(u),
	}
	if s.svc.EnrolOnly(u, &iss.Session) {
		out["second_factor_setup_required"] = true // enrol.go: the session reaches only enrolment
	}
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeWhoami(w, p.Session, p.User)
}

// nativeLogout ends the caller's session. A well-formed token that is
// already gone is not an error: logout is idempotent.
func (s *Server) nativeLogout(w http.ResponseWriter, r *http.Request) {
	tok, err := bearer(r)
	if err == nil {
		tok = knoxStrip(tok) // a knox token as issued, as whoami takes it (credential.go)
	}
	if err == nil && !auth.ValidTokenSyntax(tok, auth.TokenLen) {
		err = ErrInvalidToken
	}
	if err != nil {
		writeNativeError(w, err)
		return
	}
	if err := s.revokeToken(r, "native", tok); err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// revokeToken ends the session of an opaque token that was not validated
// first (the native logout is idempotent for a token already gone).
func (s *Server) revokeToken(r *http.Request, dialect, tok string) error {
	u, err := s.svc.RevokeToken(r.Context(), tok)
	s.metrics.logout(dialect, "logout", err)
	s.audit(r, "logout", dialect, u, err)
	return err
}

// revokeSession ends a validated session by its digest: what the
// validation found, not a second digest of the token (and not the
// session's ID, which only a JWT session shares with its secret).
func (s *Server) revokeSession(r *http.Request, dialect string, p principal) error {
	_, err := s.svc.Revoke(r.Context(), p.Session.Digest)
	s.metrics.logout(dialect, "logout", err)
	s.audit(r, "logout", dialect, p.User, err)
	return err
}

// revokeAll ends every session of the caller's user, optionally keeping
// the current one.
func (s *Server) revokeAll(r *http.Request, dialect string, p principal, keepCurrent bool) error {
	keep := ""
	if keepCurrent {
		keep = p.Session.ID
	}
	err := s.svc.RevokeAll(r.Context(), p.User.ID, keep)
	s.metrics.logout(dialect, "logoutall", err)
	s.audit(r, "logoutall", dialect, p.User, err)
	return err
}

func (s *Server) nativeLogoutAll(w http.ResponseWriter, r *http.Request) {
	keep, err := boolParam(r, "keep_current")
	if err != nil {
		writeNativeError(w, err)
		return
	}
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	if err := s.revokeAll(r, "native", p, keep); err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listOwnSessions(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": s.sessionList(p.User.ID, p.Session.ID)})
}

func (s *Server) sessionList(uid uint64, currentID string) []*sessionView {
	out := []*sessionView{}
	for _, sess := range s.svc.LiveSessions(uid) {
		out = append(out, sessionJSON(sess, sess.ID == currentID))
	}
	return out
}

func (s *Server) deleteOwnSession(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	id := r.PathValue("id")
	if !auth.ValidTokenSyntax(id, auth.IDLen) {
		writeNativeError(w, fieldError(ErrBadField, "session id must be 32 hex characters"))
		return
	}
	if err := s.svc.RevokeByID(r.Context(), p.User.ID, id); err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// boolParam parses an optional boolean query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fieldError(ErrBadField, name+" must be true or false")
	}
	return b, nil
}

// fieldError wraps a sentinel with a message that says what to fix.
func fieldError(sentinel error, msg string) error { return &msgError{sentinel, msg} }

type msgError struct {
	err error
	msg string
}

func (e *msgError) Error() string { return e.msg }
func (e *msgError) Unwrap() error { return e.err }
