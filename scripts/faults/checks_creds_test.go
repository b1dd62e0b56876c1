package faults

import (
	"encoding/base64"
	"testing"
)

// jwtWithKid is a token shaped like a JWT whose header names kid (the
// signature is not checked by the checkers).
func jwtWithKid(kid, sub string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","kid":"`+kid+`","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"`+sub+`"}`)) + ".c2ln"
}

// P2-key fails a JWT accepted after its key's revocation was acknowledged,
// even one issued after the revocation (a lagging node signed it), and
// passes a history whose acceptances come before; P1 leaves such tokens
// out, and P3 counts them as revoked, not lost.
func TestCheckKeyRevocation(t *testing.T) {
	a, b := jwtWithKid("k1", "alice"), jwtWithKid("k1", "bob")
	base := func() *hb {
		return newHB().
			login("alice", a, 0, 10).
			validate("alice", a, "consistent", "n2", 20, 30, true).
			add(Op{Kind: KeyRevoke, User: "keys", Kid: "k1", Call: ms(40), Return: ms(50)}).
			login("bob", b, 45, 60) // signed by a node that had not applied the revocation
	}
	if v := CheckKeyRevocation(base().validate("alice", a, "default", "n3", 55, 56, false).h); v.Result != Pass {
		t.Fatalf("clean history: %+v", v)
	}
	for _, tok := range []string{a, b} {
		h := base().validate("x", tok, "default", "n3", 70, 71, true).h
		if v := CheckKeyRevocation(h); v.Result != Fail {
			t.Errorf("a JWT of a revoked key accepted after the acknowledgement passed: %+v", v)
		}
		if v := CheckLinearizable(h, 0, ""); v.Result == Fail {
			t.Errorf("P1 judged a key-revoked token: %+v", v)
		}
	}
	h := base().sweep("bob", b, "n1", 100, false).h
	if v := CheckDurability(h, h.Base); v.Result != Pass {
		t.Errorf("a token of a revoked key refused in the sweep counted as lost: %+v", v)
	}
	if jwtKid(tokA) != "" || jwtKid(a) != "k1" {
		t.Error("jwtKid reads opaque tokens or misreads a JWT header")
	}
}

// P2-client fails a client accepted after its deletion was acknowledged,
// and not one accepted before or refused after.
func TestCheckClientRevocation(t *testing.T) {
	base := func() *hb {
		return newHB().
			add(Op{Kind: ClientAuth, Token: "c1", Call: ms(0), Return: ms(5), Valid: true}).
			add(Op{Kind: ClientDelete, Token: "c1", Call: ms(10), Return: ms(20)}).
			add(Op{Kind: ClientAuth, Token: "c1", Node: "n2", Call: ms(15), Return: ms(18), Valid: true}) // overlaps: allowed
	}
	v := CheckClientRevocation(base().add(Op{Kind: ClientAuth, Token: "c1", Node: "n3", Call: ms(25), Return: ms(26)}).h)
	if v.Result != Pass {
		t.Fatalf("clean history: %+v", v)
	}
	if n, _ := firstCount(v.Detail); n != 1 {
		t.Errorf("checked %d authentications after the deletion, want 1", n)
	}
	if v := CheckClientRevocation(base().add(Op{Kind: ClientAuth, Token: "c1", Node: "n3", Call: ms(25), Return: ms(26), Valid: true}).h); v.Result != Fail {
		t.Errorf("a deleted client accepted after the acknowledgement passed: %+v", v)
	}
}
