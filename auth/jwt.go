package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxJWTLen is the longest token VerifyJWT will look at; longer ones are
// refused before any decoding.
const MaxJWTLen = 8 << 10

// Claims are what sessiond puts in a JWT (Odoo RESTful JWT dialect).
// Times travel as whole seconds, so VerifyJWT returns them truncated.
type Claims struct {
	Subject   uint64 // user id, "sub" as a decimal string
	Login     string // "lgn"
	SessionID string // "jti": a secret whose digest finds the session in the store (not the session's public ID)
	IssuedAt  time.Time
	ExpiresAt time.Time // required
}

// wireClaims is the JSON payload.
type wireClaims struct {
	jwt.RegisteredClaims
	Login string `json:"lgn,omitempty"`
	// UID is the user id as a JSON integer, what jwt_provider's sub was:
	// sub stays the decimal string RFC 7519 (and PyJWT >= 2.10) wants.
	UID uint64 `json:"uid,omitempty"`
}

// Keyring finds verification keys by kid. The replicated keyring in fsm
// (or an adapter over it) implements it; LookupKey must be safe for
// concurrent use, since VerifyJWT runs on every request.
type Keyring interface {
	LookupKey(kid string) (Key, bool)
}

// SignJWT mints a token for c with k: header alg pinned to k.Alg and kid
// set to k.Kid; payload sub (decimal user id), uid (the same id as a JSON
// number), lgn, jti, iat (if set) and
// exp. exp and jti are required and exp must follow iat, else ErrBadClaims.
// SignJWT does not look at k.Retired: signing only with an active key is
// the caller's job. Safe for concurrent use.
func SignJWT(k Key, c Claims) (string, error) {
	if c.ExpiresAt.IsZero() || c.SessionID == "" ||
		(!c.IssuedAt.IsZero() && !c.ExpiresAt.After(c.IssuedAt)) {
		return "", fmt.Errorf("%w: need exp, jti, and exp after iat", ErrBadClaims)
	}
	sk, err := k.signingKey()
	if err != nil {
		return "", err
	}
	wc := wireClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   strconv.FormatUint(c.Subject, 10),
			ID:        c.SessionID,
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		Login: c.Login,
		UID:   c.Subject,
	}
	if !c.IssuedAt.IsZero() {
		wc.IssuedAt = jwt.NewNumericDate(c.IssuedAt)
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(k.Alg), wc)
	tok.Header["kid"] = k.Kid
	s, err := tok.SignedString(sk)
	if err != nil {
		return "", fmt.Errorf("auth: signing jwt: %w", err)
	}
	return s, nil
}

// headerKid reads the kid from a compact JWT's header without verifying
// anything, to choose the one key the token may be checked against.
func headerKid(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return "", fmt.Errorf("%w: not a compact jws", ErrInvalidJWT)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(head)
	if err != nil {
		return "", fmt.Errorf("%w: header encoding", ErrInvalidJWT)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", fmt.Errorf("%w: header json", ErrInvalidJWT)
	}
	if h.Kid == "" {
		return "", fmt.Errorf("%w: %w: no kid", ErrInvalidJWT, ErrUnknownKey)
	}
	return h.Kid, nil
}

// VerifyJWT checks token against the single key its kid names and returns
// its claims. The header's alg must equal that key's pinned Alg (so "none"
// and HMAC-with-a-public-key confusion are refused), the signature must
// hold, exp is required and must be after now, and sub must be a
// canonical decimal user id and jti non-empty. Tokens over MaxJWTLen are
// refused before parsing.
//
// Every failure wraps ErrInvalidJWT; an absent or unknown kid also wraps
// ErrUnknownKey, an expired token jwt.ErrTokenExpired. A retired key still
// verifies. A valid signature is not enough: the caller must also find the
// jti session in the store. Safe for concurrent use if ring is.
func VerifyJWT(ring Keyring, token string, now time.Time) (Claims, error) {
	c, _, err := verifyJWT(ring, token, now)
	return c, err
}

// verifyJWT is VerifyJWT, also returning the key that verified the token
// (for the verified-token cache, which must recheck that key's state).
func verifyJWT(ring Keyring, token string, now time.Time) (Claims, Key, error) {
	if len(token) > MaxJWTLen {
		return Claims{}, Key{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalidJWT, MaxJWTLen)
	}
	kid, err := headerKid(token)
	if err != nil {
		return Claims{}, Key{}, err
	}
	key, ok := ring.LookupKey(kid)
	if !ok || key.Kid != kid {
		return Claims{}, Key{}, fmt.Errorf("%w: %w", ErrInvalidJWT, ErrUnknownKey)
	}
	vk, err := key.verifyingKey()
	if err != nil {
		return Claims{}, Key{}, fmt.Errorf("%w: key %q: %w", ErrInvalidJWT, kid, err)
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{key.Alg}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithStrictDecoding(),
	)
	var wc wireClaims
	_, err = parser.ParseWithClaims(token, &wc, func(t *jwt.Token) (any, error) {
		if got, _ := t.Header["kid"].(string); got != kid {
			return nil, fmt.Errorf("%w: kid changed between reads", ErrUnknownKey)
		}
		return vk, nil
	})
	if err != nil {
		return Claims{}, Key{}, fmt.Errorf("%w: %w", ErrInvalidJWT, err)
	}
	c, err := claimsFromWire(wc)
	return c, key, err
}

// claimsFromWire converts a verified payload, refusing a non-canonical
// sub or an empty jti.
func claimsFromWire(wc wireClaims) (Claims, error) {
	sub, err := strconv.ParseUint(wc.Subject, 10, 64)
	if err != nil || strconv.FormatUint(sub, 10) != wc.Subject {
		return Claims{}, fmt.Errorf("%w: sub is not a user id", ErrInvalidJWT)
	}
	if wc.ID == "" {
		return Claims{}, fmt.Errorf("%w: no jti", ErrInvalidJWT)
	}
	if wc.UID != 0 && wc.UID != sub {
		return Claims{}, fmt.Errorf("%w: uid and sub differ", ErrInvalidJWT)
	}
	c := Claims{Subject: sub, Login: wc.Login, SessionID: wc.ID}
	if wc.ExpiresAt != nil {
		c.ExpiresAt = wc.ExpiresAt.Time
	}
	if wc.IssuedAt != nil {
		c.IssuedAt = wc.IssuedAt.Time
	}
	return c, nil
}
