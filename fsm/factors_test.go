package fsm

import (
	"reflect"
	"testing"
)

// TestFactors_OneTimeUse walks a TOTP life through the log: a pending
// secret does nothing, a confirmation names the secret it was checked
// against, a step is spent once (and every step before it with it), a
// recovery code once, regenerating voids the old set, a reset forgets it
// all, and a deleted user takes its factors along.
func TestFactors_OneTimeUse(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	st := a.f.State()
	sec := []byte("sealed-secret-1")
	a.must(&TOTPEnrol{UserID: 1, Secret: sec})
	if st.Factors(1).Enabled() {
		t.Fatal("a pending secret turned TOTP on")
	}
	if res := a.apply(&TOTPConfirm{UserID: 1, Pending: SecretDigest([]byte("other")), Step: 10}); res.Code != "factor_changed" {
		t.Fatalf("confirm of another secret: %+v", res)
	}
	rc := []Digest{dg("r1"), dg("r2")}
	if res := a.must(&TOTPConfirm{UserID: 1, Pending: SecretDigest(sec), Step: 10, Recovery: rc, Now: t0}); res.Count != 2 {
		t.Fatalf("confirm: %+v", res)
	}
	if !st.Factors(1).Enabled() {
		t.Fatal("confirmed TOTP is off")
	}
	d := SecretDigest(sec)
	for _, c := range []struct {
		step int64
		want string
	}{{10, "factor_used"}, {9, "factor_used"}, {11, ""}, {11, "factor_used"}, {13, ""}, {12, "factor_used"}} {
		if res := a.apply(&FactorUse{UserID: 1, Secret: &d, Step: c.step}); res.Code != c.want {
			t.Errorf("step %d: %+v, want %q", c.step, res, c.want)
		}
	}
	// A retry of a use that succeeded (same nonce) succeeds again; another
	// use of the same step does not.
	a.must(&FactorUse{Nonce: "u1", UserID: 1, Secret: &d, Step: 20})
	a.must(&FactorUse{Nonce: "u1", UserID: 1, Secret: &d, Step: 20})
	if res := a.apply(&FactorUse{Nonce: "u2", UserID: 1, Secret: &d, Step: 20}); res.Code != "factor_used" {
		t.Errorf("another use of a spent step: %+v", res)
	}
	if res := a.apply(&FactorUse{UserID: 1, Secret: dp(SecretDigest([]byte("x"))), Step: 99}); res.Code != "factor_changed" {
		t.Errorf("use against another secret: %+v", res)
	}
	if res := a.must(&FactorUse{UserID: 1, Recovery: dp(dg("r2"))}); res.Count != 1 {
		t.Errorf("recovery use: %+v", res)
	}
	if res := a.apply(&FactorUse{UserID: 1, Recovery: dp(dg("r2"))}); res.Code != "factor_used" {
		t.Errorf("recovery reuse: %+v", res)
	}
	a.must(&SetRecoveryCodes{UserID: 1, Recovery: []Digest{dg("r3")}, Now: t0})
	if res := a.apply(&FactorUse{UserID: 1, Recovery: dp(dg("r1"))}); res.Code != "factor_used" {
		t.Errorf("a code of the voided set: %+v", res)
	}

	// A password-only session is refused by the log while TOTP is on
	// (a node that had not applied the enrolment checked no code).
	pwOnly := newSession(1, "pw-only")
	pwOnly.Session.AMR = AMRPwd
	if res := a.apply(pwOnly); res.Code != "second_factor_required" {
		t.Errorf("password-only session: %+v", res)
	}
	pwOnly.Session.AMR = 0 // a login made before methods were recorded
	if res := a.apply(pwOnly); res.Code != "second_factor_required" {
		t.Errorf("session without methods: %+v", res)
	}
	pwOnly.SingleFactor = true // an allowed password-only login (policy)
	a.must(pwOnly)
	mfa := newSession(1, "mfa")
	mfa.Session.AMR = AMRPwd | AMROTP
	a.must(mfa)

	// A snapshot carries the record; the restored state is the same.
	g := restoreBytes(t, snapshotBytes(t, a.f))
	if !reflect.DeepEqual(g.State().Factors(1), st.Factors(1)) {
		t.Errorf("restored %+v, want %+v", g.State().Factors(1), st.Factors(1))
	}

	a.must(&ResetFactors{UserID: 1})
	if st.Factors(1) != nil {
		t.Fatal("reset left factors")
	}
	if res := a.apply(&FactorUse{UserID: 1, Secret: &d, Step: 50}); res.Code != "no_second_factor" {
		t.Errorf("use after reset: %+v", res)
	}
	a.must(&TOTPEnrol{UserID: 1, Secret: sec})
	a.must(&DeleteUser{UserID: 1})
	if st.Factors(1) != nil {
		t.Fatal("a deleted user kept its factors")
	}
}

// TestFactors_FormatV3 gates every second-factor command and a session
// that says how it was made; a login without those fields needs nothing.
func TestFactors_FormatV3(t *testing.T) {
	for _, c := range []struct {
		cmd  Command
		want int
	}{
		{&TOTPEnrol{UserID: 1, Secret: []byte{1}}, FormatV3},
		{&FactorUse{UserID: 1, Step: 3}, FormatV3},
		{&ResetFactors{UserID: 1}, FormatV3},
		{&CreateSession{Session: Session{ID: "s", Name: "amr"}}, FormatBase},
		{&CreateSession{Session: Session{ID: "s", AuthTime: 1}}, FormatV3},
		{&CreateSession{Session: Session{ID: "s", AMR: AMRPwd}}, FormatV3},
		{&SetSettings{Settings: DefaultSettings()}, FormatBase},
		{&SetSettings{Settings: Settings{DialectPasswordWith2FA: true}}, FormatV3},
		{&SetSettings{Settings: Settings{Require2FAAdmins: true}}, FormatV3},
		{&SetSettings{Settings: Settings{Require2FADBs: "acme"}}, FormatV3},
	} {
		if got := FormatNeeded(c.cmd); got != c.want {
			t.Errorf("%T %+v: FormatNeeded %d, want %d", c.cmd, c.cmd, got, c.want)
		}
		if got := EntryFormatNeeded(MustEncode(c.cmd)); got != c.want {
			t.Errorf("%T %+v: EntryFormatNeeded %d, want %d", c.cmd, c.cmd, got, c.want)
		}
	}
}

// TestSession_AuthTimeRoundTrip: the new fields survive a snapshot, and a
// session without them keeps the bytes it had (so older snapshots and
// state hashes do not move).
func TestSession_AuthTimeRoundTrip(t *testing.T) {
	s := Session{ID: "x", Digest: dg("x"), Kind: KindNative, UserID: 1, Created: t0}
	plain := appendSession(nil, &s)
	s.AuthTime, s.AMR = t0+5, AMRPwd|AMRHwk
	got, err := readSession(appendSession(nil, &s))
	if err != nil || *got != s {
		t.Fatalf("readSession = %+v, %v; want %+v", got, err, s)
	}
	if len(appendSession(nil, &Session{ID: "x", Digest: dg("x"), Kind: KindNative, UserID: 1, Created: t0})) != len(plain) {
		t.Fatal("a session without the new fields changed size")
	}
	if old, _ := readSession(plain); old.AuthAt() != t0 || old.Methods() != AMRPwd {
		t.Errorf("an older session reads auth %d %v, want its creation and pwd", old.AuthAt(), old.Methods())
	}
	if n := (AMRPwd | AMROTP).Names(); !reflect.DeepEqual(n, []string{"pwd", "otp", "mfa"}) {
		t.Errorf("Names = %v", n)
	}
}

// TestChallenges_SingleUse: a challenge is taken once; a second take, an
// expired one and an unknown one are refused; a user's challenges are
// bounded (oldest out) and expired ones dropped; they survive a snapshot.
func TestChallenges_SingleUse(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	st := a.f.State()
	put := func(id string, created, expires int64) {
		a.must(&PutChallenge{Challenge: Challenge{ID: dg(id), UserID: 1, Kind: "portal_2fa", Created: created, Expires: expires}})
	}
	put("c1", t0, t0+minute)
	if g := restoreBytes(t, snapshotBytes(t, a.f)); g.State().Challenge(dg("c1")) == nil {
		t.Fatal("a snapshot lost the challenge")
	}
	a.must(&TakeChallenge{ID: dg("c1"), Now: t0 + 1})
	if res := a.apply(&TakeChallenge{ID: dg("c1"), Now: t0 + 2}); res.Code != "challenge_gone" {
		t.Fatalf("second take: %+v", res)
	}
	put("c2", t0, t0+minute)
	if res := a.apply(&TakeChallenge{ID: dg("c2"), Now: t0 + minute}); res.Code != "challenge_gone" {
		t.Fatalf("expired take: %+v", res)
	}
	for i := 0; i < MaxChallengesPerUser+3; i++ {
		put(string(rune('a'+i)), t0+int64(i), t0+hour)
	}
	if st.Challenge(dg("a")) != nil || st.Challenge(dg(string(rune('a'+MaxChallengesPerUser+2)))) == nil {
		t.Fatal("the bound did not drop the oldest")
	}
	put("late", t0+2*hour, t0+3*hour) // every earlier one has expired
	n := 0
	for _, c := range st.challenges {
		if c != nil {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d challenges after the others expired, want 1", n)
	}
}

// TestAppPasswords_RevokedRefusedByTheLog: a session made with an app
// password is accepted for an account with TOTP (the dialects cannot
// carry a code), and refused once the app password is revoked, whichever
// node checked it; a reset of the second factor keeps app passwords.
func TestAppPasswords_RevokedRefusedByTheLog(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	sec := []byte("s")
	a.must(&TOTPEnrol{UserID: 1, Secret: sec})
	a.must(&TOTPConfirm{UserID: 1, Pending: SecretDigest(sec), Step: 1, Now: t0})
	a.must(&PutAppPassword{UserID: 1, AppPassword: AppPassword{ID: "ap1", Name: "odoo", Digest: dg("x"), Created: t0}})
	s1 := newSession(1, "with-ap")
	s1.Session.Kind, s1.Session.AMR, s1.AppPassword = KindOdoo, AMRPwd, "ap1"
	a.must(s1)
	a.must(&ResetFactors{UserID: 1})
	if f := a.f.State().Factors(1); f == nil || len(f.AppPasswords) != 1 || f.Enabled() {
		t.Fatalf("after reset: %+v", f)
	}
	a.must(&DeleteAppPassword{UserID: 1, ID: "ap1"})
	s2 := newSession(1, "after-revoke")
	s2.Session.Kind, s2.Session.AMR, s2.AppPassword = KindOdoo, AMRPwd, "ap1"
	if res := a.apply(s2); res.Code != "user_changed" {
		t.Fatalf("a revoked app password's session: %+v", res)
	}
}
