package auth

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// Validation failures. Each wraps ErrInvalidToken, so a dialect that does
// not tell them apart compares with that one; metrics and knox (which names
// an inactive user) tell them apart.
var (
	ErrInvalidToken   = errors.New("auth: invalid or expired token")
	ErrTokenMalformed = &validationError{"auth: malformed token"}
	ErrTokenUnknown   = &validationError{"auth: no such session"}
	ErrTokenExpired   = &validationError{"auth: session expired"}
	ErrUserInactive   = &validationError{"auth: user inactive or deleted"}
)

type validationError struct{ msg string }

func (e *validationError) Error() string { return e.msg }
func (e *validationError) Unwrap() error { return ErrInvalidToken }

// Principal is a validated caller: its session and its user, read from one
// state, so the two never straddle a restore.
type Principal struct {
	Session *fsm.Session
	User    *fsm.User
	// JTI is a validated JWT's own jti claim ("" for other kinds): the
	// caller presented it, so introspection may echo it, but it is never
	// the session's public id (see PublicID).
	JTI string
}

// Validate is the one validation rule every dialect ends in: the session
// with digest d must be present in state fresh enough for level, not
// expired by this node's clock, and belong to an enabled user. A session
// with an idle timeout that is used is refreshed in the background, at
// most once per RefreshEvery, so use never costs a write per request.
// Failures are the validation errors above, or the node's error (no
// leader, timeout) when it could not tell.
func (s *Service) Validate(ctx context.Context, level fsm.Level, d fsm.Digest) (Principal, error) {
	st, sess, err := s.node.LookupIn(ctx, level, d)
	if err != nil {
		return Principal{}, err
	}
	if sess == nil {
		return Principal{}, ErrTokenUnknown
	}
	now := s.cfg.Now().UnixNano()
	if sess.Expired(now) {
		return Principal{}, ErrTokenExpired
	}
	u, ok := st.User(sess.UserID)
	if !ok || u.Disabled {
		return Principal{}, ErrUserInactive
	}
	// The cheap time test first: on most hits nothing is due, and the
	// knox test copies the settings.
	if now-sess.LastRefresh > int64(s.cfg.RefreshEvery) && (sess.IdleTimeout > 0 || knoxSlideDue(st, sess, now)) {
		s.node.Touch(sess.Digest, time.Unix(0, now))
	}
	return Principal{Session: sess, User: u}, nil
}

// ValidateToken validates an opaque token of n hex characters (TokenLen
// for native and knox, SIDLen for Odoo); the syntax is checked before any
// lookup, so a malformed token costs no read.
func (s *Service) ValidateToken(ctx context.Context, level fsm.Level, tok string, n int) (Principal, error) {
	if !ValidTokenSyntax(tok, n) {
		return Principal{}, ErrTokenMalformed
	}
	return s.Validate(ctx, level, DigestToken(tok))
}

// Session is the local state's session with digest d, whatever its age
// (for housekeeping such as ending a replaced Odoo session, never for a
// validation verdict).
func (s *Service) Session(d fsm.Digest) (*fsm.Session, bool) { return s.node.State().Session(d) }

// LiveSessions are the user's unexpired sessions in local state, for
// listing.
func (s *Service) LiveSessions(uid uint64) []*fsm.Session {
	now := s.cfg.Now().UnixNano()
	var out []*fsm.Session
	for _, sess := range s.node.State().UserSessions(uid) {
		if !sess.Expired(now) {
			out = append(out, sess)
		}
	}
	return out
}

// knoxSlideDue reports whether a use of a knox token at now should slide
// its expiry (knox's AUTO_REFRESH): the new expiry now+TTL would gain
// more than MIN_REFRESH_INTERVAL. The slide itself is the batched
// refresh's (fsm applies it from the replicated settings), so a use still
// costs no write of its own.
func knoxSlideDue(st *fsm.State, sess *fsm.Session, now int64) bool {
	if sess.Kind != fsm.KindKnox || sess.ExpiresAt == 0 {
		return false
	}
	set := st.Settings()
	return set.KnoxAutoRefresh && set.KnoxTTL > 0 && now+set.KnoxTTL-sess.ExpiresAt > set.KnoxMinRefreshInterval
}
