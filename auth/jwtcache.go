package auth

import (
	"sync"
	"sync/atomic"
	"time"
)

// jwtCache remembers JWTs whose signature verified, by the SHA-256 of the
// whole token, so that a client presenting the same JWT again skips the
// signature check and the JSON decoding (about 17 µs and 60 allocations
// for HS256, five times a whole native validation).
//
// It may skip only that. Every hit still looks the key up in the
// replicated keyring as a miss does (revoked, retired past its grace, or
// replaced: refused at once, and the entry dropped), still compares exp
// with this node's clock, and ValidateJWT still validates the jti's
// session through Validate at the request's level (logged out, expired,
// disabled or deleted user). Nothing the log can revoke is cached; only
// the verdict "these bytes were signed by key (kid, alg, created)", which
// no later command can change.
//
// The key is a digest of the token, not the token. An entry's claims hold
// the jti, which introspection echoes to the caller that sent it; like
// the request that carried it, it stays in this process's memory, never
// logged, replicated or written to disk. Entries are bounded (jwtCacheMax); at the bound an
// arbitrary entry makes room, so a flood of distinct valid tokens costs
// only their own signature checks. Safe for concurrent use.
type jwtCache struct {
	mu sync.RWMutex
	m  map[Digest]verifiedJWT
	// verifications counts full signature checks, for the tests that
	// show a repeat skips one.
	verifications atomic.Uint64
}

// jwtCacheMax bounds the entries: ~200 bytes each, ~13 MB at most.
const jwtCacheMax = 1 << 16

// verifiedJWT is a verified token's claims and the key that signed it.
type verifiedJWT struct {
	claims  Claims
	kid     string
	alg     string
	created int64
}

func (c *jwtCache) get(d Digest) (verifiedJWT, bool) {
	c.mu.RLock()
	v, ok := c.m[d]
	c.mu.RUnlock()
	return v, ok
}

func (c *jwtCache) put(d Digest, v verifiedJWT) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[Digest]verifiedJWT)
	}
	if len(c.m) >= jwtCacheMax {
		for k := range c.m {
			delete(c.m, k)
			break
		}
	}
	c.m[d] = v
}

func (c *jwtCache) drop(d Digest) {
	c.mu.Lock()
	delete(c.m, d)
	c.mu.Unlock()
}

// cachedClaims returns the claims of a token verified before, after the
// checks a hit may not skip: the key that signed it still verifies here
// (keyring lookup: not revoked, not retired past its grace, the same key)
// and exp is after now, as jwt's validator has it. ok is false when the
// token must go through VerifyJWT, which then gives the refusal.
func (s *Service) cachedClaims(d Digest, now time.Time) (verifiedJWT, bool) {
	v, ok := s.jwts.get(d)
	if !ok {
		return verifiedJWT{}, false
	}
	if !now.Before(v.claims.ExpiresAt) {
		s.jwts.drop(d)
		return verifiedJWT{}, false
	}
	return v, true
}

// keyStillUsable reports whether the key that verified v is still in the
// keyring as it was (not revoked, not retired past its grace, not
// replaced under the same kid). ValidateJWT asks it after the read
// barrier, so a key revocation acknowledged before the call is seen at
// the call's level, for cached and freshly verified tokens alike.
func (s *Service) keyStillUsable(v verifiedJWT) bool {
	key, found := stateKeyring{s}.LookupKey(v.kid)
	return found && key.Alg == v.alg && key.Created == v.created
}
