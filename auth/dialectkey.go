package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/sessiond/sessiond/fsm"
)

// DialectKey is the key the Odoo RESTful JWT dialect signs with. The
// seed's contract (jwt_provider reads ODOO_JWT_KEY and signs HS256) is
// that this dialect stays on the shared-secret key unless the operator
// moves it: the settings' JWTDialectKid when set (and not retired), else
// the active key when it is an HMAC key, else the newest unretired HMAC
// key. So activating an RS256 or EdDSA key for the native API leaves
// the dialect's tokens verifying with ODOO_JWT_KEY; the admin API warns
// when an activation moved it.
func (s *Service) DialectKey() (Key, error) {
	st := s.node.State()
	k, err := dialectKey(st.Keys(), st.Settings())
	if err != nil {
		return Key{}, err
	}
	// The keyring holds sealed secrets: sign with the unsealed one.
	key, err := s.unseal(k)
	if err != nil {
		return Key{}, fmt.Errorf("%w: %v", ErrNoSigningKey, err)
	}
	return key, nil
}

// dialectKey applies DialectKey's rule to a keyring and settings. Among
// HMAC keys the configured secret (Created 0: KeyFromSecret) comes first,
// then the newest.
func dialectKey(keys []fsm.SigningKey, set fsm.Settings) (fsm.SigningKey, error) {
	find := func(kid string) (fsm.SigningKey, bool) {
		for _, k := range keys {
			if k.Kid == kid && k.Retired == 0 {
				return k, true
			}
		}
		return fsm.SigningKey{}, false
	}
	if set.JWTDialectKid != "" {
		if k, ok := find(set.JWTDialectKid); ok {
			return k, nil
		}
	}
	if k, ok := find(set.JWTActiveKid); ok && isHMAC(k.Alg) {
		return k, nil
	}
	var best *fsm.SigningKey
	for i := range keys {
		k := &keys[i]
		if k.Retired != 0 || !isHMAC(k.Alg) {
			continue
		}
		if best == nil || (best.Created != 0 && (k.Created == 0 || k.Created > best.Created)) {
			best = k
		}
	}
	if best == nil {
		return fsm.SigningKey{}, ErrNoSigningKey
	}
	return *best, nil
}

// HasLiveKey reports whether the keyring holds kid and it is not retired.
func (s *Service) HasLiveKey(kid string) bool {
	k, ok := s.node.State().Key(kid)
	return ok && k.Retired == 0
}

// DialectKeyFor is DialectKey for a token about to be signed: the keyring
// is read after the default level's barrier (a hit under this node's read
// lease, otherwise a catch-up with the leader), as every credential read
// is. A key's retirement and revocation narrow, so a lease holder has
// applied every one acknowledged; a node without a lease catches up. So no
// node signs with a key whose retirement or revocation was acknowledged
// (TestDialectKeyFor_LaggingNodeSignsWithTheCurrentKey). Both JWT dialect
// paths that sign (login and registration) use it.
func (s *Service) DialectKeyFor(ctx context.Context) (Key, error) {
	if err := s.node.ReadBarrier(ctx, fsm.Default, true); err != nil {
		return Key{}, err
	}
	return s.DialectKey()
}

// ErrDialectKey refuses retiring or revoking the key the Odoo JWT dialect
// signs with when no other key could take over: every POST /api/login
// would answer 503 until a key is added. The error's text says which.
var ErrDialectKey = errors.New("auth: the Odoo JWT dialect signs with this key")

// dialectKeepsKey refuses taking kid out of service when the dialect
// signs with it now and would have no key without it (no other unretired
// HMAC key). When another key can take over, the dialect moves to it
// (DialectKey's rule) and the change goes ahead.
func dialectKeepsKey(keys []fsm.SigningKey, set fsm.Settings, kid string) error {
	cur, err := dialectKey(keys, set)
	if err != nil || cur.Kid != kid {
		return nil
	}
	rest := make([]fsm.SigningKey, 0, len(keys))
	for _, k := range keys {
		if k.Kid != kid {
			rest = append(rest, k)
		}
	}
	if _, err := dialectKey(rest, set); err == nil {
		return nil
	}
	return fmt.Errorf("%w (%s) and no other HS256/HS384/HS512 key is left to take over: "+
		"add one first (sessiond keys add --alg HS256, or POST /v1/keys {\"alg\":\"HS256\"}), "+
		"optionally name it in the jwt_dialect_kid setting, then retire %s", ErrDialectKey, kid, kid)
}
