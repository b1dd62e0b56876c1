package fsm

import (
	"bytes"
	"slices"
	"testing"
)

const (
	detSeed    = 20240611
	detEntries = 12000
)

func feed(t testing.TB, f *FSM, entries [][]byte) []Result {
	t.Helper()
	out := make([]Result, len(entries))
	for i, e := range entries {
		out[i] = f.ApplyEntry(uint64(i+1), e)
	}
	return out
}

func TestDeterminism_SameLogSameSnapshot(t *testing.T) {
	log := makeLog(detSeed, detEntries)
	if again := makeLog(detSeed, detEntries); !slices.EqualFunc(log, again, bytes.Equal) {
		t.Fatal("the generator is not deterministic")
	}
	f1, f2 := New(), New()
	r1, r2 := feed(t, f1, log), feed(t, f2, log)
	for i := range r1 {
		if r1[i] != r2[i] {
			t.Fatalf("entry %d: results differ: %+v vs %+v", i+1, r1[i], r2[i])
		}
	}
	checkLogCoverage(t, f1, r1)

	s1, s2 := snapshotBytes(t, f1), snapshotBytes(t, f2)
	if !bytes.Equal(s1, s2) {
		t.Fatalf("snapshots differ (%d vs %d bytes)", len(s1), len(s2))
	}
	h1, _ := f1.StateHash()
	h2, _ := f2.StateHash()
	if h1 != h2 {
		t.Fatalf("StateHash differs: %s vs %s", h1, h2)
	}

	// One more command, of several kinds, must show in both.
	live := liveRefreshable(t, f1)
	owner, _ := f1.State().User(live.UserID)
	extras := []struct {
		name string
		cmd  Command
		want Result // Index aside
	}{
		{"create db", &CreateDB{Name: "one-more"}, Result{}},
		{"refresh one session by 1ns", &RefreshSessions{Refreshes: []Refresh{{Digest: live.Digest, At: live.LastRefresh + 1}}}, Result{Count: 1}},
		{"put node", &PutNode{Node: Node{ID: "extra", RaftAddr: "r", APIAddr: "a"}}, Result{}},
		{"login failure", &LoginFailed{UserID: live.UserID, At: t0 - 1}, Result{UserID: owner.ID, Count: int(owner.FailedLogins) + 1}},
	}
	for _, x := range extras {
		t.Run(x.name, func(t *testing.T) {
			f3 := New()
			feed(t, f3, log)
			want := x.want
			want.Index = uint64(len(log) + 1)
			if res := f3.ApplyEntry(want.Index, MustEncode(x.cmd)); res != want {
				t.Fatalf("extra command: %+v, want %+v", res, want)
			}
			if bytes.Equal(snapshotBytes(t, f3), s1) {
				t.Error("snapshot unchanged by an extra command")
			}
			if h3, _ := f3.StateHash(); h3 == h1 {
				t.Error("StateHash unchanged by an extra command")
			}
		})
	}
}

// liveRefreshable returns a session that a refresh 1ns after its last one
// would move, so that the extra command is known to change something.
func liveRefreshable(t *testing.T, f *FSM) *Session {
	for _, u := range f.State().Users("") {
		for _, s := range f.State().UserSessions(u.ID) {
			if !s.Expired(s.LastRefresh + 1) {
				return s
			}
		}
	}
	t.Fatal("no live session in the generated state")
	return nil
}

// checkLogCoverage guards the generator: a log that only ever failed, or
// ended with nothing in it, would make the determinism test vacuous.
func checkLogCoverage(t *testing.T, f *FSM, results []Result) {
	t.Helper()
	codes := map[string]int{}
	for _, r := range results {
		codes[r.Code]++
	}
	for _, c := range []string{"", "user_exists", "user_not_found", "user_disabled",
		"session_conflict", "session_limit", "user_changed", "bad_command", "key_exists"} {
		if codes[c] == 0 {
			t.Errorf("the generated log never produced code %q (codes: %v)", c, codes)
		}
	}
	users, sessions := f.State().Counts()
	if users < 300 || sessions < 1500 {
		t.Errorf("generated state too small: %d users, %d sessions", users, sessions)
	}
	t.Logf("%d entries: %d users, %d sessions, codes %v", len(results), users, sessions, codes)
}
