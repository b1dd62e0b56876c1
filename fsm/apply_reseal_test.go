package fsm

import (
	"crypto/sha256"
	"testing"
)

// A reseal replaces the sealed material only when computed from what the
// key holds now: a retry, or a reseal raced by another, changes nothing.
func TestApply_ResealKey(t *testing.T) {
	s := newState()
	s.apply(&PutKey{Key: SigningKey{Kid: "k", Alg: "HS256", Secret: []byte("old")}, Activate: true}, 1)
	if res := s.apply(&ResealKey{Kid: "k", From: sha256.Sum256([]byte("old")), Secret: []byte("new")}, 2); res.Code != "" {
		t.Fatalf("reseal: %+v", res)
	}
	if k, _ := s.Key("k"); string(k.Secret) != "new" {
		t.Fatalf("secret %q, want new", k.Secret)
	}
	if res := s.apply(&ResealKey{Kid: "k", From: sha256.Sum256([]byte("old")), Secret: []byte("other")}, 3); res.Code != "" {
		t.Fatalf("stale reseal: %+v", res)
	}
	if k, _ := s.Key("k"); string(k.Secret) != "new" || s.Settings().JWTActiveKid != "k" {
		t.Fatalf("a stale reseal changed the key: %q", k.Secret)
	}
	if res := s.apply(&ResealKey{Kid: "nope", Secret: []byte("x")}, 4); res.Code == "" {
		t.Fatal("reseal of a missing key succeeded")
	}
}
