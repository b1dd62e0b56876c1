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
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestGenerateKey(t *testing.T) {
	for alg, n := range map[string]int{AlgHS256: 32, AlgHS384: 48, AlgHS512: 64} {
		k := keyFor(t, alg)
		if len(k.Secret) != n || k.Public != nil || k.Created != jwtNow.UnixNano() || k.Retired != 0 {
			t.Errorf("%s: secret %d bytes (want %d), public %v", alg, len(k.Secret), n, k.Public != nil)
		}
	}
	a, _ := GenerateKey(AlgHS256, jwtNow)
	b, _ := GenerateKey(AlgHS256, jwtNow)
	if a.Kid == b.Kid || string(a.Secret) == string(b.Secret) {
		t.Error("two generated keys collide")
	}
	for _, alg := range []string{"", "none", "RS512", "ES256", "hs256"} {
		if _, err := GenerateKey(alg, jwtNow); !errors.Is(err, ErrUnsupportedAlg) {
			t.Errorf("GenerateKey(%q) = %v", alg, err)
		}
	}
}

func TestKeyFromSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	if _, err := KeyFromSecret(secret[:31], AlgHS256); !errors.Is(err, ErrWeakKey) {
		t.Fatalf("31 bytes: %v", err)
	}
	if _, err := KeyFromSecret(secret, AlgRS256); !errors.Is(err, ErrUnsupportedAlg) {
		t.Fatalf("RS256: %v", err)
	}
	a, err := KeyFromSecret(secret, AlgHS256)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := KeyFromSecret(append([]byte(nil), secret...), AlgHS256)
	sum := sha256.Sum256(secret)
	if a.Kid != hex.EncodeToString(sum[:8]) || a.Kid != b.Kid || a.Created != b.Created {
		t.Fatalf("kid %q / %q not the deterministic %x", a.Kid, b.Kid, sum[:8])
	}
	secret[0] = 'X' // the key holds its own copy
	if a.Secret[0] != '0' {
		t.Fatal("secret not copied")
	}
	tok, err := SignJWT(a, testClaims())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := VerifyJWT(ring{b.Kid: b}, tok, jwtNow); err != nil {
		t.Fatalf("a node seeded from the same secret refused the token: %v", err)
	}
}

func TestKey_Validate(t *testing.T) {
	ed, rs := keyFor(t, AlgEdDSA), keyFor(t, AlgRS256)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPriv, _ := x509.MarshalPKCS8PrivateKey(small)
	smallPub, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	tests := []struct {
		name string
		k    Key
		want error
	}{
		{"no kid", Key{Alg: AlgHS256, Secret: make([]byte, 32)}, ErrBadKey},
		{"hmac short", Key{Kid: "k", Alg: AlgHS256, Secret: make([]byte, 31)}, ErrWeakKey},
		{"hmac with public", Key{Kid: "k", Alg: AlgHS256, Secret: make([]byte, 32), Public: ed.Public}, ErrBadKey},
		{"unknown alg", Key{Kid: "k", Alg: "PS256", Secret: rs.Secret, Public: rs.Public}, ErrUnsupportedAlg},
		{"eddsa with rsa", Key{Kid: "k", Alg: AlgEdDSA, Secret: rs.Secret, Public: rs.Public}, ErrBadKey},
		{"rsa with ed public", Key{Kid: "k", Alg: AlgRS256, Secret: rs.Secret, Public: ed.Public}, ErrBadKey},
		{"garbage der", Key{Kid: "k", Alg: AlgEdDSA, Secret: []byte("nope"), Public: ed.Public}, ErrBadKey},
		{"rsa 1024", Key{Kid: "k", Alg: AlgRS256, Secret: smallPriv, Public: smallPub}, ErrWeakKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.k.Validate(); !errors.Is(err, tt.want) {
				t.Fatalf("Validate = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestJWKS(t *testing.T) {
	var keys []Key
	for _, alg := range allAlgs {
		keys = append(keys, keyFor(t, alg))
	}
	out, err := JWKS(keys)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		for _, enc := range []string{
			base64.RawURLEncoding.EncodeToString(k.Secret), base64.StdEncoding.EncodeToString(k.Secret), hex.EncodeToString(k.Secret),
		} {
			if strings.Contains(string(out), enc[:16]) {
				t.Fatalf("JWKS contains the secret of %s", k.Alg)
			}
		}
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(out, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 {
		t.Fatalf("JWKS has %d keys, want 2 (no HMAC): %s", len(set.Keys), out)
	}
	for _, j := range set.Keys {
		if _, ok := j["d"]; ok {
			t.Fatalf("private exponent in JWKS: %v", j)
		}
		if j["use"] != "sig" {
			t.Errorf("use = %q", j["use"])
		}
		switch j["alg"] {
		case AlgEdDSA:
			pub, _ := x509.ParsePKIXPublicKey(keyFor(t, AlgEdDSA).Public)
			x, _ := base64.RawURLEncoding.DecodeString(j["x"])
			if j["kty"] != "OKP" || j["crv"] != "Ed25519" || !ed25519.PublicKey(x).Equal(pub) || j["kid"] != keyFor(t, AlgEdDSA).Kid {
				t.Errorf("bad OKP entry %v", j)
			}
		case AlgRS256:
			pub, _ := x509.ParsePKIXPublicKey(keyFor(t, AlgRS256).Public)
			n, _ := base64.RawURLEncoding.DecodeString(j["n"])
			e, _ := base64.RawURLEncoding.DecodeString(j["e"])
			got := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
			if j["kty"] != "RSA" || !got.Equal(pub) || j["e"] != "AQAB" {
				t.Errorf("bad RSA entry %v", j)
			}
		default:
			t.Errorf("unexpected entry %v", j)
		}
	}
	empty, err := JWKS(nil)
	if err != nil || string(empty) != `{"keys":[]}` {
		t.Fatalf("empty JWKS = %s, %v", empty, err)
	}
	if _, err := JWKS([]Key{{Kid: "k", Alg: AlgEdDSA, Public: []byte("junk")}}); err == nil {
		t.Fatal("JWKS accepted a broken public key")
	}
}
