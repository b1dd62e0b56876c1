package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var allAlgs = []string{AlgHS256, AlgHS384, AlgHS512, AlgEdDSA, AlgRS256}

// ring is a Keyring over a map.
type ring map[string]Key

func (r ring) LookupKey(kid string) (Key, bool) { k, ok := r[kid]; return k, ok }

var (
	testKeysOnce sync.Once
	testKeys     map[string]Key // by alg; RSA generation is slow, share it
)

func keyFor(t testing.TB, alg string) Key {
	t.Helper()
	testKeysOnce.Do(func() {
		testKeys = make(map[string]Key)
		for _, a := range allAlgs {
			k, err := GenerateKey(a, time.Unix(1_700_000_000, 0))
			if err != nil {
				panic(err)
			}
			testKeys[a] = k
		}
	})
	return testKeys[alg]
}

var jwtNow = time.Unix(1_700_000_000, 0)

func testClaims() Claims {
	return Claims{Subject: 42, Login: "admin@example.com", SessionID: "0123456789abcdef0123456789abcdef",
		IssuedAt: jwtNow.Add(-time.Minute), ExpiresAt: jwtNow.Add(time.Hour)}
}

// rawJWT assembles a compact JWS with an HMAC-SHA256 signature over
// arbitrary header and payload JSON (or an empty signature if secret is nil).
func rawJWT(header, payload string, secret []byte) string {
	b64 := base64.RawURLEncoding
	s := b64.EncodeToString([]byte(header)) + "." + b64.EncodeToString([]byte(payload))
	if secret == nil {
		return s + "."
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(s))
	return s + "." + b64.EncodeToString(m.Sum(nil))
}

func TestJWT_RoundTripEveryAlg(t *testing.T) {
	for _, alg := range allAlgs {
		t.Run(alg, func(t *testing.T) {
			k := keyFor(t, alg)
			if err := k.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if len(k.Kid) != 16 || !ValidTokenSyntax(k.Kid, 16) {
				t.Fatalf("kid %q", k.Kid)
			}
			tok, err := SignJWT(k, testClaims())
			if err != nil {
				t.Fatal(err)
			}
			hdr, _, _ := strings.Cut(tok, ".")
			raw, _ := base64.RawURLEncoding.DecodeString(hdr)
			var h map[string]any
			if err := json.Unmarshal(raw, &h); err != nil || h["alg"] != alg || h["kid"] != k.Kid {
				t.Fatalf("header %s", raw)
			}
			got, err := VerifyJWT(ring{k.Kid: k}, tok, jwtNow)
			if err != nil {
				t.Fatalf("VerifyJWT: %v", err)
			}
			want := testClaims()
			if got.Subject != want.Subject || got.Login != want.Login || got.SessionID != want.SessionID ||
				!got.IssuedAt.Equal(want.IssuedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
				t.Fatalf("claims = %+v, want %+v", got, want)
			}
			// A retired key still verifies.
			k.Retired = jwtNow.UnixNano()
			if _, err := VerifyJWT(ring{k.Kid: k}, tok, jwtNow); err != nil {
				t.Fatalf("retired key: %v", err)
			}
		})
	}
}

func TestJWT_Payload(t *testing.T) {
	tok, err := SignJWT(keyFor(t, AlgHS256), testClaims())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var p map[string]any
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatal(err)
	}
	if p["sub"] != "42" || p["lgn"] != "admin@example.com" || p["jti"] != testClaims().SessionID ||
		p["exp"] != float64(jwtNow.Add(time.Hour).Unix()) || p["iat"] != float64(jwtNow.Add(-time.Minute).Unix()) {
		t.Fatalf("payload %s", raw)
	}
}

func TestVerifyJWT_Refuses(t *testing.T) {
	hs, rs, ed := keyFor(t, AlgHS256), keyFor(t, AlgRS256), keyFor(t, AlgEdDSA)
	r := ring{hs.Kid: hs, rs.Kid: rs, ed.Kid: ed}
	good, err := SignJWT(hs, testClaims())
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	sign := func(method jwt.SigningMethod, key any, kid string, c jwt.Claims) string {
		tok := jwt.NewWithClaims(method, c)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	valid := jwt.MapClaims{"sub": "42", "jti": "s1", "exp": jwtNow.Add(time.Hour).Unix()}
	other, _ := GenerateKey(AlgHS256, jwtNow)
	expired := testClaims()
	expired.IssuedAt, expired.ExpiresAt = jwtNow.Add(-2*time.Hour), jwtNow.Add(-time.Second)
	expiredTok, err := SignJWT(hs, expired)
	if err != nil {
		t.Fatal(err)
	}
	tamperedClaims := strings.Replace(string(mustB64Decode(t, parts[1])), `"sub":"42"`, `"sub":"1"`, 1)

	tests := []struct {
		name       string
		tok        string
		unknownKey bool
		also       error
	}{
		{"unknown kid", sign(jwt.SigningMethodHS256, other.Secret, other.Kid, valid), true, nil},
		{"no kid", sign(jwt.SigningMethodHS256, hs.Secret, "", valid), true, nil},
		{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, hs.Kid, valid), false, nil},
		{"alg none raw", rawJWT(`{"alg":"none","kid":"`+hs.Kid+`"}`, `{"sub":"42","jti":"s","exp":1800000000}`, nil), false, nil},
		{"HS256 with RSA public key", sign(jwt.SigningMethodHS256, rs.Public, rs.Kid, valid), false, nil},
		{"HS256 with Ed25519 public key", sign(jwt.SigningMethodHS256, ed.Public, ed.Kid, valid), false, nil},
		{"HS512 on HS256 key", sign(jwt.SigningMethodHS512, hs.Secret, hs.Kid, valid), false, nil},
		{"RS256 kid on EdDSA token", sign(jwt.SigningMethodEdDSA, mustPriv(t, ed), rs.Kid, valid), false, nil},
		{"expired", expiredTok, false, jwt.ErrTokenExpired},
		{"missing exp", sign(jwt.SigningMethodHS256, hs.Secret, hs.Kid, jwt.MapClaims{"sub": "42", "jti": "s1"}), false, nil},
		{"not yet valid", sign(jwt.SigningMethodHS256, hs.Secret, hs.Kid, jwt.MapClaims{"sub": "42", "jti": "s1", "exp": jwtNow.Add(time.Hour).Unix(), "nbf": jwtNow.Add(time.Minute).Unix()}), false, nil},
		{"missing jti", sign(jwt.SigningMethodHS256, hs.Secret, hs.Kid, jwt.MapClaims{"sub": "42", "exp": jwtNow.Add(time.Hour).Unix()}), false, nil},
		{"sub not decimal", sign(jwt.SigningMethodHS256, hs.Secret, hs.Kid, jwt.MapClaims{"sub": "admin", "jti": "s", "exp": jwtNow.Add(time.Hour).Unix()}), false, nil},
		{"sub leading zero", sign(jwt.SigningMethodHS256, hs.Secret, hs.Kid, jwt.MapClaims{"sub": "042", "jti": "s", "exp": jwtNow.Add(time.Hour).Unix()}), false, nil},
		{"tampered payload", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tamperedClaims)) + "." + parts[2], false, nil},
		{"tampered signature", parts[0] + "." + parts[1] + "." + flipLast(parts[2]), false, nil},
		{"signature stripped", parts[0] + "." + parts[1] + ".", false, nil},
		{"two segments", parts[0] + "." + parts[1], false, nil},
		{"empty", "", false, nil},
		{"garbage header", "!!!." + parts[1] + "." + parts[2], false, nil},
		{"over 8KiB", parts[0] + "." + strings.Repeat("A", MaxJWTLen) + "." + parts[2], false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := VerifyJWT(r, tt.tok, jwtNow)
			if err == nil {
				t.Fatalf("accepted: %+v", c)
			}
			if !errors.Is(err, ErrInvalidJWT) {
				t.Fatalf("err %v does not wrap ErrInvalidJWT", err)
			}
			if errors.Is(err, ErrUnknownKey) != tt.unknownKey {
				t.Fatalf("err %v: ErrUnknownKey = %v, want %v", err, !tt.unknownKey, tt.unknownKey)
			}
			if tt.also != nil && !errors.Is(err, tt.also) {
				t.Fatalf("err %v does not wrap %v", err, tt.also)
			}
		})
	}
	if _, err := VerifyJWT(r, good, jwtNow); err != nil {
		t.Fatalf("the untampered token failed: %v", err)
	}
}

func mustB64Decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flipLast(sig string) string {
	b := []byte(sig)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func mustPriv(t *testing.T, k Key) any {
	t.Helper()
	p, err := x509.ParsePKCS8PrivateKey(k.Secret)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignJWT_BadClaims(t *testing.T) {
	k := keyFor(t, AlgHS256)
	for name, mut := range map[string]func(*Claims){
		"no exp":         func(c *Claims) { c.ExpiresAt = time.Time{} },
		"no jti":         func(c *Claims) { c.SessionID = "" },
		"exp before iat": func(c *Claims) { c.ExpiresAt = c.IssuedAt.Add(-time.Second) },
	} {
		c := testClaims()
		mut(&c)
		if _, err := SignJWT(k, c); !errors.Is(err, ErrBadClaims) {
			t.Errorf("%s: err = %v, want ErrBadClaims", name, err)
		}
	}
	if _, err := SignJWT(Key{Kid: "x", Alg: "none"}, testClaims()); !errors.Is(err, ErrUnsupportedAlg) {
		t.Errorf("alg none: %v", err)
	}
	if _, err := SignJWT(Key{Kid: "x", Alg: AlgHS256, Secret: make([]byte, 16)}, testClaims()); !errors.Is(err, ErrWeakKey) {
		t.Errorf("short secret: %v", err)
	}
}

func BenchmarkVerifyJWT_HS256(b *testing.B) {
	k := keyFor(b, AlgHS256)
	tok, err := SignJWT(k, testClaims())
	if err != nil {
		b.Fatal(err)
	}
	r := ring{k.Kid: k}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyJWT(r, tok, jwtNow); err != nil {
			b.Fatal(err)
		}
	}
}
