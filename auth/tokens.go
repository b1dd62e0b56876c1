package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/sessiond/sessiond/fsm"
)

// Token lengths in hex characters, for ValidTokenSyntax.
const (
	TokenLen = 64 // NewToken: 256 bits
	SIDLen   = 40 // NewSID: 160 bits
	IDLen    = 32 // NewID: 128 bits
)

// randomHex returns n random bytes from crypto/rand as lowercase hex.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: reading randomness: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// NewToken returns a bearer token of 256 bits from crypto/rand as 64
// lowercase hex characters (knox and native dialects). Only its
// DigestToken is stored; the token itself is returned once to the client
// and never logged. Safe for concurrent use.
func NewToken() (string, error) { return randomHex(TokenLen / 2) }

// NewSID returns an Odoo-style session id: 160 bits from crypto/rand as 40
// lowercase hex characters, the shape Odoo clients expect. Like a token,
// only its digest is stored. Safe for concurrent use.
func NewSID() (string, error) { return randomHex(SIDLen / 2) }

// NewID returns 128 random bits as 32 lowercase hex characters, for
// public identifiers (session ids shown in listings, JWT jti, nonces,
// idempotency keys chosen before the log). It is not a secret. Safe for
// concurrent use.
func NewID() (string, error) { return randomHex(IDLen / 2) }

// Digest is the SHA-256 of a token: what the replicated store keys
// sessions by, so neither the log nor snapshots hold a usable token. It is
// fsm's type, so a digest made here needs no conversion to be looked up.
type Digest = fsm.Digest

// DigestToken returns the SHA-256 of the token's bytes. Tokens carry 160
// bits or more of entropy, so an unsalted fast hash is enough to make a
// stolen store useless. Safe for concurrent use. Every validation digests
// its token: one up to digestStack bytes (every opaque token, most JWTs)
// is copied to the stack, since the string's conversion would escape.
func DigestToken(tok string) Digest {
	if len(tok) <= digestStack {
		var buf [digestStack]byte
		return sha256.Sum256(buf[:copy(buf[:], tok)])
	}
	return sha256.Sum256([]byte(tok))
}

// digestStack is the longest token DigestToken digests without a heap copy.
const digestStack = 512

// ValidTokenSyntax reports whether tok is exactly n lowercase hex
// characters ([0-9a-f]), the only form this package mints. Uppercase is
// refused, so each token has one spelling and one digest. Call it before
// any lookup so malformed or oversized tokens are refused cheaply. It
// returns false for n <= 0.
func ValidTokenSyntax(tok string, n int) bool {
	if n <= 0 || len(tok) != n {
		return false
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
