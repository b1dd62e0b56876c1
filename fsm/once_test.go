package fsm

import (
	"bytes"
	"fmt"
	"testing"
)

// TestOnce_RetryOfEachWriteAppliesOnce applies each retry-prone write,
// then what happened in between (a login, another update), then the very
// same entry again, as a node does that did not learn the first outcome.
// Without nonces each second copy undoes or repeats something.
func TestOnce_RetryOfEachWriteAppliesOnce(t *testing.T) {
	logoutall := &RevokeUserSessions{UserID: 1, Nonce: "req-logoutall", At: t0}
	failed := &LoginFailed{UserID: 2, At: t0, Threshold: 5, LockFor: minute, Window: hour, Nonce: "req-failed"}
	rename := &UpdateUser{UserID: 2, Name: sp("first"), Now: t0, Nonce: "req-rename"}
	password := &UpdateUser{UserID: 1, PasswordHash: sp("hash-2"), Now: t0, Nonce: "req-password"}
	runScenarios(t, []scenario{
		{"logoutall does not end a later login", after(aliceAndBob(),
			step{logoutall, Result{UserID: 1, Count: 2}},
			step{newSession(1, "a3"), Result{UserID: 1, SessionID: "a3"}},
			step{logoutall, Result{UserID: 1, Count: 2}}, // the first answer
		), func(t *testing.T, s *State) { wantSessions(t, s, 1, "a3") }},
		{"a failed login counts once", after(aliceAndBob(),
			step{failed, Result{UserID: 2, Count: 1}},
			step{failed, Result{UserID: 2, Count: 1}},
		), func(t *testing.T, s *State) {
			if u, _ := s.User(2); u.FailedLogins != 1 {
				t.Errorf("FailedLogins = %d, want 1", u.FailedLogins)
			}
		}},
		{"an update does not overwrite a later one", after(aliceAndBob(),
			step{rename, Result{UserID: 2}},
			step{&UpdateUser{UserID: 2, Name: sp("second"), Now: t0 + 1, Nonce: "req-other"}, Result{UserID: 2}},
			step{rename, Result{UserID: 2}},
		), func(t *testing.T, s *State) {
			if u, _ := s.User(2); u.Name != "second" {
				t.Errorf("Name = %q, want the later update's", u.Name)
			}
		}},
		{"a password change does not end the new password's logins", after(aliceAndBob(),
			step{password, Result{UserID: 1, Count: 2}},
			step{&CreateSession{Session: Session{ID: "a3", Digest: dg("a3"), Kind: KindNative, UserID: 1, Created: t0, ExpiresAt: t0 + hour},
				UserVersion: 2}, Result{UserID: 1, SessionID: "a3"}},
			step{password, Result{UserID: 1, Count: 2}},
		), func(t *testing.T, s *State) {
			wantSessions(t, s, 1, "a3")
			if u, _ := s.User(1); u.Version != 2 {
				t.Errorf("Version = %d, want 2 (one change)", u.Version)
			}
		}},
		{"without a nonce a retry applies again (the old form)", after(aliceAndBob(),
			step{&LoginFailed{UserID: 2, At: t0, Threshold: 5, LockFor: minute, Window: hour}, Result{UserID: 2, Count: 1}},
			step{&LoginFailed{UserID: 2, At: t0, Threshold: 5, LockFor: minute, Window: hour}, Result{UserID: 2, Count: 2}},
		), nil},
		{"a retried take of a sign-in step answers as the first", after(aliceAndBob(),
			step{&PutChallenge{Challenge: Challenge{ID: dg("step"), UserID: 1, Kind: "portal_2fa", Created: t0, Expires: t0 + minute}},
				Result{UserID: 1, Count: 1}},
			step{&TakeChallenge{ID: dg("step"), Now: t0 + 1, Nonce: "req-take"}, Result{UserID: 1, Count: 1}},
			step{&TakeChallenge{ID: dg("step"), Now: t0 + 1, Nonce: "req-take"}, Result{UserID: 1, Count: 1}},
			step{&TakeChallenge{ID: dg("step"), Now: t0 + 2, Nonce: "req-other"}, Result{Code: "challenge_gone"}},
		), nil},
		{"a refused write is not remembered", after(aliceAndBob(),
			step{&RevokeUserSessions{UserID: 9, Nonce: "req-x", At: t0}, Result{Code: "user_not_found"}},
			step{newUser("carol"), Result{UserID: 3}},
		), func(t *testing.T, s *State) {
			if s.Remembered("req-x") {
				t.Error("a refused write's nonce is remembered")
			}
		}},
	})
}

// TestOnce_ForgetsByTimeAndCount checks both bounds of the memory: a nonce
// older than OnceWindow (by the time of a later request) is forgotten, and
// past OnceMax the oldest goes first.
func TestOnce_ForgetsByTimeAndCount(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	fail := func(nonce string, at int64) Result {
		return a.must(&LoginFailed{UserID: 1, At: at, Nonce: nonce})
	}
	fail("old", t0)
	fail("young", t0+OnceWindow/2)
	s := a.f.State()
	if !s.Remembered("old") || !s.Remembered("young") {
		t.Fatal("nonces within the window forgotten")
	}
	fail("late", t0+OnceWindow+1)
	if s.Remembered("old") || !s.Remembered("young") || !s.Remembered("late") {
		t.Fatalf("after the window: old %v young %v late %v, want false true true",
			s.Remembered("old"), s.Remembered("young"), s.Remembered("late"))
	}
	for i := range OnceMax {
		fail(fmt.Sprint("n", i), t0+OnceWindow+2)
	}
	if s.Remembered("young") || s.Remembered("late") || !s.Remembered("n0") || !s.Remembered(fmt.Sprint("n", OnceMax-1)) {
		t.Error("past OnceMax the oldest nonces should go first, and only they")
	}
	if n := len(s.once.order) - s.once.head; n != OnceMax {
		t.Errorf("%d nonces remembered, want %d", n, OnceMax)
	}
}

// TestOnce_SnapshotKeepsNonces restores a snapshot taken after a logoutall
// and replays the retry on the restored state: it is still a no-op, and
// the restored state writes back the same bytes (the order survives).
func TestOnce_SnapshotKeepsNonces(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	a.must(newSession(1, "a1"))
	retry := &RevokeUserSessions{UserID: 1, Nonce: "req-1", At: t0}
	a.must(retry)
	a.must(&LoginFailed{UserID: 1, At: t0 + 1, Nonce: "req-2"})
	a.must(newSession(1, "a2"))
	b := snapshotBytes(t, a.f)
	f := restoreBytes(t, b)
	if again := snapshotBytes(t, f); !bytes.Equal(again, b) {
		t.Fatal("restored state writes different bytes")
	}
	b2 := &applier{t: t, f: f, idx: a.idx}
	if res := b2.must(retry); res.Count != 1 {
		t.Errorf("retry after restore answered %+v, want the first answer (Count 1)", res)
	}
	wantSessions(t, f.State(), 1, "a2")
	a.must(retry) // the replica that never restored applies the same entry
	h1, _ := a.f.StateHash()
	h2, _ := f.StateHash()
	if h1 != h2 {
		t.Error("replica and restored copy differ after the same retry")
	}
}

// TestOnce_FormatGate checks that a nonce raises the format a command
// needs, in both the command and the encoded entry, and that WithinFormat
// gives the old form below FormatV3 without touching the caller's value.
func TestOnce_FormatGate(t *testing.T) {
	cmds := []Command{
		&RevokeUserSessions{UserID: 1, Nonce: "n", At: t0},
		&LoginFailed{UserID: 1, At: t0, Nonce: "n"},
		&UpdateUser{UserID: 1, Name: sp("x"), Now: t0, Nonce: "n"},
	}
	for _, c := range cmds {
		if got := FormatNeeded(c); got != FormatV3 {
			t.Errorf("FormatNeeded(%T with nonce) = %d, want FormatV3", c, got)
		}
		if got := EntryFormatNeeded(MustEncode(c)); got != FormatV3 {
			t.Errorf("EntryFormatNeeded(%T with nonce) = %d, want FormatV3", c, got)
		}
		old := WithinFormat(c, FormatOperator)
		if got := FormatNeeded(old); got > FormatOperator {
			t.Errorf("WithinFormat(%T, FormatOperator) still needs %d", c, got)
		}
		if nonce, _ := requestOf(c); nonce != "n" {
			t.Errorf("WithinFormat changed the caller's %T", c)
		}
		if WithinFormat(c, FormatV3) != c {
			t.Errorf("WithinFormat(%T, FormatV3) should keep the command", c)
		}
	}
	op := &UpdateUser{UserID: 1, Operator: bp(true), Nonce: "n"}
	if got := FormatNeeded(WithinFormat(op, FormatOperator)); got != FormatOperator {
		t.Errorf("an operator grant without its nonce needs %d, want FormatOperator", got)
	}
}

// TestOnce_LoginRetryDoesNotUndoARevocation is what the fault suite saw
// under pause-leader as a session ended twice: a login committed by a
// leader that lost its leadership before answering is retried by its node
// with the same bytes; if a revocation of that session (by id, or a
// logoutall) lands between the two copies, the second copy must not create
// the session again. With Once (FormatV3) it answers as the first did;
// the old form (below FormatV3) creates it again, as it always did.
func TestOnce_LoginRetryDoesNotUndoARevocation(t *testing.T) {
	login := func(once bool) *CreateSession {
		c := newSession(1, "a3")
		c.Once = once
		return c
	}
	byID := &RevokeSession{ID: "a3"}
	revoked := Result{UserID: 1, SessionID: "a3", Count: 1}
	logoutall := &RevokeUserSessions{UserID: 1}
	created := Result{UserID: 1, SessionID: "a3"}
	runScenarios(t, []scenario{
		{"revoke by id, then the retry", after(aliceAndBob(),
			step{login(true), created},
			step{byID, revoked},
			step{login(true), created},
		), func(t *testing.T, s *State) {
			wantSessions(t, s, 1, "a1,a2")
			wantEndedOnce(t, s, "a3")
		}},
		{"logoutall, then the retry", after(aliceAndBob(),
			step{login(true), created},
			step{logoutall, Result{UserID: 1, Count: 3}},
			step{login(true), created},
		), func(t *testing.T, s *State) {
			wantSessions(t, s, 1, "")
			wantEndedOnce(t, s, "a3")
		}},
		{"the old form creates it again", after(aliceAndBob(),
			step{login(false), created},
			step{byID, revoked},
			step{login(false), created},
		), func(t *testing.T, s *State) { wantSessions(t, s, 1, "a1,a2,a3") }},
	})
	if FormatNeeded(login(true)) != FormatV3 {
		t.Error("a login with Once may enter the log below FormatV3")
	}
	if c := WithinFormat(login(true), FormatOperator).(*CreateSession); c.Once {
		t.Error("WithinFormat below FormatV3 keeps Once")
	}
}

// wantEndedOnce checks the event log holds one session.created and one
// session.ended for the session id.
func wantEndedOnce(t *testing.T, s *State, id string) {
	t.Helper()
	evs, _, err := s.EventsAfter(EventID{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range evs {
		if e.SessionID == id {
			n[e.Type]++
		}
	}
	if n[EventSessionCreated] != 1 || n[EventSessionEnded] != 1 {
		t.Errorf("events of %s: %v, want one created and one ended", id, n)
	}
}

// A login in the old form: below FormatV3 it drops how it was made with
// its Once mark, so a node whose view of the level is newer than the
// leader's logs in on Apply's retry instead of answering 503 (the
// rolling-upgrade test saw logins refused after `cluster downgrade`); a
// session of an app password keeps its mark (refused, not weakened). And
// the Once mark alone raises the entry's level: the leader's gate reads
// the entry, and a login it let through at level 1 would be refused by
// the upgraded members' FSMs and applied by 0.3.0's.
func TestOnce_LoginWithinOldFormat(t *testing.T) {
	made := &CreateSession{Session: Session{ID: "a1", Digest: Digest{1}, UserID: 1, Created: t0, AuthTime: t0, AMR: AMRPwd}, Once: true}
	old := WithinFormat(made, FormatOperator)
	if got := FormatNeeded(old); got > FormatOperator {
		t.Errorf("a login within FormatOperator still needs %d: %+v", got, old)
	}
	if got := EntryFormatNeeded(MustEncode(old)); got > FormatOperator {
		t.Errorf("its entry still needs %d", got)
	}
	if !made.Once || made.Session.AMR == 0 || made.Session.AuthTime == 0 {
		t.Error("WithinFormat changed the caller's login")
	}
	ap := &CreateSession{Session: Session{ID: "a2", Digest: Digest{2}, UserID: 1, Created: t0}, AppPassword: "ap1", Once: true}
	if got := FormatNeeded(WithinFormat(ap, FormatOperator)); got != FormatV3 {
		t.Errorf("an app password's login within FormatOperator needs %d, want FormatV3 (refused)", got)
	}
	once := &CreateSession{Session: Session{ID: "a3", Digest: Digest{3}, UserID: 1, Created: t0}, Once: true}
	if got := EntryFormatNeeded(MustEncode(once)); got != FormatV3 {
		t.Errorf("a login's entry with Once alone needs %d, want FormatV3", got)
	}
}
