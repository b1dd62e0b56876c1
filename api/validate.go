package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// Validation results, as metrics label them.
const (
	resHit       = "hit"
	resMiss      = "miss"
	resExpired   = "expired"
	resMalformed = "malformed"
	resInactive  = "inactive"
	resError     = "error"
)

// principal is a validated caller: auth's session and user, read from one
// state.
type principal = auth.Principal

// level picks the consistency for a request: ?consistency=, then the
// X-Sessiond-Consistency header, then the node's default. A request may
// only strengthen the node's level unless the operator allows weaker ones.
func (s *Server) level(r *http.Request) (cluster.Level, error) {
	var v string
	if r.URL.RawQuery != "" { // most validations carry none: parsing one allocates
		v = r.URL.Query().Get("consistency")
	}
	if v == "" {
		v = r.Header.Get("X-Sessiond-Consistency")
	}
	if v == "" {
		return s.cfg.DefaultLevel, nil
	}
	l, err := cluster.ParseLevel(v)
	if err != nil {
		return l, err
	}
	if strength(l) < strength(s.cfg.DefaultLevel) && !s.cfg.AllowWeakerConsistency {
		// A client may ask for more freshness, never less: with a weaker
		// level a revoked token could be replayed on a cut-off node.
		return s.cfg.DefaultLevel, nil
	}
	return l, nil
}

// strength orders the levels by how fresh a read must be.
func strength(l cluster.Level) int {
	switch l {
	case cluster.Stale:
		return 0
	case cluster.Consistent:
		return 2
	}
	return 1
}

// validationResult is the metric label of a validation's outcome.
func validationResult(err error) string {
	switch {
	case err == nil:
		return resHit
	case errors.Is(err, auth.ErrTokenMalformed):
		return resMalformed
	case errors.Is(err, auth.ErrTokenUnknown):
		return resMiss
	case errors.Is(err, auth.ErrTokenExpired):
		return resExpired
	case errors.Is(err, auth.ErrUserInactive):
		return resInactive
	}
	return resError
}

// errInactive is a valid token of a disabled or deleted user. It is an
// ErrInvalidToken for every dialect but knox, which names it.
var errInactive = auth.ErrUserInactive

// bearer returns the token of "Authorization: Bearer <token>" (scheme case
// insensitive), ErrNoCredentials when absent, ErrInvalidToken when
// malformed. Only for credentials that are no session token (the metrics
// scrape token, a logout that needs no validation): a session token is
// found by findToken.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, tok, err := splitAuthorization(h)
	if err != nil || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrInvalidToken
	}
	return tok, nil
}

// nativeAuth validates the Bearer token of a request: a token of any
// dialect identifies its caller here (one session store).
func (s *Server) nativeAuth(r *http.Request) (principal, error) {
	p, _, err := s.authenticate(r, nativeCarriers, kindsAny)
	if err == nil {
		err = s.enrolOnly(r, p) // the second-factor policy (enrol.go)
	}
	return p, err
}

// adminAuth requires a Bearer token of an admin user.
func (s *Server) adminAuth(r *http.Request) (principal, error) {
	p, err := s.nativeAuth(r)
	if err != nil {
		return p, err
	}
	if !p.User.Admin {
		return p, ErrForbidden
	}
	return p, nil
}

func unixOrNil(ns int64) any {
	if ns == 0 {
		return nil
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}
