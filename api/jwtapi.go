package api

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The Odoo RESTful JWT dialect (jwt_provider, 13.0): /api/login,
// /api/register, /api/me, /api/logout. Every answer is the envelope
// {"success", "message", "data"}; every token failure is 498.
const (
	statusTokenInvalid = 498 // Esri's "Invalid Token", as the seed uses
	msgTokenInvalid    = "Token invalid or expired"
	msgIncorrectLogin  = "incorrect login"
)

// emailRe is jwt_provider's is_valid_email pattern. sessiond matches it
// against the trimmed, lower-cased address (logins are case-folded, so
// "User@Example.com" and "user@example.com" are one account).
var emailRe = regexp.MustCompile("^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")

func (s *Server) jwtRoutes() {
	s.handle("POST /api/login", s.cors(s.jwtLogin))
	s.handle("POST /api/register", s.cors(s.jwtRegister))
	s.handle("/api/me", s.cors(s.withJWT(s.jwtMe)))
	s.handle("/api/logout", s.cors(s.withJWT(s.jwtLogout)))
	wrong := s.cors(methodNotAllowed("POST", func(w http.ResponseWriter, r *http.Request) { writeJWTError(w, ErrMethod) }))
	s.handle("/api/login", wrong)
	s.handle("/api/register", wrong)
}

// cors does what the module's cors='*' routes get from Odoo, for the
// origins the operator names (Config.JWTCORSOrigins, "*" for any):
// tokens travel in a header, never a cookie, so no credentials are
// shared, and a preflight is answered without running the handler. No
// origin is named by default (finding N14): a page on any site could
// otherwise use its visitors' browsers to test passwords or probe
// register and read the answers, from as many addresses as it has
// visitors.
func (s *Server) cors(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		switch {
		case slices.Contains(s.cfg.JWTCORSOrigins, "*"):
			w.Header().Set("Access-Control-Allow-Origin", "*")
		case origin != "" && slices.Contains(s.cfg.JWTCORSOrigins, origin):
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
		default:
			h(w, r)
			return
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Origin, X-Requested-With, Content-Type, Accept, Authorization")
			w.Header().Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusOK)
			return
		}
		h(w, r)
	}
}

// writeEnvelope writes jwt_provider's response envelope.
func writeEnvelope(w http.ResponseWriter, status int, success any, message any, data any) {
	writeJSON(w, status, map[string]any{"success": success, "message": message, "data": data})
}

// writeJWTError renders err as the module's errcode(): {"success": false,
// "message": ..., "data": null}.
func writeJWTError(w http.ResponseWriter, err error) {
	status := dialectStatus(err)
	msg := describe(err)
	switch {
	case isCredentialFailure(err):
		status, msg = http.StatusBadRequest, msgIncorrectLogin
	case errors.Is(err, ErrInvalidToken), errors.Is(err, ErrNoCredentials):
		status, msg = statusTokenInvalid, msgTokenInvalid
	case errors.Is(err, ErrSignupDisabled):
		msg = "Signup is disabled"
	case errors.Is(err, fsm.ErrSessionLimit):
		msg = "Maximum amount of tokens allowed per user exceeded."
	case errors.Is(err, auth.ErrThrottled):
		msg = "Too many attempts, try again later"
	case status == http.StatusServiceUnavailable:
		msg = "Service Unavailable"
	case status == http.StatusInternalServerError:
		msg = "Internal Server Error"
	case status == http.StatusMethodNotAllowed, status == http.StatusRequestEntityTooLarge,
		status == http.StatusUnsupportedMediaType:
		msg = http.StatusText(status)
	}
	setRetryAfter(w, err, status)
	writeEnvelope(w, status, false, msg, nil)
}

// jwtTTL is the lifetime of new JWTs and their sessions.
func (s *Server) jwtTTL() time.Duration {
	return auth.JWTLifetime(s.svc.Settings())
}

// optionalParam reads a parameter that may be absent; a JSON value that
// is not a string is a bad field.
func optionalParam(p params, name string) (string, error) {
	v, _, err := p.value(name)
	if err != nil {
		return "", fieldError(ErrBadField, name+" must be a string")
	}
	return v, nil
}

// jwtLogin: email and password (form or JSON; db optional) → the user and
// a signed token.
func (s *Server) jwtLogin(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r, fromForm|fromQuery)
	if err != nil {
		writeJWTError(w, err)
		return
	}
	var email, password, db string
	for _, f := range []struct {
		name string
		dst  *string
	}{{"email", &email}, {"password", &password}, {"db", &db}} {
		if *f.dst, err = optionalParam(p, f.name); err != nil {
			writeJWTError(w, err)
			return
		}
	}
	if email == "" || password == "" {
		writeJWTError(w, auth.ErrBadCredentials)
		return
	}
	key, err := s.svc.DialectKeyFor(r.Context())
	if s.noteDialectKey(err); err != nil {
		s.audit(r, "login", dialectJWT, nil, err)
		writeJWTError(w, err)
		return
	}
	iss, u, err := s.svc.Login(r.Context(),
		auth.Credentials{DB: db, Login: email, Password: password, ClientAddr: s.clientAddr(r)},
		auth.SessionOptions{Kind: fsm.KindJWT, TTL: s.jwtTTL(), UserAgent: r.UserAgent()})
	s.auditLogin(r, dialectJWT, u, iss, err)
	s.metrics.login(dialectJWT, err)
	if err != nil {
		if isUnusableCredential(err) {
			err = auth.ErrBadCredentials
		}
		writeJWTError(w, err)
		return
	}
	s.issueJWT(w, r, key, iss, u)
}

// issueJWT signs the token around a created JWT session and answers the
// login envelope.
func (s *Server) issueJWT(w http.ResponseWriter, r *http.Request, key auth.Key, iss auth.Issued, u *fsm.User) {
	tok, err := s.svc.SignSession(key, iss, u)
	if err != nil {
		s.log.Error("signing jwt failed", "kid", key.Kid, "err", err)
		// The session is committed but its token cannot be handed out: end
		// it (best effort; unusable either way, and it expires).
		_ = s.revokeToken(r, dialectJWT, iss.Token)
		writeJWTError(w, err)
		return
	}
	noStore(w)
	writeEnvelope(w, http.StatusOK, true, nil, map[string]any{"user": jwtUser(u), "token": tok})
}

// jwtUser is read(['id', 'login', 'name', 'company_id']).
func jwtUser(u *fsm.User) map[string]any {
	cid, cname := company(u)
	return map[string]any{"id": u.ID, "login": u.Login, "name": displayName(u), "company_id": []any{cid, cname}}
}

// jwtRegister creates an account in the default db and logs it in. The
// checks run in the module's order; signup must be on (a replicated
// setting, PATCH /v1/settings).
func (s *Server) jwtRegister(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r, fromForm|fromQuery)
	if err != nil {
		writeJWTError(w, err)
		return
	}
	email, errE := optionalParam(p, "email")
	name, errN := optionalParam(p, "name")
	password, errP := optionalParam(p, "password")
	email = strings.ToLower(strings.TrimSpace(email))
	switch {
	case errE != nil || len(email) > auth.MaxLoginLen || !emailRe.MatchString(email):
		writeJWTError(w, fieldError(ErrBadField, "Invalid email address"))
		return
	case errN != nil || strings.TrimSpace(name) == "":
		writeJWTError(w, fieldError(ErrBadField, "Name cannot be empty"))
		return
	case errP != nil || password == "":
		writeJWTError(w, fieldError(ErrBadField, "Password cannot be empty"))
		return
	case len(name) > 256:
		writeJWTError(w, fieldError(ErrBadField, "Name is too long"))
		return
	}
	u, err := s.svc.Register(r.Context(), auth.Registration{
		Email: email, Name: strings.TrimSpace(name), Password: password, ClientAddr: s.clientAddr(r),
	})
	if err != nil {
		err = registerError(err, s.svc.Policy())
	}
	s.audit(r, "register", dialectJWT, u, err)
	if err != nil {
		writeJWTError(w, err)
		return
	}
	key, err := s.svc.DialectKeyFor(r.Context())
	if s.noteDialectKey(err); err != nil {
		writeJWTError(w, err)
		return
	}
	iss, err := s.svc.CreateSession(r.Context(), u, auth.SessionOptions{
		Kind: fsm.KindJWT, TTL: s.jwtTTL(), UserAgent: r.UserAgent(), ClientAddr: s.clientAddr(r),
	})
	s.auditLogin(r, dialectJWT, u, iss, err)
	s.metrics.login(dialectJWT, err)
	if err != nil {
		writeJWTError(w, err)
		return
	}
	s.issueJWT(w, r, key, iss, u)
}

// registerError gives the module's messages for register failures, and
// the password policy's own.
func registerError(err error, pol auth.PasswordPolicy) error {
	switch {
	case errors.Is(err, fsm.ErrUserExists), errors.Is(err, auth.ErrLoginTaken), errors.Is(err, fsm.ErrEmailExists):
		return fieldError(ErrBadField, "Email address already existed")
	case errors.Is(err, auth.ErrBadLogin):
		return fieldError(ErrBadField, "Invalid email address")
	case errors.Is(err, auth.ErrPasswordTooShort):
		return fieldError(ErrBadField, "Password must be at least "+strconv.Itoa(pol.MinLen)+" characters")
	case errors.Is(err, auth.ErrPasswordTooLong):
		return fieldError(ErrBadField, "Password must be at most "+strconv.Itoa(pol.MaxLen)+" bytes")
	case errors.Is(err, auth.ErrPasswordInvalid):
		return fieldError(ErrBadField, "Password contains invalid characters")
	}
	return err
}

// withJWT wraps a handler of a bearer's own session (/api/me, /api/logout):
// the token is validated first, a failure answered in the dialect's way.
func (s *Server) withJWT(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, _, err := s.authenticate(r, jwtCarriers, kindsJWT)
		if err != nil {
			writeJWTError(w, err)
			return
		}
		h(w, r, p)
	}
}

// jwtMe answers the seed's documented shape: the user object sits under
// "success" and "data" is null (the module passes it positionally).
func (s *Server) jwtMe(w http.ResponseWriter, r *http.Request, p principal) {
	u := p.User
	cid, cname := company(u)
	me := map[string]any{
		"id": u.ID, "email": userEmail(u), "name": displayName(u),
		"avatar": s.baseURL(r) + "/web/avatar/" + strconv.FormatUint(u.ID, 10), "company_id": []any{cid, cname},
	}
	writeEnvelope(w, http.StatusOK, me, nil, nil)
}

// userEmail is the user's e-mail, else a login that is an address, else
// false (Odoo's empty field).
func userEmail(u *fsm.User) any {
	if u.Email != "" {
		return u.Email
	}
	if strings.Contains(u.Login, "@") {
		return u.Login
	}
	return false
}

// jwtLogout ends only this token's session.
func (s *Server) jwtLogout(w http.ResponseWriter, r *http.Request, p principal) {
	if err := s.revokeSession(r, dialectJWT, p); err != nil {
		writeJWTError(w, err)
		return
	}
	writeEnvelope(w, http.StatusOK, true, nil, nil)
}

// baseURL is the public base URL for links: the configured one, else the
// request's scheme and Host.
func (s *Server) baseURL(r *http.Request) string {
	if s.cfg.BaseURL != "" {
		return strings.TrimRight(s.cfg.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil || s.cfg.TLS {
		scheme = "https"
	}
	if s.fromTrustedProxy(r) {
		if p := r.Header.Get("X-Forwarded-Proto"); p == "https" || p == "http" {
			scheme = p
		}
	}
	return scheme + "://" + r.Host
}

// dialectWarning adds to a key answer which key the Odoo JWT dialect signs
// with ("jwt_dialect_kid") and, when the change just made moved it, a
// "warning": the dialect's clients verify with the shared secret
// (ODOO_JWT_KEY), so its tokens would no longer verify there.
func dialectWarning(out map[string]any, before auth.Key, svc *auth.Service) {
	after, err := svc.DialectKey()
	if err != nil {
		out["jwt_dialect_kid"] = nil
		out["warning"] = "the Odoo JWT dialect has no HMAC signing key: its logins fail until jwt_dialect_kid names a key (PATCH /v1/settings)"
		return
	}
	out["jwt_dialect_kid"] = after.Kid
	if before.Kid != "" && after.Kid != before.Kid {
		out["warning"] = "the Odoo JWT dialect now signs with kid " + after.Kid + " instead of " + before.Kid +
			": clients verifying with the shared secret (ODOO_JWT_KEY) will refuse its new tokens; " +
			`PATCH /v1/settings {"jwt_dialect_kid": "` + before.Kid + `"} keeps it on the old key`
	}
}
