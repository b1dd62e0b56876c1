package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base32"
	"hash"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// TestTOTP_RFC6238AppendixB checks the code generator against every test
// vector of RFC 6238 Appendix B (8 digits; SHA-1, SHA-256, SHA-512 with
// their seeds), and against pquerna/otp's own generator at six digits.
func TestTOTP_RFC6238AppendixB(t *testing.T) {
	seeds := map[string][]byte{
		"SHA1":   []byte("12345678901234567890"),
		"SHA256": []byte("12345678901234567890123456789012"),
		"SHA512": []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	hashes := map[string]func() hash.Hash{"SHA1": sha1.New, "SHA256": sha256.New, "SHA512": sha512.New}
	vectors := []struct {
		unix int64
		alg  string
		want string
	}{
		{59, "SHA1", "94287082"}, {59, "SHA256", "46119246"}, {59, "SHA512", "90693936"},
		{1111111109, "SHA1", "07081804"}, {1111111109, "SHA256", "68084774"}, {1111111109, "SHA512", "25091201"},
		{1111111111, "SHA1", "14050471"}, {1111111111, "SHA256", "67062674"}, {1111111111, "SHA512", "99943326"},
		{1234567890, "SHA1", "89005924"}, {1234567890, "SHA256", "91819424"}, {1234567890, "SHA512", "93441116"},
		{2000000000, "SHA1", "69279037"}, {2000000000, "SHA256", "90698825"}, {2000000000, "SHA512", "38618901"},
		{20000000000, "SHA1", "65353130"}, {20000000000, "SHA256", "77737706"}, {20000000000, "SHA512", "47863826"},
	}
	for _, v := range vectors {
		got := hotpCode(hashes[v.alg], seeds[v.alg], totpStep(time.Unix(v.unix, 0)), 8)
		if got != v.want {
			t.Errorf("T=%d %s: %s, want %s", v.unix, v.alg, got, v.want)
		}
	}
	// The six-digit SHA-1 codes users' apps show agree with pquerna/otp.
	sec := base32.StdEncoding.EncodeToString(seeds["SHA1"])
	for _, v := range vectors {
		at := time.Unix(v.unix, 0)
		lib, err := totp.GenerateCodeCustom(sec, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			t.Fatal(err)
		}
		if got := hotpCode(sha1.New, seeds["SHA1"], totpStep(at), 6); got != lib {
			t.Errorf("T=%d: %s, pquerna/otp %s", v.unix, got, lib)
		}
	}
}

// TestTOTP_SkewBoundaries moves a fake clock across step edges: a code is
// accepted from the start of the step before its own to the end of the
// step after, reports the step it belongs to, and is refused one
// nanosecond outside that window.
func TestTOTP_SkewBoundaries(t *testing.T) {
	secret := []byte("12345678901234567890")
	const step = int64(40000000)   // a step well inside the Unix era
	start := time.Unix(step*30, 0) // first instant of the step
	code := hotpCode(sha1.New, secret, step, 6)
	for _, c := range []struct {
		name string
		now  time.Time
		ok   bool
	}{
		{"two steps early", start.Add(-30*time.Second - time.Nanosecond), false},
		{"one step early, first instant", start.Add(-30 * time.Second), true},
		{"own step, first instant", start, true},
		{"own step, last instant", start.Add(30*time.Second - time.Nanosecond), true},
		{"one step late, last instant", start.Add(60*time.Second - time.Nanosecond), true},
		{"two steps late", start.Add(60 * time.Second), false},
	} {
		got, ok := matchStep(secret, code, c.now)
		if ok != c.ok || (ok && got != step) {
			t.Errorf("%s: step %d, %v; want %d, %v", c.name, got, ok, step, c.ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12345a", "１２３４５６", " 123456", "123456\n"} {
		if validOTPSyntax(bad) {
			t.Errorf("%q passes as a code", bad)
		}
		if _, ok := matchStep(secret, bad, start); ok {
			t.Errorf("%q matched", bad)
		}
	}
}

// TestRecovery_CodesNormalise: a code reads back in any case, with or
// without its dash or spaces; anything of another length or alphabet is
// refused before any digest is made; two sets never share a code.
func TestRecovery_CodesNormalise(t *testing.T) {
	s := &Service{}
	codes, digests, sealedKey, err := s.newRecoveryCodes(7)
	if err != nil || len(codes) != RecoveryCodes || len(digests) != RecoveryCodes {
		t.Fatalf("newRecoveryCodes: %d %d %v", len(codes), len(digests), err)
	}
	key, err := s.openValue(recoveryAD(7), sealedKey)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range codes {
		for _, in := range []string{c, strings.ToUpper(c), strings.ReplaceAll(c, "-", ""), strings.ReplaceAll(c, "-", " ")} {
			n, ok := normalizeRecovery(in)
			if !ok || recoveryDigest(key, 7, n) != digests[i] {
				t.Errorf("%q does not read back as %q", in, c)
			}
		}
		if n, _ := normalizeRecovery(c); recoveryDigest(key, 8, n) == digests[i] {
			t.Error("a code's digest is the same for another user")
		}
	}
	for _, bad := range []string{"", "abcde", "abcde-fghjk-m", "abcde-fghj0", "abcde_fghjk", strings.Repeat("a", 100)} {
		if _, ok := normalizeRecovery(bad); ok {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestSealValue_BoundToRecord: a sealed TOTP secret opens only under the
// associated data it was sealed with (its user), and under an old seal
// secret after a rotation.
func TestSealValue_BoundToRecord(t *testing.T) {
	old, _ := NewSealer([]byte("old-seal-secret-0123456789"))
	sealed, err := old.SealValue(totpAD(1), []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret")) {
		t.Fatal("the sealed value holds the secret in the clear")
	}
	rotated, _ := NewSealer([]byte("new-seal-secret-0123456789"), []byte("old-seal-secret-0123456789"))
	if got, err := rotated.OpenValue(totpAD(1), sealed); err != nil || string(got) != "secret" {
		t.Fatalf("open after rotation: %q %v", got, err)
	}
	if _, err := rotated.OpenValue(totpAD(2), sealed); err == nil {
		t.Fatal("a secret moved to another user opened")
	}
	other, _ := NewSealer([]byte("unrelated-seal-secret-0123"))
	if _, err := other.OpenValue(totpAD(1), sealed); err == nil {
		t.Fatal("opened without the seal secret")
	}
}
