package fsm

import (
	"testing"
)

// apSession is a knox login of uid named id made with app password ap.
func apSession(uid uint64, id, ap string) *CreateSession {
	c := newSession(uid, id)
	c.Session.Kind, c.Session.AMR, c.Session.AuthTime, c.AppPassword = KindKnox, AMRPwd, t0, ap
	return c
}

// TestAppPasswords_RevokeEndsSessions is the attack of issue 26's review:
// a token made with an app password outlived the app password's
// revocation. Revoking it ends exactly the sessions made with it, on the
// log (so on every replica at one index), with session.ended events
// whose reason says why; a session remembers its app password across a
// snapshot, and a retry of the revocation ends nothing more.
func TestAppPasswords_RevokeEndsSessions(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	a.must(newUser("bob"))
	for _, ap := range []string{"ap1", "ap2"} {
		a.must(&PutAppPassword{UserID: 1, AppPassword: AppPassword{ID: ap, Name: ap, Digest: dg(ap), Created: t0}})
	}
	a.must(apSession(1, "k1", "ap1"))
	a.must(apSession(1, "k2", "ap1"))
	a.must(apSession(1, "k3", "ap2"))
	a.must(newSession(1, "n1")) // the password's own session
	a.must(&PutAppPassword{UserID: 2, AppPassword: AppPassword{ID: "ap1", Name: "same id", Digest: dg("b"), Created: t0}})
	a.must(apSession(2, "b1", "ap1")) // another user's: revoking alice's leaves it
	if got, _ := a.f.State().Session(dg("k1")); got == nil || got.AppPassword != "ap1" {
		t.Fatalf("the session does not remember its app password: %+v", got)
	}
	// A restored replica must end the same sessions.
	g := &applier{t: t, f: restoreBytes(t, snapshotBytes(t, a.f)), idx: a.idx}
	for _, x := range []*applier{a, g} {
		_, _, before := x.f.State().EventBounds()
		if res := x.must(&DeleteAppPassword{UserID: 1, ID: "ap1"}); res.Count != 1 {
			t.Fatalf("revoke: %+v", res)
		}
		wantSessions(t, x.f.State(), 1, "k3,n1")
		wantSessions(t, x.f.State(), 2, "b1")
		evs, _, _ := x.f.State().EventsAfter(before, 10)
		var ended []string
		for _, e := range evs {
			if e.Type != EventSessionEnded || e.Reason != ReasonAppPasswordRevoked {
				t.Errorf("event %+v, want session.ended for %s", e, ReasonAppPasswordRevoked)
			}
			ended = append(ended, e.SessionID)
		}
		if len(ended) != 2 || ended[0] != "k1" || ended[1] != "k2" {
			t.Errorf("ended %v, want [k1 k2]", ended)
		}
		if res := x.must(&DeleteAppPassword{UserID: 1, ID: "ap1"}); res.Count != 0 {
			t.Errorf("a retry: %+v", res)
		}
		wantSessions(t, x.f.State(), 1, "k3,n1")
	}
	if ha, _ := a.f.StateHash(); ha != func() string { h, _ := g.f.StateHash(); return h }() {
		t.Error("the restored replica diverged")
	}
	if !TypeDeleteAppPassword.Narrows() {
		t.Error("the revocation is acknowledged before lease holders stop accepting its sessions")
	}
}

// TestSession_AppPasswordRoundTrip: the field survives the binary codec,
// alone or after the methods, and a session without it keeps its bytes.
func TestSession_AppPasswordRoundTrip(t *testing.T) {
	base := Session{ID: "x", Digest: dg("x"), Kind: KindKnox, UserID: 1, Created: t0}
	plain := appendSession(nil, &base)
	for _, s := range []Session{
		{ID: "x", Digest: dg("x"), Kind: KindKnox, UserID: 1, Created: t0, AppPassword: "ap1"},
		{ID: "x", Digest: dg("x"), Kind: KindKnox, UserID: 1, Created: t0, AuthTime: t0, AMR: AMRPwd, AppPassword: "ap1"},
	} {
		b := appendSession(nil, &s)
		got, err := readSession(b)
		if err != nil || *got != s {
			t.Fatalf("readSession = %+v, %v; want %+v", got, err, s)
		}
		if _, err := readSession(b[:len(b)-1]); err == nil {
			t.Error("a cut app password read without error")
		}
	}
	if got, err := readSession(plain); err != nil || *got != base {
		t.Fatalf("plain: %+v %v", got, err)
	}
}
