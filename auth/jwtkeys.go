package auth

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"time"
)

// JWT algorithms a Key may be pinned to.
const (
	AlgHS256 = "HS256"
	AlgHS384 = "HS384"
	AlgHS512 = "HS512"
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

const (
	minHMACKeyLen = 32   // 256 bits, for every HMAC algorithm
	minRSABits    = 2048 // and what GenerateKey makes
)

// hmacKeyLen is the secret length GenerateKey draws: the hash output size.
var hmacKeyLen = map[string]int{AlgHS256: 32, AlgHS384: 48, AlgHS512: 64}

// Key is one JWT signing key as the replicated keyring holds it. Alg is
// pinned: a token verifies against this key only if its header names
// exactly this algorithm. Key is plain data; the byte slices must not be
// modified once the key is shared.
type Key struct {
	Kid string
	Alg string // HS256, HS384, HS512, EdDSA or RS256
	// Secret is the HMAC key, or the DER PKCS #8 private key for EdDSA and
	// RS256. It never leaves the cluster: JWKS omits it.
	Secret []byte
	// Public is the DER PKIX public key for EdDSA and RS256; nil for HMAC.
	Public  []byte
	Created int64 // unix nanoseconds
	// Retired is when the key stopped signing (unix nanoseconds; 0 =
	// active). A retired key still verifies until its tokens expire;
	// choosing an active key to sign with is the caller's job — SignJWT
	// does not look at this field.
	Retired int64
}

// isHMAC reports whether alg is one of the HMAC algorithms.
func isHMAC(alg string) bool { _, ok := hmacKeyLen[alg]; return ok }

// GenerateKey makes a new key pinned to alg, with a random 16-hex kid:
// 32/48/64 random bytes for HS256/384/512, an Ed25519 pair for EdDSA, an
// RSA-2048 pair for RS256. Safe for concurrent use.
func GenerateKey(alg string, now time.Time) (Key, error) {
	kidBytes := make([]byte, 8)
	if _, err := rand.Read(kidBytes); err != nil {
		return Key{}, fmt.Errorf("auth: reading randomness: %w", err)
	}
	k := Key{Kid: hex.EncodeToString(kidBytes), Alg: alg, Created: now.UnixNano()}
	var priv, pub any
	switch {
	case isHMAC(alg):
		k.Secret = make([]byte, hmacKeyLen[alg])
		if _, err := rand.Read(k.Secret); err != nil {
			return Key{}, fmt.Errorf("auth: reading randomness: %w", err)
		}
		return k, nil
	case alg == AlgEdDSA:
		p, s, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return Key{}, fmt.Errorf("auth: generating ed25519 key: %w", err)
		}
		priv, pub = s, p
	case alg == AlgRS256:
		s, err := rsa.GenerateKey(rand.Reader, minRSABits)
		if err != nil {
			return Key{}, fmt.Errorf("auth: generating rsa key: %w", err)
		}
		priv, pub = s, &s.PublicKey
	default:
		return Key{}, fmt.Errorf("%w: %q", ErrUnsupportedAlg, alg)
	}
	var err error
	if k.Secret, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
		return Key{}, fmt.Errorf("auth: encoding private key: %w", err)
	}
	if k.Public, err = x509.MarshalPKIXPublicKey(pub); err != nil {
		return Key{}, fmt.Errorf("auth: encoding public key: %w", err)
	}
	return k, nil
}

// KeyFromSecret turns a configured HMAC secret (SESSIOND_JWT_KEY) into a
// key pinned to alg (an HMAC algorithm). Secrets under 32 bytes are
// refused with ErrWeakKey. The kid is the hex of the first 8 bytes of the
// secret's SHA-256 and Created is 0, so every node seeded from the same
// secret builds the identical key. The secret is copied.
func KeyFromSecret(secret []byte, alg string) (Key, error) {
	if !isHMAC(alg) {
		return Key{}, fmt.Errorf("%w: %q is not an HMAC algorithm", ErrUnsupportedAlg, alg)
	}
	if len(secret) < minHMACKeyLen {
		return Key{}, fmt.Errorf("%w: secret is %d bytes, want at least %d", ErrWeakKey, len(secret), minHMACKeyLen)
	}
	sum := sha256.Sum256(secret)
	return Key{Kid: hex.EncodeToString(sum[:8]), Alg: alg, Secret: append([]byte(nil), secret...)}, nil
}

// Validate checks the key is usable: a kid, a supported algorithm, an
// HMAC secret of at least 256 bits, or parseable key pairs of the right
// type (RSA of at least 2048 bits). Callers run it before adding a key to
// the keyring.
func (k Key) Validate() error {
	if k.Kid == "" || len(k.Kid) > 64 {
		return fmt.Errorf("%w: kid must be 1..64 bytes", ErrBadKey)
	}
	if isHMAC(k.Alg) {
		if len(k.Secret) < minHMACKeyLen {
			return fmt.Errorf("%w: hmac secret under %d bytes", ErrWeakKey, minHMACKeyLen)
		}
		if k.Public != nil {
			return fmt.Errorf("%w: hmac key with a public part", ErrBadKey)
		}
		return nil
	}
	if _, err := k.signingKey(); err != nil {
		return err
	}
	_, err := k.verifyingKey()
	return err
}

// signingKey returns what jwt's SigningMethod.Sign wants for k.Alg.
func (k Key) signingKey() (any, error) {
	if isHMAC(k.Alg) {
		if len(k.Secret) < minHMACKeyLen {
			return nil, ErrWeakKey
		}
		return k.Secret, nil
	}
	return k.asymmetricKey("private", k.Secret, x509.ParsePKCS8PrivateKey)
}

// verifyingKey returns what jwt's SigningMethod.Verify wants for k.Alg.
// For HMAC that is the secret; for EdDSA and RS256 only the public key,
// never bytes, so a key pinned to an asymmetric algorithm cannot be
// confused with an HMAC secret.
func (k Key) verifyingKey() (any, error) {
	if isHMAC(k.Alg) {
		return k.signingKey()
	}
	return k.asymmetricKey("public", k.Public, x509.ParsePKIXPublicKey)
}

// asymmetricKey parses one half of an EdDSA or RS256 key (DER, with parse)
// and checks it is of k.Alg and, for RSA, long enough: one rule for the
// private half that signs and the public half that verifies.
func (k Key) asymmetricKey(half string, der []byte, parse func([]byte) (any, error)) (any, error) {
	if k.Alg != AlgEdDSA && k.Alg != AlgRS256 {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedAlg, k.Alg)
	}
	key, err := parse(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %s key: %v", ErrBadKey, half, err)
	}
	var rsaN *big.Int
	match := false
	switch key := key.(type) {
	case ed25519.PrivateKey, ed25519.PublicKey:
		match = k.Alg == AlgEdDSA
	case *rsa.PrivateKey:
		match, rsaN = k.Alg == AlgRS256, key.N
	case *rsa.PublicKey:
		match, rsaN = k.Alg == AlgRS256, key.N
	}
	if !match {
		return nil, fmt.Errorf("%w: %s key type does not match %s", ErrBadKey, half, k.Alg)
	}
	if rsaN != nil && rsaN.BitLen() < minRSABits {
		return nil, ErrWeakKey
	}
	return key, nil
}

// jwk is one entry of a JSON Web Key Set (RFC 7517, RFC 8037).
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// JWKS returns the JSON Web Key Set ({"keys":[...]}) of the public halves
// of keys: EdDSA as OKP/Ed25519 with x, RS256 as RSA with n and e. HMAC
// keys are skipped — their secret is the whole key. Retired keys are
// listed, since their tokens still verify. A key whose public part does
// not parse is an error rather than silently dropped.
func JWKS(keys []Key) ([]byte, error) {
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{}}
	b64 := base64.RawURLEncoding
	for _, k := range keys {
		if isHMAC(k.Alg) {
			continue
		}
		pub, err := k.verifyingKey()
		if err != nil {
			return nil, fmt.Errorf("auth: jwks: key %q: %w", k.Kid, err)
		}
		j := jwk{Kid: k.Kid, Alg: k.Alg, Use: "sig"}
		switch p := pub.(type) {
		case ed25519.PublicKey:
			j.Kty, j.Crv, j.X = "OKP", "Ed25519", b64.EncodeToString(p)
		case *rsa.PublicKey:
			j.Kty = "RSA"
			j.N = b64.EncodeToString(p.N.Bytes())
			j.E = b64.EncodeToString(big.NewInt(int64(p.E)).Bytes())
		}
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}
