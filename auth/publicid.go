package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"

	"github.com/sessiond/sessiond/fsm"
)

// legacyAliasDomain separates the alias hash from every other SHA-256 in
// sessiond, so an alias is never another value's digest.
const legacyAliasDomain = "sessiond legacy jwt session id\x00"

// IsLegacyJWT reports whether sess is a JWT session minted by a binary
// from before JWT sessions had their own public id: its ID is its jti,
// the token's secret half. Such sessions keep validating and logging out
// as they always did (both go by the jti's digest); only their ID must
// not be shown, so PublicID hides it behind an alias until they expire.
// The comparison is constant-time: an ID may be a jti.
func IsLegacyJWT(sess *fsm.Session) bool {
	if sess.Kind != fsm.KindJWT {
		return false
	}
	d := DigestToken(sess.ID)
	return subtle.ConstantTimeCompare(d[:], sess.Digest[:]) == 1
}

// legacyAlias is the public id of a legacy JWT session: 32 hex characters
// (the shape of NewID, so DELETE /v1/sessions/{id} takes it) derived from
// the jti's digest, so every node shows the same alias and nothing in it
// leads back to the jti.
func legacyAlias(d fsm.Digest) string {
	sum := sha256.Sum256(append([]byte(legacyAliasDomain), d[:]...))
	return hex.EncodeToString(sum[:IDLen/2])
}

// PublicID is the identifier of sess that may leave the node: in session
// listings, introspection's sid, forward auth's X-Sessiond-Session-Id and
// audit lines. It is the session's ID, except for a legacy JWT session,
// whose ID is its jti.
func PublicID(sess *fsm.Session) string {
	if IsLegacyJWT(sess) {
		return legacyAlias(sess.Digest)
	}
	return sess.ID
}

// RevokeByID ends the user's session with the public id (DELETE
// /v1/sessions/{id}); a session of another user is not found. A legacy
// JWT session's alias is resolved here, from the local state, and revoked
// by digest: its stored ID is the jti, which the caller does not know.
func (s *Service) RevokeByID(ctx context.Context, uid uint64, id string) error {
	for _, sess := range s.node.State().UserSessions(uid) {
		if IsLegacyJWT(sess) && subtle.ConstantTimeCompare([]byte(legacyAlias(sess.Digest)), []byte(id)) == 1 {
			d := sess.Digest
			_, err := s.node.Apply(ctx, &fsm.RevokeSession{Digest: &d, UserID: uid})
			return err
		}
	}
	_, err := s.node.Apply(ctx, &fsm.RevokeSession{ID: id, UserID: uid})
	return err
}
