package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Dialect names, as metrics and the audit log label them.
const (
	dialectNative = "native"
	dialectOdoo   = "odoo"
	dialectJWT    = "jwt"
	dialectKnox   = "knox"
)

// dialectRoutes registers the seed dialects (Odoo session, Odoo RESTful
// JWT, knox), the avatar images the JWT dialect links to, and the JWT
// keyring's admin API and JWKS.
func (s *Server) dialectRoutes() {
	s.odooRoutes()
	s.jwtRoutes()
	s.knoxRoutes()
	s.keyRoutes()
	s.avatarRoutes()
}

// isCredentialFailure reports a login refused for its credentials: wrong
// password, unknown or disabled user, or a password changed while the
// login was in flight. Dialects answer all of them alike.
func isCredentialFailure(err error) bool {
	return errors.Is(err, auth.ErrBadCredentials) || errors.Is(err, fsm.ErrUserDisabled) ||
		errors.Is(err, fsm.ErrStaleUser) || errors.Is(err, fsm.ErrUserNotFound)
}

// isUnusableCredential reports input that cannot be anyone's login or
// password (control characters, over-long): a login dialect refuses it as
// it refuses wrong credentials.
func isUnusableCredential(err error) bool {
	return errors.Is(err, auth.ErrBadLogin) || errors.Is(err, auth.ErrPasswordTooLong) ||
		errors.Is(err, auth.ErrPasswordInvalid)
}

// dialectStatus is the status an error has in every dialect unless the
// dialect names it otherwise; auth.ErrNoSigningKey is a (usually brief)
// unavailability.
func dialectStatus(err error) int {
	if errors.Is(err, auth.ErrNoSigningKey) {
		return http.StatusServiceUnavailable
	}
	return lookupError(err).status
}

// setRetryAfter sets Retry-After for throttling, lockout and
// unavailability.
func setRetryAfter(w http.ResponseWriter, err error, status int) {
	ra := retryAfter(err)
	if ra == 0 && status == http.StatusServiceUnavailable {
		ra = 1
	}
	if ra > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
}

// describe is an error's message for a client, without the package
// prefix. Only used for errors whose text holds no secret.
func describe(err error) string {
	msg := err.Error()
	for _, p := range []string{"api: ", "auth: ", "fsm: ", "cluster: "} {
		msg = strings.TrimPrefix(msg, p)
	}
	return msg
}

// params are a dialect request's parameters: a JSON object's raw values,
// or form / query-string values.
type params struct {
	json map[string]json.RawMessage
	form map[string][]string
}

// Where a dialect reads its parameters from, besides a JSON body.
const (
	fromQuery = 1 << iota // the query string (Odoo reads login params there)
	fromForm              // urlencoded and multipart bodies
)

// readParams reads a dialect's login parameters. A JSON body is decoded
// with every strict check (one object, no duplicate keys, valid UTF-8, no
// trailing data, bounded depth) except unknown keys, which the seed
// modules ignore. A body without a content type is refused like any
// other unlisted type (415): a page on another site can send one
// cross-site without a preflight (fetch no-cors, a Blob body), which a
// JSON content type cannot; every seed's clients name their type
// (docs/DIALECTS.md). With fromForm, urlencoded and multipart bodies are
// read (merged with the query string when fromQuery is also set, as
// Odoo's request.params). A request without a body uses the query string
// when fromQuery is set. Any other body is ErrUnsupportedMedia.
func readParams(r *http.Request, from int) (params, error) {
	mt := mediaType(r)
	if from&fromForm != 0 && (mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data") {
		return readForm(r, mt, from&fromQuery != 0)
	}
	b, err := readBody(r)
	if err != nil {
		return params{}, err
	}
	empty := len(strings.TrimSpace(string(b))) == 0
	switch {
	case mt == "application/json":
		var m map[string]json.RawMessage
		if err := decodeJSONBytes(b, &m); err != nil {
			return params{}, err
		}
		return params{json: m}, nil
	case !empty:
		return params{}, ErrUnsupportedMedia
	case from&fromQuery != 0:
		return params{form: r.URL.Query()}, nil
	}
	return params{form: map[string][]string{}}, nil
}

func readForm(r *http.Request, mt string, withQuery bool) (params, error) {
	var err error
	if mt == "multipart/form-data" {
		err = r.ParseMultipartForm(1 << 20)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return params{}, ErrBodyTooLarge
		}
		return params{}, fieldError(ErrBadField, "malformed form body")
	}
	if withQuery {
		return params{form: r.Form}, nil
	}
	return params{form: r.PostForm}, nil
}

// value is one parameter: ok is false when absent; a JSON value that is
// not a string (null included) is errNotString.
func (p params) value(name string) (v string, ok bool, err error) {
	if p.json != nil {
		raw, ok := p.json[name]
		if !ok {
			return "", false, nil
		}
		if raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return "", true, errNotString
		}
		return v, true, nil
	}
	vs, ok := p.form[name]
	if !ok || len(vs) == 0 {
		return "", false, nil
	}
	return vs[0], true, nil
}

var errNotString = fieldError(ErrBadField, "not a valid string")

// methodNotAllowed answers a wrong method in a dialect's shape.
func methodNotAllowed(allow string, write func(http.ResponseWriter, *http.Request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		write(w, r)
	}
}
