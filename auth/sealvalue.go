package auth

import (
	"crypto/rand"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealValue seals a secret that is not a signing key (a TOTP secret)
// under the current seal secret, with ad as associated data so a sealed
// value moved onto another record (another user's) does not open. Same
// layout as a sealed signing key.
func (s *Sealer) SealValue(ad string, plain []byte) ([]byte, error) {
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("auth: reading randomness: %w", err)
	}
	out := make([]byte, 0, len(sealMagic)+sealIDLen+len(nonce)+len(plain)+s.cur.aead.Overhead())
	out = append(append(append(out, sealMagic...), s.cur.id[:]...), nonce...)
	return s.cur.aead.Seal(out, nonce, plain, []byte(ad)), nil
}

// OpenValue opens what SealValue sealed, under the current or an old
// seal secret.
func (s *Sealer) OpenValue(ad string, sealed []byte) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, fmt.Errorf("%w: value is not sealed", ErrBadKey)
	}
	k := s.find(sealedID(sealed))
	if k == nil {
		return nil, ErrSealed
	}
	rest := sealed[len(sealMagic)+sealIDLen:]
	ns := chacha20poly1305.NonceSizeX
	if len(rest) < ns+k.aead.Overhead() {
		return nil, fmt.Errorf("%w: sealed value truncated", ErrBadKey)
	}
	plain, err := k.aead.Open(nil, rest[:ns], rest[ns:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed value does not open", ErrBadKey)
	}
	return plain, nil
}

// clearPrefix marks a value stored without a sealer (tests and tools
// that run without a seal secret): it is never mistaken for a sealed one.
const clearPrefix = "clear:"

// sealValue seals with the service's sealer, or stores the value marked
// clear when there is none (as signing keys are then stored as given).
func (s *Service) sealValue(ad string, plain []byte) ([]byte, error) {
	if s.seal == nil {
		return append([]byte(clearPrefix), plain...), nil
	}
	return s.seal.SealValue(ad, plain)
}

// openValue is sealValue's inverse; a clear value opens with or without
// a sealer, a sealed one needs it.
func (s *Service) openValue(ad string, stored []byte) ([]byte, error) {
	if len(stored) >= len(clearPrefix) && string(stored[:len(clearPrefix)]) == clearPrefix {
		return append([]byte(nil), stored[len(clearPrefix):]...), nil
	}
	if s.seal == nil {
		return nil, ErrSealed
	}
	return s.seal.OpenValue(ad, stored)
}
