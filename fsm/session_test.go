package fsm

import (
	"bytes"
	"sort"
	"testing"
)

func TestApply_CreateSession(t *testing.T) {
	users := []step{
		{newUser("alice"), Result{UserID: 1}},
		{newUser("bob"), Result{UserID: 2}},
	}
	with := func(more ...step) []step { return after(users, more...) }
	conflicting := newSession(1, "other-id")
	conflicting.Session.Digest = dg("a1")
	foreignDB := newSession(1, "a1")
	foreignDB.Session.DB = "not-the-users-db"
	limit2 := DefaultSettings()
	limit2.TokenLimitPerUser = 2
	stale := func(id string, v uint64) *CreateSession {
		c := newSession(1, id)
		c.UserVersion = v
		return c
	}

	runScenarios(t, []scenario{
		{
			name:  "stored under its digest with the user's db and LastRefresh = Created",
			steps: with(step{foreignDB, Result{UserID: 1, SessionID: "a1"}}),
			check: func(t *testing.T, s *State) {
				got, ok := s.Session(dg("a1"))
				want := foreignDB.Session
				want.DB, want.LastRefresh = "db1", t0
				if !ok || *got != want {
					t.Errorf("Session = %+v, %v; want %+v", got, ok, want)
				}
				wantSessions(t, s, 1, "a1")
				wantCounts(t, s, 2, 1)
			},
		},
		{
			name: "retry with same digest and id is idempotent",
			steps: with(
				step{newSession(1, "a1"), Result{UserID: 1, SessionID: "a1"}},
				step{newSession(1, "a1"), Result{UserID: 1, SessionID: "a1"}},
			),
			check: func(t *testing.T, s *State) {
				wantSessions(t, s, 1, "a1")
				wantCounts(t, s, 2, 1)
			},
		},
		{
			name: "same digest under another id is session_conflict",
			steps: with(
				step{newSession(1, "a1"), Result{UserID: 1, SessionID: "a1"}},
				step{conflicting, Result{Code: "session_conflict"}},
			),
			check: func(t *testing.T, s *State) {
				if got, _ := s.Session(dg("a1")); got.ID != "a1" {
					t.Errorf("session replaced by %q", got.ID)
				}
				wantCounts(t, s, 2, 1)
			},
		},
		{
			name: "bad commands and unknown user",
			steps: with(
				step{newSession(0, "x"), Result{Code: "bad_command"}},
				step{newSession(1, ""), Result{Code: "bad_command"}},
				step{newSession(9, "x"), Result{Code: "user_not_found"}},
			),
			check: func(t *testing.T, s *State) { wantCounts(t, s, 2, 0) },
		},
		{
			name: "token limit per user (knox tokens only)",
			steps: with(
				step{&SetSettings{Settings: limit2}, Result{}},
				step{kx(1, "a1"), Result{UserID: 1, SessionID: "a1"}},
				step{kx(1, "a2"), Result{UserID: 1, SessionID: "a2"}},
				step{kx(1, "a3"), Result{Code: "session_limit"}},
				step{kx(1, "a2"), Result{UserID: 1, SessionID: "a2"}},         // a retry is not a new one
				step{newSession(1, "n1"), Result{UserID: 1, SessionID: "n1"}}, // another dialect: not counted
				step{kx(2, "b1"), Result{UserID: 2, SessionID: "b1"}},
				step{&RevokeSession{Digest: dp(dg("a1"))}, Result{UserID: 1, SessionID: "a1", Count: 1}},
				step{kx(1, "a3"), Result{UserID: 1, SessionID: "a3"}},
			),
			check: func(t *testing.T, s *State) {
				wantSessions(t, s, 1, "a2,a3,n1")
				wantSessions(t, s, 2, "b1")
			},
		},
		{
			name: "user version mismatch is user_changed; 0 is unchecked",
			steps: with(
				step{stale("a1", 1), Result{UserID: 1, SessionID: "a1"}},
				step{&UpdateUser{UserID: 1, PasswordHash: sp("h2")}, Result{UserID: 1, Count: 1}},
				step{stale("a2", 1), Result{Code: "user_changed"}},
				step{stale("a3", 3), Result{Code: "user_changed"}},
				step{stale("a4", 2), Result{UserID: 1, SessionID: "a4"}},
				step{stale("a5", 0), Result{UserID: 1, SessionID: "a5"}},
			),
			check: func(t *testing.T, s *State) { wantSessions(t, s, 1, "a4,a5") },
		},
	})
}

func TestApply_RevokeSession(t *testing.T) {
	with := func(more ...step) []step { return after(aliceAndBob(), more...) }
	untouched := func(t *testing.T, s *State) {
		wantSessions(t, s, 1, "a1,a2")
		wantSessions(t, s, 2, "b1")
		wantCounts(t, s, 2, 3)
	}

	runScenarios(t, []scenario{
		{
			name:  "by digest",
			steps: with(step{&RevokeSession{Digest: dp(dg("a1"))}, Result{UserID: 1, SessionID: "a1", Count: 1}}),
			check: func(t *testing.T, s *State) {
				if _, ok := s.Session(dg("a1")); ok {
					t.Error("a1 still found by digest")
				}
				wantSessions(t, s, 1, "a2")
				wantCounts(t, s, 2, 2)
			},
		},
		{
			name:  "by id, restricted to its owner",
			steps: with(step{&RevokeSession{ID: "a2", UserID: 1}, Result{UserID: 1, SessionID: "a2", Count: 1}}),
			check: func(t *testing.T, s *State) {
				wantSessions(t, s, 1, "a1")
				wantSessions(t, s, 2, "b1")
			},
		},
		{
			name:  "by id as admin (no user)",
			steps: with(step{&RevokeSession{ID: "b1"}, Result{UserID: 2, SessionID: "b1", Count: 1}}),
			check: func(t *testing.T, s *State) { wantSessions(t, s, 2, "") },
		},
		{
			name: "another user's session by id or digest is untouched",
			steps: with(
				step{&RevokeSession{ID: "a1", UserID: 2}, Result{}},
				step{&RevokeSession{Digest: dp(dg("a1")), UserID: 2}, Result{}},
			),
			check: untouched,
		},
		{
			name: "already revoked is Count 0 without error",
			steps: with(
				step{&RevokeSession{Digest: dp(dg("a1"))}, Result{UserID: 1, SessionID: "a1", Count: 1}},
				step{&RevokeSession{Digest: dp(dg("a1"))}, Result{}},
				step{&RevokeSession{ID: "a1", UserID: 1}, Result{}},
				step{&RevokeSession{ID: "never"}, Result{}},
			),
			check: func(t *testing.T, s *State) { wantCounts(t, s, 2, 2) },
		},
		{
			name:  "neither digest nor id",
			steps: with(step{&RevokeSession{UserID: 1}, Result{Code: "bad_command"}}),
			check: untouched,
		},
		{
			name:  "all of a user's sessions",
			steps: with(step{&RevokeUserSessions{UserID: 1}, Result{UserID: 1, Count: 2}}),
			check: func(t *testing.T, s *State) {
				wantSessions(t, s, 1, "")
				wantSessions(t, s, 2, "b1")
				wantCounts(t, s, 2, 1)
			},
		},
		{
			name: "all but KeepID",
			steps: with(
				step{newSession(1, "a3"), Result{UserID: 1, SessionID: "a3"}},
				step{&RevokeUserSessions{UserID: 1, KeepID: "a2"}, Result{UserID: 1, Count: 2}},
			),
			check: func(t *testing.T, s *State) {
				wantSessions(t, s, 1, "a2")
				wantSessions(t, s, 2, "b1")
				if _, ok := s.Session(dg("a2")); !ok {
					t.Error("kept session not found by digest")
				}
			},
		},
		{
			name: "KeepID of another user's session keeps nothing of this one",
			steps: with(
				step{&RevokeUserSessions{UserID: 1, KeepID: "b1"}, Result{UserID: 1, Count: 2}},
				step{&RevokeUserSessions{UserID: 1}, Result{UserID: 1}},
				step{&RevokeUserSessions{UserID: 7}, Result{Code: "user_not_found"}},
			),
			check: func(t *testing.T, s *State) { wantSessions(t, s, 2, "b1") },
		},
	})
}

// TestRevokeSessionByID_DuplicateIDsAfterRestore shows that revoking by ID
// is not a function of the log alone. CreateSession only refuses a reused
// digest, so two sessions may share an ID; revoke-by-ID then removes the
// last match in the per-user list, whose order is insertion order on a node
// that applied the log but digest order on a node restored from a snapshot.
// The two replicas revoke different sessions and diverge.
func TestRevokeSessionByID_DuplicateIDsAfterRestore(t *testing.T) {
	orig := &applier{t: t, f: New()}
	orig.must(newUser("alice"))
	hi, lo := newSession(1, "dup"), newSession(1, "dup")
	hi.Session.Digest = Digest{0: 0xFF}
	lo.Session.Digest = Digest{0: 0x00}
	orig.must(hi) // inserted first, sorts last
	orig.must(lo)

	restored := restoreBytes(t, snapshotBytes(t, orig.f))
	cmd := MustEncode(&RevokeSession{ID: "dup", UserID: 1})
	orig.f.ApplyEntry(orig.idx+1, cmd)
	restored.ApplyEntry(orig.idx+1, cmd)

	a, b := snapshotBytes(t, orig.f), snapshotBytes(t, restored)
	if !bytes.Equal(a, b) {
		left := func(f *FSM) byte { return f.State().UserSessions(1)[0].Digest[0] }
		t.Fatalf("replicas diverged: original kept the session with digest %#02x…, restored kept %#02x…",
			left(orig.f), left(restored))
	}
}

func TestApply_RefreshSessions(t *testing.T) {
	idle := func(id string, timeout int64) *CreateSession {
		c := newSession(1, id)
		c.Session.ExpiresAt, c.Session.IdleTimeout = 0, timeout
		return c
	}
	lastRefresh := func(want map[string]int64) func(*testing.T, *State) {
		return func(t *testing.T, s *State) {
			t.Helper()
			for id, at := range want {
				got, ok := s.Session(dg(id))
				if !ok || got.LastRefresh != at {
					t.Errorf("%s: LastRefresh = %v (found %v), want %d", id, got, ok, at)
				}
			}
			// The per-user index must hold the refreshed value too.
			for _, sess := range s.UserSessions(1) {
				if byDigest, _ := s.Session(sess.Digest); byDigest != sess {
					t.Errorf("%s: UserSessions holds a stale copy", sess.ID)
				}
			}
			wantCounts(t, s, 1, 3)
		}
	}
	setup := []step{
		{newUser("alice"), Result{UserID: 1}},
		{idle("i1", 10*minute), Result{UserID: 1, SessionID: "i1"}},
		{idle("i2", 10*minute), Result{UserID: 1, SessionID: "i2"}},
		{newSession(1, "abs"), Result{UserID: 1, SessionID: "abs"}},
	}
	with := func(more ...step) []step { return after(setup, more...) }

	runScenarios(t, []scenario{
		{
			name: "moves the idle deadline",
			steps: with(step{&RefreshSessions{Refreshes: []Refresh{
				{Digest: dg("i1"), At: t0 + 5*minute},
				{Digest: dg("abs"), At: t0 + minute},
			}}, Result{Count: 2}}),
			check: lastRefresh(map[string]int64{"i1": t0 + 5*minute, "i2": t0, "abs": t0 + minute}),
		},
		{
			name: "never moves it back",
			steps: with(
				step{&RefreshSessions{Refreshes: []Refresh{{Digest: dg("i1"), At: t0 + 5*minute}}}, Result{Count: 1}},
				step{&RefreshSessions{Refreshes: []Refresh{
					{Digest: dg("i1"), At: t0 + 4*minute},
					{Digest: dg("i1"), At: t0 + 5*minute},
				}}, Result{}},
			),
			check: lastRefresh(map[string]int64{"i1": t0 + 5*minute}),
		},
		{
			name: "cannot revive an expired session; unknown digests are skipped",
			steps: with(step{&RefreshSessions{Refreshes: []Refresh{
				{Digest: dg("i2"), At: t0 + 10*minute}, // idle deadline reached
				{Digest: dg("abs"), At: t0 + hour + 1}, // past ExpiresAt
				{Digest: dg("gone"), At: t0 + 1},
			}}, Result{}}),
			check: lastRefresh(map[string]int64{"i2": t0, "abs": t0}),
		},
		{
			name: "a batch may refresh the same session twice",
			steps: with(step{&RefreshSessions{Refreshes: []Refresh{
				{Digest: dg("i1"), At: t0 + 9*minute},
				{Digest: dg("i1"), At: t0 + 18*minute},
			}}, Result{Count: 2}}),
			check: lastRefresh(map[string]int64{"i1": t0 + 18*minute}),
		},
	})
}

// TestApply_PurgeExpired follows the leader's purge loop: the list comes
// from ExpiredSessions, then refreshes are applied before the purge entry.
func TestApply_PurgeExpired(t *testing.T) {
	now := t0 + 30*minute
	tests := []struct {
		name       string
		sess       Session // ID, ExpiresAt, IdleTimeout; the rest is filled in
		refreshAt  int64   // > 0: refreshed between listing and purging
		revoked    bool    // revoked between listing and purging
		listed     bool
		wantPurged bool
	}{
		{name: "absolute expiry passed", sess: Session{ID: "abs-past", ExpiresAt: now - 1}, listed: true, wantPurged: true},
		{name: "absolute expiry exactly now", sess: Session{ID: "abs-now", ExpiresAt: now}, listed: true, wantPurged: true},
		{name: "absolute expiry ahead", sess: Session{ID: "abs-ahead", ExpiresAt: now + 1}},
		{name: "idle expired", sess: Session{ID: "idle-old", IdleTimeout: 10 * minute}, listed: true, wantPurged: true},
		{name: "idle expired but refreshed after listing",
			sess: Session{ID: "idle-refreshed", IdleTimeout: 20 * minute}, refreshAt: t0 + 19*minute, listed: true},
		{name: "idle and absolute: refresh cannot save it",
			sess:      Session{ID: "both", IdleTimeout: 20 * minute, ExpiresAt: now - 1},
			refreshAt: t0 + 19*minute, listed: true, wantPurged: true},
		{name: "no expiry at all", sess: Session{ID: "forever"}},
		{name: "revoked after listing", sess: Session{ID: "revoked", ExpiresAt: now - 1}, revoked: true, listed: true},
	}
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	for _, tc := range tests {
		s := tc.sess
		s.Digest, s.UserID, s.Kind, s.Created = dg(s.ID), 1, KindOdoo, t0
		a.must(&CreateSession{Session: s})
	}
	// A live session the leader did not list, whose digest is slipped into
	// the purge anyway: Apply must re-check it.
	a.must(newSession(1, "live"))

	list := a.f.State().ExpiredSessions(now, 100)
	listed := map[Digest]bool{}
	for _, d := range list {
		listed[d] = true
	}
	var refreshes []Refresh
	for _, tc := range tests {
		if listed[dg(tc.sess.ID)] != tc.listed {
			t.Errorf("%s: listed = %v, want %v", tc.name, !tc.listed, tc.listed)
		}
		if tc.refreshAt > 0 {
			refreshes = append(refreshes, Refresh{Digest: dg(tc.sess.ID), At: tc.refreshAt})
		}
		if tc.revoked {
			a.must(&RevokeSession{Digest: dp(dg(tc.sess.ID))})
		}
	}
	a.must(&RefreshSessions{Refreshes: refreshes})
	res := a.must(&PurgeExpired{Now: now, Digests: append(list, dg("live"), dg("never-existed"))})

	want := 0
	for _, tc := range tests {
		_, ok := a.f.State().Session(dg(tc.sess.ID))
		if gone := !ok; gone != (tc.wantPurged || tc.revoked) {
			t.Errorf("%s: gone = %v", tc.name, gone)
		}
		if tc.wantPurged {
			want++
		}
	}
	if res.Count != want {
		t.Errorf("purge Count = %d, want %d", res.Count, want)
	}
	if _, ok := a.f.State().Session(dg("live")); !ok {
		t.Error("live session purged")
	}
	if _, n := a.f.State().Counts(); n != len(tests)+1-want-1 {
		t.Errorf("sessions left = %d", n)
	}
}

func TestSession_Expired(t *testing.T) {
	tests := []struct {
		name string
		s    Session
		now  int64
		want bool
	}{
		{"no limits", Session{LastRefresh: t0}, t0 + 1000*hour, false},
		{"absolute before", Session{ExpiresAt: t0 + hour}, t0 + hour - 1, false},
		{"absolute at", Session{ExpiresAt: t0 + hour}, t0 + hour, true},
		{"absolute after", Session{ExpiresAt: t0 + hour}, t0 + hour + 1, true},
		{"idle before", Session{IdleTimeout: minute, LastRefresh: t0}, t0 + minute - 1, false},
		{"idle at", Session{IdleTimeout: minute, LastRefresh: t0}, t0 + minute, true},
		{"idle counts from the last refresh", Session{IdleTimeout: minute, LastRefresh: t0 + hour}, t0 + hour + 30e9, false},
		{"idle fine, absolute passed", Session{IdleTimeout: hour, LastRefresh: t0, ExpiresAt: t0 + minute}, t0 + minute, true},
		{"absolute fine, idle passed", Session{IdleTimeout: minute, LastRefresh: t0, ExpiresAt: t0 + hour}, t0 + 2*minute, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Expired(tc.now); got != tc.want {
				t.Errorf("Expired(%d) = %v, want %v", tc.now-t0, got, tc.want)
			}
		})
	}
}

func TestState_ExpiredSessions(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	var expired []Digest
	for i := 0; i < 40; i++ {
		c := newSession(1, "s"+string(rune('A'+i)))
		if i%2 == 0 {
			c.Session.ExpiresAt = t0 + minute
			expired = append(expired, c.Session.Digest)
		}
		a.must(c)
	}
	sortDigests(expired)
	now := t0 + 2*minute

	tests := []struct {
		name string
		max  int
		want int
	}{
		{"all", 1000, 20},
		{"exactly all", 20, 20},
		{"capped", 7, 7},
		{"one", 1, 1},
		{"zero", 0, 0}, // "up to max"
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := a.f.State().ExpiredSessions(now, tc.max)
			if len(got) != tc.want {
				t.Fatalf("ExpiredSessions(max %d) returned %d digests, want %d", tc.max, len(got), tc.want)
			}
			for _, d := range got {
				if i := sort.Search(len(expired), func(i int) bool {
					return bytes.Compare(expired[i][:], d[:]) >= 0
				}); i == len(expired) || expired[i] != d {
					t.Errorf("returned a live session %x", d[:4])
				}
			}
		})
	}
	if got := a.f.State().ExpiredSessions(t0, 1000); len(got) != 0 {
		t.Errorf("at t0: %d expired", len(got))
	}
}

func sortDigests(ds []Digest) {
	sort.Slice(ds, func(i, j int) bool { return bytes.Compare(ds[i][:], ds[j][:]) < 0 })
}
