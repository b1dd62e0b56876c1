package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The knox-style dialect: django-rest-knox's LoginView with DRF's
// AuthTokenSerializer (the {username, password} login of knox's docs),
// LogoutView and LogoutAllView, answering as DRF does.
const (
	knoxTimeLayout  = "2006-01-02T15:04:05.000000Z07:00" // DRF's ISO 8601 (Z for UTC)
	msgKnoxBadLogin = "Unable to log in with provided credentials."
	msgKnoxLimit    = "Maximum amount of tokens allowed per user exceeded."
)

func (s *Server) knoxRoutes() {
	s.handle("POST /auth/login/{$}", s.knoxLogin)
	s.handle("POST /auth/logout/{$}", s.knoxLogout)
	s.handle("POST /auth/logoutall/{$}", s.knoxLogoutAll)
	wrong := methodNotAllowed("POST", func(w http.ResponseWriter, r *http.Request) { writeKnoxError(w, r, ErrMethod) })
	for _, p := range []string{"/auth/login/{$}", "/auth/logout/{$}", "/auth/logoutall/{$}"} {
		s.handle(p, wrong)
	}
}

// knoxAuthError is a 401 with one of knox's own messages.
type knoxAuthError struct {
	msg  string
	base error
}

func (e *knoxAuthError) Error() string { return e.msg }
func (e *knoxAuthError) Unwrap() error { return e.base }

// knox's TokenAuthentication and DRF's NotAuthenticated messages.
var (
	errKnoxNoCredentials = &knoxAuthError{"Authentication credentials were not provided.", ErrNoCredentials}
	errKnoxEmptyHeader   = &knoxAuthError{"Invalid token header. No credentials provided.", ErrInvalidToken}
	errKnoxSpaces        = &knoxAuthError{"Invalid token header. Token string should not contain spaces.", ErrInvalidToken}
)

// writeKnoxError renders err as DRF does: {"detail": ...} for request and
// authentication errors (401s carry WWW-Authenticate: Token, since
// TokenAuthentication is the view's authenticator), non_field_errors for
// refused credentials, and knox's {"error": ...} for the token limit.
func writeKnoxError(w http.ResponseWriter, r *http.Request, err error) {
	status := dialectStatus(err)
	var body any
	var kae *knoxAuthError
	switch {
	case isCredentialFailure(err), isUnusableCredential(err):
		status, body = http.StatusBadRequest, map[string][]string{"non_field_errors": {msgKnoxBadLogin}}
	case errors.As(err, &kae):
		body = detail(kae.msg)
	case errors.Is(err, errInactive):
		status, body = http.StatusUnauthorized, detail("User inactive or deleted.")
	case errors.Is(err, ErrNoCredentials):
		status, body = http.StatusUnauthorized, detail(errKnoxNoCredentials.msg)
	case errors.Is(err, ErrInvalidToken):
		status, body = http.StatusUnauthorized, detail("Invalid token.")
	case errors.Is(err, fsm.ErrSessionLimit):
		body = map[string]string{"error": msgKnoxLimit}
	case status == http.StatusTooManyRequests:
		body = detail(throttledDetail(retryAfter(err)))
	case errors.Is(err, ErrBadJSON):
		body = detail("JSON parse error - " + describe(err))
	case errors.Is(err, ErrMethod):
		body = detail(`Method "` + r.Method + `" not allowed.`)
	case errors.Is(err, ErrUnsupportedMedia):
		body = detail(`Unsupported media type "` + r.Header.Get("Content-Type") + `" in request.`)
	case status == http.StatusRequestEntityTooLarge:
		body = detail("Request body too large.")
	case status == http.StatusServiceUnavailable:
		body = detail("Service temporarily unavailable, try again later.")
	case status == http.StatusInternalServerError:
		body = detail("A server error occurred.")
	default:
		body = detail(describe(err))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Token")
	}
	setRetryAfter(w, err, status)
	writeJSON(w, status, body)
}

func detail(msg string) map[string]string { return map[string]string{"detail": msg} }

// throttledDetail is DRF's Throttled message.
func throttledDetail(wait int) string {
	if wait <= 0 {
		return "Request was throttled."
	}
	unit := "seconds"
	if wait == 1 {
		unit = "second"
	}
	return "Request was throttled. Expected available in " + strconv.Itoa(wait) + " " + unit + "."
}

// knoxField validates one CharField of AuthTokenSerializer as DRF does:
// required, not null, a string (numbers are taken as their text), no NUL,
// not blank (after trimming, for fields that trim). It records a message
// under the field's name in errs.
func knoxField(p params, name string, trim bool, errs map[string][]string) string {
	var v string
	if p.json != nil {
		raw, ok := p.json[name]
		switch {
		case !ok:
			errs[name] = []string{"This field is required."}
			return ""
		case string(raw) == "null":
			errs[name] = []string{"This field may not be null."}
			return ""
		case raw[0] == '"':
			if json.Unmarshal(raw, &v) != nil {
				errs[name] = []string{"Not a valid string."}
				return ""
			}
		case raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'):
			v = string(raw)
		default:
			errs[name] = []string{"Not a valid string."}
			return ""
		}
	} else {
		vs, ok := p.form[name]
		if !ok || len(vs) == 0 {
			errs[name] = []string{"This field is required."}
			return ""
		}
		v = vs[len(vs)-1] // a QueryDict's get: the last value
	}
	if trim {
		v = strings.TrimSpace(v)
	}
	switch {
	case strings.IndexByte(v, 0) >= 0:
		errs[name] = []string{"Null characters are not allowed."}
	case v == "":
		errs[name] = []string{"This field may not be blank."}
	}
	return v
}

// knoxLogin: {"username", "password"} as JSON or a form → 200
// {"expiry": null | ISO 8601, "token": <64 hex>}.
func (s *Server) knoxLogin(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r, fromForm)
	if err != nil {
		writeKnoxError(w, r, err)
		return
	}
	errs := map[string][]string{}
	username := knoxField(p, "username", true, errs)
	password := knoxField(p, "password", false, errs)
	if len(errs) > 0 {
		writeJSON(w, http.StatusBadRequest, errs)
		return
	}
	iss, u, err := s.svc.Login(r.Context(),
		auth.Credentials{Login: username, Password: password, ClientAddr: s.clientAddr(r)},
		auth.SessionOptions{Kind: fsm.KindKnox, UserAgent: r.UserAgent()})
	s.auditLogin(r, dialectKnox, u, iss, err)
	s.metrics.login(dialectKnox, err)
	if err != nil {
		writeKnoxError(w, r, err)
		return
	}
	var expiry any
	if iss.Session.ExpiresAt != 0 {
		expiry = time.Unix(0, iss.Session.ExpiresAt).UTC().Format(knoxTimeLayout)
	}
	set := s.svc.Settings()
	out := map[string]any{"expiry": expiry, "token": set.KnoxTokenPrefix + iss.Token}
	if set.KnoxUserSerializer == knoxSerializerUser {
		out["user"] = knoxUser(u)
	}
	noStore(w)
	writeJSON(w, http.StatusOK, out)
}

// knoxSerializerUser is the one USER_SERIALIZER sessiond offers: the
// fields of a ModelSerializer over Django's User that knox's docs show.
const knoxSerializerUser = "user"

// knoxUser is that serializer's answer: first_name is the user's name up
// to its first space, last_name the rest (sessiond keeps one name).
func knoxUser(u *fsm.User) map[string]any {
	first, last, _ := strings.Cut(u.Name, " ")
	return map[string]any{"id": u.ID, "username": u.Login, "email": u.Email, "first_name": first, "last_name": last}
}

// knoxAuth validates the request's knox token (Authorization: Token,
// prefixed or not); only knox sessions pass.
func (s *Server) knoxAuth(r *http.Request) (principal, error) {
	p, _, err := s.authenticate(r, knoxCarriers, kindsKnox)
	return p, err
}

// knoxLogout ends the token's session, by the digest its validation found.
func (s *Server) knoxLogout(w http.ResponseWriter, r *http.Request) {
	p, err := s.knoxAuth(r)
	if err == nil {
		err = s.revokeSession(r, dialectKnox, p)
	}
	if err != nil {
		writeKnoxError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) knoxLogoutAll(w http.ResponseWriter, r *http.Request) {
	p, err := s.knoxAuth(r)
	if err == nil {
		err = s.revokeAll(r, dialectKnox, p, false)
	}
	if err != nil {
		writeKnoxError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}
