package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Dialect names, as metrics and the audit log label them.
const (
	dialectOdoo = "odoo"
	dialectJWT  = "jwt"
	dialectKnox = "knox"
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

// errNoSigningKey means the keyring has no active key to sign JWTs with
// (a cluster still seeding, or an admin retired the active key).
var errNoSigningKey = errors.New("api: no active jwt signing key")

// stateKeyring is auth.Keyring over the replicated keyring. It reads the
// node's current state on every lookup, so keys added or retired through
// the log are seen at once and a restored snapshot is never stale. Safe for
// concurrent use.
type stateKeyring struct{ node Node }

func (k stateKeyring) LookupKey(kid string) (auth.Key, bool) {
	sk, ok := k.node.FSM().State().Key(kid)
	if !ok {
		return auth.Key{}, false
	}
	return keyFromFSM(sk), true
}

func keyFromFSM(k fsm.SigningKey) auth.Key {
	return auth.Key{Kid: k.Kid, Alg: k.Alg, Secret: k.Secret, Public: k.Public, Created: k.Created, Retired: k.Retired}
}

func keyToFSM(k auth.Key) fsm.SigningKey {
	return fsm.SigningKey{Kid: k.Kid, Alg: k.Alg, Secret: k.Secret, Public: k.Public, Created: k.Created, Retired: k.Retired}
}

// activeKey is the key new JWTs are signed with.
func (s *Server) activeKey() (auth.Key, error) {
	st := s.node.FSM().State()
	kid := st.Settings().JWTActiveKid
	if kid == "" {
		return auth.Key{}, errNoSigningKey
	}
	k, ok := st.Key(kid)
	if !ok || k.Retired != 0 {
		return auth.Key{}, errNoSigningKey
	}
	return keyFromFSM(k), nil
}

// validateJWT validates an Odoo RESTful JWT: signature by the key its kid
// names (algorithm pinned per key, so "none" and algorithm confusion are
// refused), exp by this node's clock, then the jti session through the one
// validation path, so a logged-out or logged-out-everywhere JWT stays
// refused while its signature and exp still hold. Syntax and signature
// failures are refused before any lookup.
func (s *Server) validateJWT(r *http.Request, tok string) (principal, error) {
	if tok == "" || len(tok) > auth.MaxJWTLen {
		s.metrics.validation(dialectJWT, s.cfg.DefaultLevel, resMalformed)
		return principal{}, ErrInvalidToken
	}
	claims, err := auth.VerifyJWT(stateKeyring{s.node}, tok, s.svc.Now())
	if err != nil {
		res := resMalformed
		if errors.Is(err, jwt.ErrTokenExpired) {
			res = resExpired
		}
		s.metrics.validation(dialectJWT, s.cfg.DefaultLevel, res)
		return principal{}, ErrInvalidToken
	}
	p, err := s.validateDigest(r.Context(), r, dialectJWT, fsm.Digest(auth.DigestToken(claims.SessionID)))
	if err != nil {
		return p, err
	}
	if p.sess.Kind != fsm.KindJWT || p.user.ID != claims.Subject {
		return principal{}, ErrInvalidToken
	}
	return p, nil
}

// seedJWTKey makes sure the keyring can sign. A configured secret
// (SESSIOND_JWT_KEY, or the seed's ODOO_JWT_KEY) is added under its
// derived kid when missing, and made active if no key is. With no secret
// configured and an empty keyring, a random HS256 key is generated so the
// JWT dialect works out of the box. Either key is replicated through the
// Raft log like every keyring entry: signing keys are neither passwords
// nor tokens, and every node needs them to sign and verify (DESIGN.md,
// "signing keys"). Runs on the leader; idempotent.
func (s *Server) seedJWTKey(ctx context.Context) {
	st := s.node.FSM().State()
	noActive := st.Settings().JWTActiveKid == ""
	if len(s.cfg.JWTSecret) > 0 {
		k, err := auth.KeyFromSecret(s.cfg.JWTSecret, auth.AlgHS256)
		if err == nil {
			if _, ok := st.Key(k.Kid); ok {
				return
			}
			s.putKey(ctx, k, noActive, "configured")
			return
		}
		s.log.Error("configured JWT key is unusable; it must be at least 32 bytes", "err", err)
	}
	if len(st.Keys()) > 0 {
		return
	}
	k, err := auth.GenerateKey(auth.AlgHS256, s.svc.Now())
	if err != nil {
		s.log.Warn("generating JWT key failed", "err", err)
		return
	}
	s.putKey(ctx, k, true, "generated")
}

func (s *Server) putKey(ctx context.Context, k auth.Key, activate bool, origin string) {
	res, err := s.node.Apply(ctx, &fsm.PutKey{Key: keyToFSM(k), Activate: activate})
	if err == nil {
		err = res.Err()
	}
	if err != nil {
		s.log.Warn("seeding JWT key failed", "kid", k.Kid, "err", err)
		return
	}
	s.log.Info("JWT key added", "kid", k.Kid, "alg", k.Alg, "origin", origin, "active", activate)
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
// dialect names it otherwise; errNoSigningKey is a (usually brief)
// unavailability.
func dialectStatus(err error) int {
	if errors.Is(err, errNoSigningKey) {
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
// modules ignore; a JSON body sent without a content type (curl -d) is
// read as JSON too. With fromForm, urlencoded and multipart bodies are
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
	case mt == "application/json" || (mt == "" && !empty):
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
