package auth

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/sessiond/sessiond/fsm"
)

// ErrSealed means a signing key is sealed under a secret this node does
// not hold (neither the seal secret nor an old one): it cannot sign or
// verify here until the node is given that secret.
var ErrSealed = errors.New("auth: signing key sealed under an unknown seal secret")

// MinSealSecretLen is the shortest seal secret accepted: the cluster key's
// own minimum, since the cluster key is the default seal secret.
const MinSealSecretLen = 16

// HKDF purpose labels: each key derived from a seal secret is bound to one
// use, so the same secret never keys two primitives.
const (
	labelKeySeal   = "sessiond/v1/jwt-key-seal"
	labelSealID    = "sessiond/v1/seal-id"
	labelBackupMAC = "sessiond/v1/backup-mac"
)

// sealMagic starts every sealed Secret. It begins with a NUL and ends with
// a version byte, so a configured HMAC secret (text) never looks sealed,
// and a random one does with probability 2^-64.
var sealMagic = []byte("\x00sdseal\x01")

const sealIDLen = 8

// Sealer encrypts JWT signing secrets before they reach the log and
// decrypts them when auth looks a key up. The AEAD is XChaCha20-Poly1305
// (random 192-bit nonces are safe at any volume) under a key derived by
// HKDF-SHA256 from the seal secret; the kid and alg are the associated
// data, so sealed material moved onto another key does not open. Each
// sealed value names its seal secret by an 8-byte id (also HKDF-derived,
// so it says nothing about the secret), which is how old secrets are
// found for unsealing and how a leader knows what to reseal.
//
// Unsealed keys are cached per kid: a key's material never changes (a
// reseal changes only its ciphertext), so JWT validation decrypts each key
// once per process, not once per request.
type Sealer struct {
	cur  sealKey
	old  []sealKey // unseal only
	macs [][]byte  // backup MAC keys, current first

	mu    sync.RWMutex
	cache map[string]Key
}

type sealKey struct {
	id   [sealIDLen]byte
	aead cipher.AEAD
}

// NewSealer builds a sealer that seals under current and unseals under
// current or any of old (empty ones are skipped, as are duplicates of
// current). Each secret must be at least MinSealSecretLen bytes.
func NewSealer(current []byte, old ...[]byte) (*Sealer, error) {
	cur, mac, err := deriveSeal(current)
	if err != nil {
		return nil, err
	}
	s := &Sealer{cur: cur, macs: [][]byte{mac}, cache: make(map[string]Key)}
	for _, o := range old {
		if len(o) == 0 {
			continue
		}
		k, mac, err := deriveSeal(o)
		if err != nil {
			return nil, fmt.Errorf("old seal secret: %w", err)
		}
		if k.id == cur.id || s.find(k.id) != nil {
			continue
		}
		s.old = append(s.old, k)
		s.macs = append(s.macs, mac)
	}
	return s, nil
}

func deriveSeal(secret []byte) (sealKey, []byte, error) {
	if len(secret) < MinSealSecretLen {
		return sealKey{}, nil, fmt.Errorf("%w: seal secret is %d bytes, want at least %d", ErrWeakKey, len(secret), MinSealSecretLen)
	}
	aeadKey, err := hkdf.Key(sha256.New, secret, nil, labelKeySeal, chacha20poly1305.KeySize)
	if err != nil {
		return sealKey{}, nil, err
	}
	id, err := hkdf.Key(sha256.New, secret, nil, labelSealID, sealIDLen)
	if err != nil {
		return sealKey{}, nil, err
	}
	mac, err := hkdf.Key(sha256.New, secret, nil, labelBackupMAC, 32)
	if err != nil {
		return sealKey{}, nil, err
	}
	aead, err := chacha20poly1305.NewX(aeadKey)
	if err != nil {
		return sealKey{}, nil, err
	}
	k := sealKey{aead: aead}
	copy(k.id[:], id)
	return k, mac, nil
}

// BackupMACKeys are the keys a backup's MAC is made with (the first) and
// checked against (any), derived from the same secrets under their own
// label: a backup made before a seal rotation still restores.
func (s *Sealer) BackupMACKeys() [][]byte { return s.macs }

func (s *Sealer) find(id [sealIDLen]byte) *sealKey {
	if s.cur.id == id {
		return &s.cur
	}
	for i := range s.old {
		if s.old[i].id == id {
			return &s.old[i]
		}
	}
	return nil
}

func sealAD(kid, alg string) []byte { return []byte("sessiond jwt key\x00" + kid + "\x00" + alg) }

// IsSealed reports whether a stored Secret is sealed (by any secret).
func IsSealed(secret []byte) bool {
	return len(secret) > len(sealMagic)+sealIDLen && bytes.HasPrefix(secret, sealMagic)
}

// sealedID is the seal-secret id of a sealed Secret.
func sealedID(secret []byte) (id [sealIDLen]byte) {
	copy(id[:], secret[len(sealMagic):])
	return id
}

// Current reports whether secret is sealed under the current seal secret,
// so that nothing needs resealing.
func (s *Sealer) Current(secret []byte) bool {
	return IsSealed(secret) && sealedID(secret) == s.cur.id
}

// Seal returns k with its Secret sealed under the current seal secret.
// Public (the DER public key of EdDSA and RS256) stays clear: JWKS
// publishes it anyway.
func (s *Sealer) Seal(k Key) (Key, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return Key{}, fmt.Errorf("auth: reading randomness: %w", err)
	}
	out := make([]byte, 0, len(sealMagic)+sealIDLen+len(nonce)+len(k.Secret)+s.cur.aead.Overhead())
	out = append(append(append(out, sealMagic...), s.cur.id[:]...), nonce...)
	k.Secret = s.cur.aead.Seal(out, nonce, k.Secret, sealAD(k.Kid, k.Alg))
	return k, nil
}

// open decrypts a stored key. A Secret that is not sealed (a log or
// snapshot written before sealing) is returned as it is: those keys keep
// working after an upgrade, and the leader reseals them.
func (s *Sealer) open(sk fsm.SigningKey) (Key, error) {
	k := keyFromFSM(sk)
	if !IsSealed(sk.Secret) {
		return k, nil
	}
	sk2 := s.find(sealedID(sk.Secret))
	if sk2 == nil {
		return Key{}, fmt.Errorf("%w (kid %s)", ErrSealed, sk.Kid)
	}
	rest := sk.Secret[len(sealMagic)+sealIDLen:]
	ns := chacha20poly1305.NonceSizeX
	if len(rest) < ns+sk2.aead.Overhead() {
		return Key{}, fmt.Errorf("%w: kid %s: sealed secret truncated", ErrBadKey, sk.Kid)
	}
	plain, err := sk2.aead.Open(nil, rest[:ns], rest[ns:], sealAD(sk.Kid, sk.Alg))
	if err != nil {
		return Key{}, fmt.Errorf("%w: kid %s: sealed secret does not open", ErrBadKey, sk.Kid)
	}
	k.Secret = plain
	return k, nil
}

// Unseal returns the usable key of a stored one, from the cache when this
// process has opened it before. Retired is taken from the stored key (the
// one field a key changes). The cached entry is checked against the
// stored alg and public part, so a different key under a reused kid
// (a restore of a foreign backup) is never served from the cache.
func (s *Sealer) Unseal(sk fsm.SigningKey) (Key, error) {
	s.mu.RLock()
	k, ok := s.cache[sk.Kid]
	s.mu.RUnlock()
	if ok && k.Alg == sk.Alg && bytes.Equal(k.Public, sk.Public) && k.Created == sk.Created {
		k.Retired = sk.Retired
		return k, nil
	}
	k, err := s.open(sk)
	if err != nil {
		return Key{}, err
	}
	s.mu.Lock()
	s.cache[sk.Kid] = k
	s.mu.Unlock()
	return k, nil
}

// sealer is the service's Sealer (Deps.Sealer), or nil.
func (s *Service) sealer() *Sealer { return s.seal }

// unseal turns a stored key into a usable one. Without a sealer, a sealed
// key is unusable (ErrSealed) and a clear one is used as it is.
func (s *Service) unseal(sk fsm.SigningKey) (Key, error) {
	if sl := s.sealer(); sl != nil {
		return sl.Unseal(sk)
	}
	if IsSealed(sk.Secret) {
		return Key{}, fmt.Errorf("%w (kid %s)", ErrSealed, sk.Kid)
	}
	return keyFromFSM(sk), nil
}
