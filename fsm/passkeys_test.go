package fsm

import (
	"reflect"
	"testing"
)

// TestPasskeys_SignCountAndOwnership walks a passkey through the log: a
// credential id is one user's only (another user's put is refused, the
// same user's retry succeeds), a use must move a counting key's sign
// count forward (a replayed or cloned count is refused, in log order), a
// key that does not count (0) stays usable, a removed key's use is
// refused, a snapshot carries the record and a deleted user takes it
// along.
func TestPasskeys_SignCountAndOwnership(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	a.must(newUser("bob"))
	st := a.f.State()
	k := Passkey{ID: []byte("cred-1"), PublicKey: []byte("cose"), SignCount: 5, Name: "yubikey", Created: t0}
	if res := a.must(&PutPasskey{UserID: 1, Passkey: k}); res.Count != 1 {
		t.Fatalf("put: %+v", res)
	}
	a.must(&PutPasskey{UserID: 1, Passkey: k}) // a retry
	if res := a.apply(&PutPasskey{UserID: 2, Passkey: k}); res.Code != "passkey_exists" {
		t.Fatalf("another user's credential id: %+v", res)
	}
	if res := a.apply(&PutPasskey{UserID: 2, Passkey: Passkey{ID: []byte("x")}}); res.Code != "bad_command" {
		t.Fatalf("a passkey without a key: %+v", res)
	}
	for _, c := range []struct {
		count uint32
		want  string
	}{{5, "passkey_sign_count"}, {4, "passkey_sign_count"}, {6, ""}, {6, "passkey_sign_count"}, {0, "passkey_sign_count"}, {9, ""}} {
		if res := a.apply(&PasskeyUse{UserID: 1, ID: k.ID, SignCount: c.count, Now: t0 + 1}); res.Code != c.want {
			t.Errorf("count %d: %+v, want %q", c.count, res, c.want)
		}
	}
	if got := st.Passkeys(1).Find(k.ID); got.SignCount != 9 || got.LastUsed != t0+1 {
		t.Errorf("after uses: %+v", got)
	}
	if res := a.apply(&PasskeyUse{UserID: 2, ID: k.ID, SignCount: 10}); res.Code != "no_passkey" {
		t.Errorf("a use naming another user: %+v", res)
	}
	synced := Passkey{ID: []byte("cred-2"), PublicKey: []byte("cose2"), Name: "phone", Created: t0}
	a.must(&PutPasskey{UserID: 1, Passkey: synced})
	a.must(&PasskeyUse{UserID: 1, ID: synced.ID, SignCount: 0})
	a.must(&PasskeyUse{UserID: 1, ID: synced.ID, SignCount: 0})
	if res := a.must(&RenamePasskey{UserID: 1, ID: synced.ID, Name: "pixel"}); res.Count != 1 || st.Passkeys(1).Find(synced.ID).Name != "pixel" {
		t.Errorf("rename: %+v", res)
	}

	g := restoreBytes(t, snapshotBytes(t, a.f))
	if !reflect.DeepEqual(g.State().Passkeys(1), st.Passkeys(1)) {
		t.Errorf("restored %+v, want %+v", g.State().Passkeys(1), st.Passkeys(1))
	}
	h1, _ := a.f.StateHash()
	h2, _ := g.StateHash()
	if h1 != h2 {
		t.Error("restored state hash differs")
	}

	if res := a.must(&DeletePasskey{UserID: 1, ID: k.ID}); res.Count != 1 {
		t.Errorf("delete: %+v", res)
	}
	if res := a.apply(&PasskeyUse{UserID: 1, ID: k.ID, SignCount: 50}); res.Code != "no_passkey" {
		t.Errorf("use of a removed key: %+v", res)
	}
	a.must(&DeleteUser{UserID: 1})
	if st.Passkeys(1) != nil {
		t.Fatal("a deleted user kept its passkeys")
	}
	a.must(&PutPasskey{UserID: 2, Passkey: k}) // free again
}

// TestPasskeys_AnonymousLoginChallenges: a passwordless sign-in's
// challenge names no user (only that kind may), and a flood of them is
// bounded: the oldest go.
func TestPasskeys_AnonymousLoginChallenges(t *testing.T) {
	a := &applier{t: t, f: New()}
	if res := a.apply(&PutChallenge{Challenge: Challenge{ID: dg("x"), Kind: "portal_2fa", Created: t0, Expires: t0 + 10}}); res.Code != "user_not_found" {
		t.Fatalf("an anonymous challenge of another kind: %+v", res)
	}
	for i := range MaxAnonChallenges + 5 {
		a.must(&PutChallenge{Challenge: Challenge{ID: dg(string(rune(i + 1000))), Kind: ChallengePasskeyLogin, Created: t0 + int64(i), Expires: t0 + 1e12}})
	}
	if n := len(a.f.State().challenges); n != MaxAnonChallenges {
		t.Fatalf("%d anonymous challenges kept, want %d", n, MaxAnonChallenges)
	}
	if res := a.apply(&TakeChallenge{ID: dg(string(rune(1000))), Now: t0}); res.Code != "challenge_gone" {
		t.Errorf("the oldest was kept: %+v", res)
	}
	a.must(&TakeChallenge{ID: dg(string(rune(1000 + MaxAnonChallenges + 4))), Now: t0})
}

// TestPasskeys_FormatV3 gates every passkey command.
func TestPasskeys_FormatV3(t *testing.T) {
	for _, c := range []Command{&PutPasskey{}, &RenamePasskey{}, &DeletePasskey{}, &PasskeyUse{}} {
		if FormatNeeded(c) != FormatV3 || EntryFormatNeeded(MustEncode(c)) != FormatV3 {
			t.Errorf("%T: not gated at FormatV3", c)
		}
	}
}

// TestPasskeys_AdminResetRemovesThem: the user turning TOTP off keeps
// their passkeys; an admin's reset (Passkeys) removes them with the rest,
// so a key lost with the phone no longer signs anyone in.
func TestPasskeys_AdminResetRemovesThem(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	st := a.f.State()
	a.must(&PutPasskey{UserID: 1, Passkey: Passkey{ID: []byte("cred-1"), PublicKey: []byte("cose"), Name: "key", Created: t0}})
	a.must(&TOTPEnrol{UserID: 1, Secret: []byte("pending")})
	a.must(&ResetFactors{UserID: 1})
	if st.Passkeys(1) == nil || st.Factors(1) != nil {
		t.Fatalf("the owner's TOTP off: passkeys %v, factors %+v", st.Passkeys(1), st.Factors(1))
	}
	if res := a.must(&ResetFactors{UserID: 1, Passkeys: true}); res.Count != 1 || st.Passkeys(1) != nil {
		t.Fatalf("an admin's reset: %+v, passkeys left %+v", res, st.Passkeys(1))
	}
	if res := a.apply(&PasskeyUse{UserID: 1, ID: []byte("cred-1"), SignCount: 1}); res.Code == "" {
		t.Error("a removed passkey still signs in")
	}
}
