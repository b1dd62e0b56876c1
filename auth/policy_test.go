package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordPolicy_Check(t *testing.T) {
	p := DefaultPasswordPolicy()
	tests := []struct {
		name string
		pw   string
		want error
	}{
		{"7 chars", "abcdefg", ErrPasswordTooShort},
		{"8 chars", "abcdefgh", nil},
		{"empty", "", ErrPasswordTooShort},
		{"7 runes 14 bytes", strings.Repeat("é", 7), ErrPasswordTooShort},
		{"8 runes", strings.Repeat("é", 8), nil},
		{"1024 bytes", strings.Repeat("a", 1024), nil},
		{"1025 bytes", strings.Repeat("a", 1025), ErrPasswordTooLong},
		{"1026 bytes of 513 runes", strings.Repeat("é", 513), ErrPasswordTooLong},
		{"invalid utf8", "abcdefgh\xff", ErrPasswordInvalid},
		{"truncated rune", "abcdefgh\xc3", ErrPasswordInvalid},
		{"NUL", "abcd\x00efgh", ErrPasswordInvalid},
		{"spaces kept", "  a  b  ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Check(tt.pw); !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("Check = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestPasswordPolicy_NeverTruncated(t *testing.T) {
	p := DefaultPasswordPolicy()
	long := strings.Repeat("0123456789abcdef", 64) // 1024 bytes, the maximum
	if err := p.Check(long); err != nil {
		t.Fatal(err)
	}
	phc := mustHash(t, long, MinimalHashParams())
	for _, guess := range []string{long[:1023], long[:72], long[:8], long + "x"} {
		if ok, _, _ := VerifyPassword(phc, guess); ok {
			t.Fatalf("a %d-byte prefix/extension verified against a %d-byte password", len(guess), len(long))
		}
	}
	if ok, _, _ := VerifyPassword(phc, long); !ok {
		t.Fatal("the full password did not verify")
	}
}

func TestPasswordPolicy_Validate(t *testing.T) {
	for _, tt := range []struct {
		p  PasswordPolicy
		ok bool
	}{
		{DefaultPasswordPolicy(), true},
		{PasswordPolicy{MinLen: 1, MaxLen: 1}, true},
		{PasswordPolicy{MinLen: 0, MaxLen: 10}, false},
		{PasswordPolicy{MinLen: 10, MaxLen: 9}, false},
	} {
		if err := tt.p.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: Validate = %v, want ok=%v", tt.p, err, tt.ok)
		}
	}
}
