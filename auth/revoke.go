package auth

import (
	"context"

	"github.com/sessiond/sessiond/fsm"
)

// Revoke ends the session with digest d (a logout). It answers once the
// revocation is committed; a digest that matches no session is not an
// error (logout is idempotent). It returns the session's user, when known,
// for the audit line.
func (s *Service) Revoke(ctx context.Context, d fsm.Digest) (*fsm.User, error) {
	res, err := s.node.Apply(ctx, &fsm.RevokeSession{Digest: &d})
	if err != nil {
		return nil, err
	}
	var u *fsm.User
	if res.UserID != 0 {
		u, _ = s.node.State().User(res.UserID)
	}
	return u, nil
}

// RevokeToken is Revoke by the token itself, for a caller that holds a
// token it has not validated (the native logout, which is idempotent for
// a token already gone).
func (s *Service) RevokeToken(ctx context.Context, tok string) (*fsm.User, error) {
	return s.Revoke(ctx, DigestToken(tok))
}

// RevokeAll ends every session of the user, all kinds alike; keepID, when
// set, names one session (the caller's own) that stays.
func (s *Service) RevokeAll(ctx context.Context, uid uint64, keepID string) error {
	_, err := s.node.Apply(ctx, &fsm.RevokeUserSessions{
		UserID: uid, KeepID: keepID, Nonce: requestID(), At: s.cfg.Now().UnixNano(),
	})
	return err
}
