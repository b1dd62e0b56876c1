package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// MaxLoginLen bounds a login in bytes after normalisation (an e-mail
// address is at most 254).
const MaxLoginLen = 254

// Login errors.
var (
	ErrBadLogin = errors.New("auth: invalid login")
)

// NormalizeLogin turns what a user typed into the key a login is stored
// and found under: surrounding spaces trimmed, NFKC (so full-width and
// compatibility look-alikes fold to one form), lower case. Control
// characters, invalid UTF-8, inner spaces-only logins and over-long logins
// are refused rather than repaired, so no two different accepted spellings
// silently reach two different accounts that look the same.
func NormalizeLogin(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrBadLogin)
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrBadLogin)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return "", fmt.Errorf("%w: control or format character", ErrBadLogin)
		}
	}
	s = strings.ToLower(norm.NFKC.String(s))
	if len(s) > MaxLoginLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadLogin, MaxLoginLen)
	}
	return s, nil
}
