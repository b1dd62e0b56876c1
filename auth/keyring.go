package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond/fsm"
)

// stateKeyring is a Keyring over the replicated keyring. It reads the
// node's current state on every lookup, so keys added or retired through
// the log are seen at once and a restored snapshot is never stale. Keys
// are unsealed on the way out (from the sealer's per-kid cache after the
// first use); one that does not unseal here is not found.
type stateKeyring struct{ s *Service }

func (k stateKeyring) LookupKey(kid string) (Key, bool) {
	st := k.s.node.State()
	sk, ok := st.Key(kid)
	if !ok || !keyVerifies(sk, st.Settings(), k.s.cfg.Now()) {
		return Key{}, false
	}
	key, err := k.s.unseal(sk)
	return key, err == nil
}

func keyFromFSM(k fsm.SigningKey) Key {
	return Key{Kid: k.Kid, Alg: k.Alg, Secret: k.Secret, Public: k.Public, Created: k.Created, Retired: k.Retired}
}

func keyToFSM(k Key) fsm.SigningKey {
	return fsm.SigningKey{Kid: k.Kid, Alg: k.Alg, Secret: k.Secret, Public: k.Public, Created: k.Created, Retired: k.Retired}
}

// ActiveKey is the key new JWTs are signed with.
func (s *Service) ActiveKey() (Key, error) {
	st := s.node.State()
	kid := st.Settings().JWTActiveKid
	if kid == "" {
		return Key{}, ErrNoSigningKey
	}
	k, ok := st.Key(kid)
	if !ok || k.Retired != 0 {
		return Key{}, ErrNoSigningKey
	}
	key, err := s.unseal(k)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrNoSigningKey, err)
	}
	return key, nil
}

// Keys lists the keyring and names the active key ("" when none). The
// keys come without their Secret: listing and JWKS need only the public
// parts, and a list should not carry every private key around.
func (s *Service) Keys() (keys []Key, activeKid string) {
	st := s.node.State()
	for _, k := range st.Keys() {
		key := keyFromFSM(k)
		key.Secret = nil
		keys = append(keys, key)
	}
	return keys, st.Settings().JWTActiveKid
}

// AddKey generates a key of alg and commits it, making it the signing key
// when activate is set (a rotation; the previous key keeps verifying). The
// key material is made here, before the log.
func (s *Service) AddKey(ctx context.Context, alg string, activate bool) (Key, error) {
	k, err := GenerateKey(alg, s.cfg.Now())
	if err == nil {
		err = k.Validate()
	}
	if err != nil {
		return Key{}, err
	}
	return k, s.PutKey(ctx, k, activate)
}

// PutKey commits a key made elsewhere (the configured secret). With a
// sealer the secret is sealed here, before the command is built, so the
// log, snapshots and backups only ever hold its ciphertext.
func (s *Service) PutKey(ctx context.Context, k Key, activate bool) error {
	if sl := s.sealer(); sl != nil {
		var err error
		if k, err = sl.Seal(k); err != nil {
			return err
		}
	}
	_, err := s.node.Apply(ctx, &fsm.PutKey{Key: keyToFSM(k), Activate: activate})
	return err
}

// inactiveKey is what retiring and revoking ask of a key: that it exists
// and is not the one JWT logins sign with.
func (s *Service) inactiveKey(kid string) error {
	st := s.node.State()
	if _, ok := st.Key(kid); !ok {
		return fsm.ErrKeyNotFound
	}
	if st.Settings().JWTActiveKid == kid {
		return ErrActiveKey
	}
	return dialectKeepsKey(st.Keys(), st.Settings(), kid)
}

// RetireKey stops a key from signing; tokens it signed verify until they
// expire. The active key cannot be retired: rotate first, so JWT logins
// never find the keyring without a signing key.
func (s *Service) RetireKey(ctx context.Context, kid string) error {
	if err := s.inactiveKey(kid); err != nil {
		return err
	}
	_, err := s.node.Apply(ctx, &fsm.RetireKey{Kid: kid, At: s.cfg.Now().UnixNano()})
	return err
}

// JWKS is the public half of the asymmetric keys (RFC 7517).
func (s *Service) JWKS() ([]byte, error) {
	keys, _ := s.Keys()
	return JWKS(keys)
}

// SignSession signs the JWT of a JWT-kind session issued by CreateSession
// or Login, with the active key.
func (s *Service) SignSession(key Key, iss Issued, u *fsm.User) (string, error) {
	return SignJWT(key, Claims{
		Subject: u.ID, Login: u.Login, SessionID: iss.Token,
		IssuedAt: time.Unix(0, iss.Session.Created), ExpiresAt: time.Unix(0, iss.Session.ExpiresAt),
	})
}

// ValidateJWT validates an Odoo RESTful JWT: signature by the key its kid
// names (algorithm pinned per key, so "none" and algorithm confusion are
// refused), exp by this node's clock, then the jti's session through
// Validate, so a logged-out JWT stays refused while its signature and exp
// still hold. Syntax and signature failures are refused before any lookup.
// A token validated before skips only the signature check (jwtCache):
// its key's state, its exp and its session are checked on every call.
func (s *Service) ValidateJWT(ctx context.Context, level fsm.Level, tok string) (Principal, error) {
	if tok == "" || len(tok) > MaxJWTLen {
		return Principal{}, ErrTokenMalformed
	}
	now := s.cfg.Now()
	d := DigestToken(tok)
	v, hit := s.cachedClaims(d, now)
	if !hit {
		s.jwts.verifications.Add(1)
		claims, key, err := verifyJWT(stateKeyring{s}, tok, now)
		if _, kerr := headerKid(tok); kerr == nil && errors.Is(err, ErrUnknownKey) && level != fsm.Stale {
			// The keyring is replicated state, and this node's may lag:
			// a restarted node replays its log only once it hears from a
			// leader, so until then it knows no key at all. A refusal at
			// Default or Consistent must rest on state fresh enough for
			// the level, as a session miss does (LookupIn) and a refused
			// login does (Authenticate): catch up once, then check again.
			if serr := s.node.Sync(ctx); serr != nil {
				return Principal{}, serr // cannot tell yet: not a verdict on the token
			}
			claims, key, err = verifyJWT(stateKeyring{s}, tok, now)
		}
		if err != nil {
			if errors.Is(err, jwt.ErrTokenExpired) {
				return Principal{}, fmt.Errorf("%w: %w", ErrTokenExpired, err)
			}
			return Principal{}, fmt.Errorf("%w: %w", ErrTokenMalformed, err)
		}
		v = verifiedJWT{claims: claims, kid: key.Kid, alg: key.Alg, created: key.Created}
	}
	claims := v.claims
	p, err := s.Validate(ctx, level, DigestToken(claims.SessionID))
	if err != nil {
		return p, err
	}
	if p.Session.Kind != fsm.KindJWT || p.User.ID != claims.Subject {
		return Principal{}, ErrTokenUnknown
	}
	// The key is checked here, after Validate's barrier, not before it:
	// a revocation acknowledged before this call may not have reached the
	// state the signature was checked against.
	if !s.keyStillUsable(v) {
		s.jwts.drop(d)
		return Principal{}, fmt.Errorf("%w: %w", ErrTokenMalformed, ErrUnknownKey)
	}
	if !hit {
		// Only a token that validated whole is remembered, so refused
		// ones (logged out, of another user) do not fill the cache.
		s.jwts.put(d, v)
	}
	p.JTI = claims.SessionID
	return p, nil
}

// DefaultJWTLifetime is a JWT's lifetime when the settings give none (the
// seed's exp: 30 days).
const DefaultJWTLifetime = 30 * 24 * time.Hour

// JWTLifetime is the lifetime of new JWTs under set.
func JWTLifetime(set fsm.Settings) time.Duration {
	if set.JWTTTL > 0 {
		return time.Duration(set.JWTTTL)
	}
	return DefaultJWTLifetime
}

// keyVerifies reports whether tokens signed by k still verify at now: not
// after a revocation, and after a retirement only for the grace period
// (by default the JWT lifetime, so every token signed before the
// retirement lives out its exp, and none outlives it).
func keyVerifies(k fsm.SigningKey, set fsm.Settings, now time.Time) bool {
	if k.Revoked != 0 {
		return false
	}
	if k.Retired == 0 {
		return true
	}
	grace := time.Duration(set.JWTRetiredGrace)
	if grace <= 0 {
		grace = JWTLifetime(set)
	}
	return now.UnixNano() < k.Retired+int64(grace)
}

// RevokeKey revokes a key at once: every token it signed is refused on
// every node at its next validation (the command is acknowledged only once
// every read-lease holder applied it). The active key cannot be revoked:
// rotate first.
func (s *Service) RevokeKey(ctx context.Context, kid string) error {
	if err := s.inactiveKey(kid); err != nil {
		return err
	}
	_, err := s.node.Apply(ctx, &fsm.RetireKey{Kid: kid, At: s.cfg.Now().UnixNano(), Revoke: true})
	return err
}
