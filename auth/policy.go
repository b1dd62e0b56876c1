package auth

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// PasswordPolicy bounds the passwords sessiond accepts at registration,
// password change and login. It is plain data, safe to copy and to use
// from many goroutines.
//
// MinLen counts runes (what a user thinks of as characters); MaxLen counts
// bytes (what hashing costs and what a request body limit measures). A
// password outside the bounds is refused, never truncated.
type PasswordPolicy struct {
	MinLen int // runes, default 8
	MaxLen int // bytes, default 1024
}

// DefaultPasswordPolicy returns MinLen 8 runes, MaxLen 1024 bytes.
func DefaultPasswordPolicy() PasswordPolicy {
	return PasswordPolicy{MinLen: 8, MaxLen: 1024}
}

// Validate checks 1 <= MinLen and MinLen <= MaxLen (a MaxLen below MinLen
// could never be met, since a rune is at least one byte).
func (p PasswordPolicy) Validate() error {
	if p.MinLen < 1 || p.MaxLen < p.MinLen {
		return fmt.Errorf("%w: password policy wants 1 <= MinLen <= MaxLen, got %d, %d", ErrBadConfig, p.MinLen, p.MaxLen)
	}
	return nil
}

// Check returns ErrPasswordTooLong for more than MaxLen bytes (tested
// first, before scanning the input), ErrPasswordInvalid for invalid UTF-8
// or a NUL byte, and ErrPasswordTooShort for fewer than MinLen runes. It
// never modifies the password.
func (p PasswordPolicy) Check(pw string) error {
	if len(pw) > p.MaxLen {
		return ErrPasswordTooLong
	}
	if !utf8.ValidString(pw) || strings.IndexByte(pw, 0) >= 0 {
		return ErrPasswordInvalid
	}
	if utf8.RuneCountInString(pw) < p.MinLen {
		return ErrPasswordTooShort
	}
	return nil
}
