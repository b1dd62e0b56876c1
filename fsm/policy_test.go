package fsm

import "testing"

// TestPolicy_DialectLoginsOfCoveredUsers is the attack of issue 26's
// review on the log: with require_2fa_admins or require_2fa_dbs, a
// covered user without a second factor still got a seed dialect's
// session with the password alone, from any node. The log now refuses
// it at the index where the policy is in force (so a node that had not
// applied the policy yet cannot let one through), unless the operator
// allows dialect passwords; the native API's session is made (it is
// how the user signs in to enrol; the API limits it), and so is a
// two-factor one.
func TestPolicy_DialectLoginsOfCoveredUsers(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("ada"))
	a.must(&UpdateUser{UserID: 1, Admin: bp(true), Now: t0})
	a.must(newUser("ned"))
	set := DefaultSettings()
	n := 0
	login := func(uid uint64, k Kind, amr AMR, ap string) Result {
		n++
		c := newSession(uid, "s"+string(rune('a'+n)))
		c.Session.Kind, c.Session.AMR, c.Session.AuthTime, c.AppPassword = k, amr, t0, ap
		return a.apply(c)
	}
	for _, k := range []Kind{KindOdoo, KindJWT, KindKnox, KindNative} {
		if res := login(1, k, AMRPwd, ""); res.Code != "" {
			t.Fatalf("no policy, %s: %+v", k, res)
		}
	}
	set.Require2FAAdmins = true
	a.must(&SetSettings{Settings: set})
	for _, k := range []Kind{KindOdoo, KindJWT, KindKnox} {
		if res := login(1, k, AMRPwd, ""); res.Code != "second_factor_required" {
			t.Errorf("covered admin, %s, password alone: %+v", k, res)
		}
		if res := login(2, k, AMRPwd, ""); res.Code != "" {
			t.Errorf("uncovered user, %s: %+v", k, res)
		}
	}
	if res := login(1, KindNative, AMRPwd, ""); res.Code != "" {
		t.Errorf("covered admin on the native API (to enrol): %+v", res)
	}
	a.must(&PutAppPassword{UserID: 1, AppPassword: AppPassword{ID: "ap", Name: "x", Digest: dg("ap"), Created: t0}})
	if res := login(1, KindKnox, AMRPwd, "ap"); res.Code != "second_factor_required" {
		t.Errorf("covered admin without a second factor, app password: %+v", res)
	}
	set.Require2FADBs = "db1"
	a.must(&SetSettings{Settings: set})
	if res := login(2, KindKnox, AMRPwd, ""); res.Code != "second_factor_required" {
		t.Errorf("user of a covered db: %+v", res)
	}
	set.DialectPasswordWith2FA = true
	a.must(&SetSettings{Settings: set})
	for _, ap := range []string{"", "ap"} {
		if res := login(1, KindKnox, AMRPwd, ap); res.Code != "" {
			t.Errorf("the operator allows dialect passwords (app password %q): %+v", ap, res)
		}
	}
	set.DialectPasswordWith2FA = false
	a.must(&SetSettings{Settings: set})
	// With a second factor, the app password is what the dialects take.
	sec := []byte("s")
	a.must(&TOTPEnrol{UserID: 1, Secret: sec})
	a.must(&TOTPConfirm{UserID: 1, Pending: SecretDigest(sec), Step: 1, Now: t0})
	if res := login(1, KindKnox, AMRPwd, "ap"); res.Code != "" {
		t.Errorf("covered admin with TOTP, app password: %+v", res)
	}
	if res := login(1, KindKnox, AMRPwd, ""); res.Code != "second_factor_required" {
		t.Errorf("covered admin with TOTP, password alone: %+v", res)
	}
	if res := login(1, KindNative, AMRPwd|AMROTP, ""); res.Code != "" {
		t.Errorf("two factors: %+v", res)
	}
	if u, _ := a.f.State().User(2); !a.f.State().Settings().SecondFactorRequired(u) {
		t.Error("SecondFactorRequired misses a covered db")
	}
}
