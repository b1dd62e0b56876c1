package api

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
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

// principal is a validated caller.
type principal struct {
	sess *fsm.Session
	user *fsm.User
}

// level picks the consistency for a request: ?consistency=, then the
// X-Sessiond-Consistency header, then the node's default.
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
	return cluster.ParseLevel(v)
}

// validateDigest is the one validation path every dialect ends in: look the
// digest up at the request's consistency level, then refuse what is
// missing, expired (by this node's clock) or belongs to a disabled or
// deleted user. Idle sessions in use are refreshed in the background, at
// most once per RefreshEvery.
func (s *Server) validateDigest(ctx context.Context, r *http.Request, dialect string, d fsm.Digest) (principal, error) {
	level, err := s.level(r)
	if err != nil {
		return principal{}, err
	}
	sess, err := s.node.LookupSession(ctx, level, d)
	if err != nil {
		s.metrics.validation(dialect, level, resError)
		return principal{}, err
	}
	if sess == nil {
		s.metrics.validation(dialect, level, resMiss)
		return principal{}, ErrInvalidToken
	}
	now := s.svc.Now()
	if sess.Expired(now.UnixNano()) {
		s.metrics.validation(dialect, level, resExpired)
		return principal{}, ErrInvalidToken
	}
	u, ok := s.node.FSM().State().User(sess.UserID)
	if !ok || u.Disabled {
		s.metrics.validation(dialect, level, resInactive)
		return principal{}, errInactive
	}
	if sess.IdleTimeout > 0 && now.UnixNano()-sess.LastRefresh > int64(s.cfg.RefreshEvery) {
		s.node.Touch(sess.Digest, now)
	}
	s.metrics.validation(dialect, level, resHit)
	return principal{sess: sess, user: u}, nil
}

// errInactive is a valid token of a disabled or deleted user. It is an
// ErrInvalidToken for every dialect but knox, which names it.
var errInactive = &inactiveError{}

type inactiveError struct{}

func (*inactiveError) Error() string { return "api: user inactive or deleted" }
func (*inactiveError) Unwrap() error { return ErrInvalidToken }

// validateOpaque validates a hex token of length n (64 for native and
// knox, 40 for Odoo sids). The syntax is checked before any lookup.
func (s *Server) validateOpaque(r *http.Request, dialect, tok string, n int) (principal, error) {
	if !auth.ValidTokenSyntax(tok, n) {
		s.metrics.validation(dialect, s.cfg.DefaultLevel, resMalformed)
		return principal{}, ErrInvalidToken
	}
	return s.validateWellFormed(r, dialect, tok)
}

// validateWellFormed validates an opaque token whose syntax the caller
// has already checked.
func (s *Server) validateWellFormed(r *http.Request, dialect, tok string) (principal, error) {
	return s.validateDigest(r.Context(), r, dialect, fsm.Digest(auth.DigestToken(tok)))
}

// bearer returns the token of "Authorization: Bearer <token>" (scheme case
// insensitive), ErrNoCredentials when absent, ErrInvalidToken when
// malformed.
func bearer(r *http.Request) (string, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "", ErrNoCredentials
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
		return "", ErrInvalidToken
	}
	return tok, nil
}

// nativeAuth validates the native Bearer token of a request.
func (s *Server) nativeAuth(r *http.Request) (principal, string, error) {
	tok, err := bearer(r)
	if err != nil {
		return principal{}, "", err
	}
	// One session store: a token of any dialect identifies its caller here.
	p, err := s.validateAny(r, tok)
	return p, tok, err
}

// adminAuth requires a native Bearer token of an admin user.
func (s *Server) adminAuth(r *http.Request) (principal, error) {
	p, _, err := s.nativeAuth(r)
	if err != nil {
		return p, err
	}
	if !p.user.Admin {
		return p, ErrForbidden
	}
	return p, nil
}

// adminOrClusterKey admits an admin or a caller holding the cluster key
// (other nodes and operators' tooling).
func (s *Server) adminOrClusterKey(r *http.Request) error {
	if k := r.Header.Get(cluster.KeyHeader); k != "" {
		if s.node.CheckKey(k) {
			return nil
		}
		return ErrForbidden
	}
	_, err := s.adminAuth(r)
	return err
}

// clientAddr is the caller's address for throttling and the audit log.
func (s *Server) clientAddr(r *http.Request) string {
	if s.cfg.TrustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			return strings.TrimSpace(first)
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func unixOrNil(ns int64) any {
	if ns == 0 {
		return nil
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339)
}
