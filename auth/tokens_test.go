package auth

import (
	"encoding/hex"
	"strings"
	"testing"
)

func TestNewTokens(t *testing.T) {
	tests := []struct {
		name string
		gen  func() (string, error)
		n    int
	}{
		{"NewToken", NewToken, 64},
		{"NewSID", NewSID, 40},
		{"NewID", NewID, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(map[string]bool)
			for range 1000 {
				tok, err := tt.gen()
				if err != nil {
					t.Fatal(err)
				}
				if len(tok) != tt.n || !ValidTokenSyntax(tok, tt.n) || strings.ToLower(tok) != tok {
					t.Fatalf("%q: want %d lowercase hex", tok, tt.n)
				}
				if seen[tok] {
					t.Fatalf("duplicate %q", tok)
				}
				seen[tok] = true
			}
		})
	}
}

func TestDigestToken_Vectors(t *testing.T) {
	for in, want := range map[string]string{
		"":    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"abc": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	} {
		d := DigestToken(in)
		if got := hex.EncodeToString(d[:]); got != want {
			t.Errorf("DigestToken(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestValidTokenSyntax(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		name string
		tok  string
		n    int
		want bool
	}{
		{"ok", hex64, 64, true},
		{"short", hex64[:63], 64, false},
		{"long", hex64 + "0", 64, false},
		{"uppercase", strings.ToUpper(hex64), 64, false},
		{"non-hex", hex64[:63] + "g", 64, false},
		{"space", hex64[:63] + " ", 64, false},
		{"multibyte", hex64[:62] + "é", 64, false},
		{"empty", "", 0, false},
		{"negative n", "", -1, false},
		{"10KB", strings.Repeat("a", 10000), 64, false},
		{"sid", hex64[:40], 40, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidTokenSyntax(tt.tok, tt.n); got != tt.want {
				t.Fatalf("ValidTokenSyntax = %v, want %v", got, tt.want)
			}
		})
	}
}

func BenchmarkDigestToken(b *testing.B) {
	tok, err := NewToken()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = DigestToken(tok)
	}
}
