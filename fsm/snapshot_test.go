package fsm

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// buildSmallState applies a log touching every part of the state through
// raft.Log, so AppliedIndex is that of the last entry.
func buildSmallState(t testing.TB) *applier {
	a := &applier{t: t, f: New()}
	settings := DefaultSettings()
	settings.TokenLimitPerUser, settings.SignupEnabled = 50, true
	a.must(&SetSettings{Settings: settings})
	for _, login := range []string{"alice", "bob", "carol", "dave"} {
		a.must(newUser(login))
	}
	a.must(&UpdateUser{UserID: 2, PasswordHash: sp("h2"), Name: sp("Bob"), Now: t0 + 1})
	a.must(&LoginFailed{UserID: 3, At: t0, Threshold: 5, Window: hour})
	a.must(&DeleteUser{UserID: 4}) // the highest ID: nextUser must survive it
	owners := []uint64{1, 1, 2, 3, 3, 3}
	for i, id := range []string{"a1", "a2", "b1", "c1", "c2", "c3"} {
		c := newSession(owners[i], id)
		c.Session.Kind, c.Session.IdleTimeout = Kind(1+i%4), hour
		c.Session.Name, c.Session.UserAgent, c.Session.ClientAddr = "dev-"+id, "ua", "198.51.100.7"
		a.must(c)
	}
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("a2"), At: t0 + minute}}})
	a.must(&RevokeSession{ID: "c2", UserID: 3})
	a.must(&PutNode{Node: Node{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "http://n2"}})
	a.must(&PutNode{Node: Node{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "http://n1"}})
	a.must(&PutKey{Key: SigningKey{Kid: "old", Alg: "HS256", Secret: []byte{1, 2, 3}, Created: t0}})
	a.must(&PutKey{Key: SigningKey{Kid: "new", Alg: "ES256", Secret: []byte{4}, Public: []byte{5}, Created: t0 + 1}, Activate: true})
	a.must(&RetireKey{Kid: "old", At: t0 + 2})
	a.must(&CreateDB{Name: "empty-tenant"})
	a.applyRaw([]byte{0xF0}) // ignorable: advances the index only
	return a
}

// sameState compares two states through every query the package offers.
func sameState(t *testing.T, want, got *State) {
	t.Helper()
	eq := func(what string, w, g any) {
		t.Helper()
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s differs:\nwant %+v\ngot  %+v", what, w, g)
		}
	}
	eq("Users", want.Users(""), got.Users(""))
	eq("DBs", want.DBs(), got.DBs())
	eq("Nodes", want.Nodes(), got.Nodes())
	eq("Keys", want.Keys(), got.Keys())
	eq("Settings", want.Settings(), got.Settings())
	wu, ws := want.Counts()
	gu, gs := got.Counts()
	eq("Counts", [2]int{wu, ws}, [2]int{gu, gs})
	for _, u := range want.Users("") {
		eq("UserByLogin "+u.Login, u, func() *User { g, _ := got.UserByLogin(u.DB, u.Login); return g }())
		sessions := want.UserSessions(u.ID)
		eq("UserSessions "+u.Login, sessions, got.UserSessions(u.ID))
		for _, s := range sessions {
			g, ok := got.Session(s.Digest)
			if !ok || *g != *s {
				t.Errorf("Session(%s) = %+v, %v; want %+v", s.ID, g, ok, s)
			}
		}
	}
}

func TestSnapshot_RoundTrip(t *testing.T) {
	a := buildSmallState(t)
	snap := snapshotBytes(t, a.f)

	b := New()
	rc := &trackingCloser{Reader: bytes.NewReader(snap)}
	if err := b.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !rc.closed {
		t.Error("Restore did not close the reader")
	}
	if b.AppliedIndex() != a.idx {
		t.Errorf("AppliedIndex = %d, want %d", b.AppliedIndex(), a.idx)
	}
	if again := snapshotBytes(t, b); !bytes.Equal(again, snap) {
		t.Fatal("snapshot of the restored FSM differs")
	}
	sameState(t, a.f.State(), b.State())
	if _, ok := b.State().UserByLogin("db1", "dave"); ok {
		t.Error("deleted user's login restored")
	}
	if s, _ := b.State().Session(dg("a2")); s.LastRefresh != t0+minute {
		t.Errorf("refresh lost: %+v", s)
	}
	if _, ok := b.State().Session(dg("c2")); ok {
		t.Error("revoked session restored")
	}

	// Both replicas go on from here alike, and IDs are not reused.
	rest := []struct {
		cmd  Command
		want Result
	}{
		{newUser("erin"), Result{UserID: 5}},
		{newUser("alice"), Result{UserID: 1}}, // a retry
		{newSession(5, "e1"), Result{UserID: 5, SessionID: "e1"}},
		{newSession(1, "a1"), Result{UserID: 1, SessionID: "a1"}}, // a retry
		{&RevokeSession{ID: "c1", UserID: 3}, Result{UserID: 3, SessionID: "c1", Count: 1}},
		{&RefreshSessions{Refreshes: []Refresh{{Digest: dg("b1"), At: t0 + 2*minute}}}, Result{Count: 1}},
		{&PutKey{Key: SigningKey{Kid: "old", Secret: []byte{9}}}, Result{Code: "key_exists"}},
		{&LoginFailed{UserID: 3, At: t0 + 1, Threshold: 2, LockFor: minute}, Result{UserID: 3}},
	}
	ra := &applier{t: t, f: a.f, idx: a.idx}
	rb := &applier{t: t, f: b, idx: b.AppliedIndex()}
	for i, r := range rest {
		want := r.want
		want.Index = ra.idx + 1
		ga, gb := ra.apply(r.cmd), rb.apply(r.cmd)
		if ga != want || gb != want {
			t.Errorf("step %d: original %+v, restored %+v, want %+v", i, ga, gb, want)
		}
	}
	if !bytes.Equal(snapshotBytes(t, a.f), snapshotBytes(t, b)) {
		t.Error("original and restored diverged after further applies")
	}
	sameState(t, a.f.State(), b.State())
}

// TestSnapshot_RestoreMidLog restores a replica from a snapshot taken
// halfway through the generated log and feeds it the rest: it must end
// byte-identical to the replica that applied the whole log.
func TestSnapshot_RestoreMidLog(t *testing.T) {
	log := makeLog(detSeed+1, 6000)
	full, half := &applier{t: t, f: New()}, &applier{t: t, f: New()}
	for _, e := range log {
		full.applyRaw(e)
	}
	for _, e := range log[:len(log)/2] {
		half.applyRaw(e)
	}
	restored := &applier{t: t, f: restoreBytes(t, snapshotBytes(t, half.f)), idx: half.idx}
	for _, e := range log[len(log)/2:] {
		restored.applyRaw(e)
	}
	if restored.f.AppliedIndex() != uint64(len(log)) {
		t.Errorf("AppliedIndex = %d", restored.f.AppliedIndex())
	}
	if !bytes.Equal(snapshotBytes(t, full.f), snapshotBytes(t, restored.f)) {
		t.Fatal("restored replica diverged from the one that applied the whole log")
	}
	sameState(t, full.f.State(), restored.f.State())
}

func TestSnapshot_EmptyRoundTrip(t *testing.T) {
	snap := snapshotBytes(t, New())
	b := restoreBytes(t, snap)
	if !bytes.Equal(snapshotBytes(t, b), snap) {
		t.Error("empty snapshot does not round trip")
	}
	sameState(t, New().State(), b.State())
	if res := b.ApplyEntry(1, MustEncode(newUser("a"))); res.UserID != 1 {
		t.Errorf("first user after empty restore: %+v", res)
	}
}

func TestSnapshot_RaftPersist(t *testing.T) {
	a := buildSmallState(t)
	want := snapshotBytes(t, a.f)

	fs, err := a.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Release()
	// The image is taken now: later applies must not leak into it, even
	// those that replace session and user values.
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("a1"), At: t0 + 5*minute}}})
	a.must(&RevokeUserSessions{UserID: 3})
	a.must(&UpdateUser{UserID: 1, Name: sp("changed")})
	a.must(newUser("late"))

	sink := &memSink{}
	if err := fs.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Errorf("sink closed=%v cancelled=%v; want closed only", sink.closed, sink.cancelled)
	}
	if !bytes.Equal(sink.buf.Bytes(), want) {
		t.Fatal("persisted snapshot differs from WriteSnapshot taken at the same index")
	}
	b := New()
	if err := b.Restore(&trackingCloser{Reader: bytes.NewReader(sink.buf.Bytes())}); err != nil {
		t.Fatal(err)
	}
	if b.AppliedIndex() != a.idx-4 {
		t.Errorf("AppliedIndex = %d, want %d", b.AppliedIndex(), a.idx-4)
	}
	if _, ok := b.State().UserByLogin("db1", "late"); ok {
		t.Error("a later apply leaked into the snapshot")
	}
}

func TestSnapshot_PersistWriteErrorCancels(t *testing.T) {
	a := buildSmallState(t)
	for _, failAfter := range []int{1, 20, 100, len(snapshotBytes(t, a.f)) - 1} {
		fs, _ := a.f.Snapshot()
		sink := &memSink{failAfter: failAfter}
		if err := fs.Persist(sink); !errors.Is(err, errSinkFull) {
			t.Errorf("failAfter %d: Persist error = %v", failAfter, err)
		}
		if !sink.cancelled || sink.closed {
			t.Errorf("failAfter %d: sink closed=%v cancelled=%v; want cancelled only", failAfter, sink.closed, sink.cancelled)
		}
	}
}

func TestStateHash(t *testing.T) {
	a, b := buildSmallState(t), buildSmallState(t)
	ha, ia := a.f.StateHash()
	hb, _ := b.f.StateHash()
	if ha != hb || ia != a.idx || len(ha) != 64 {
		t.Fatalf("StateHash = %s at %d vs %s", ha, ia, hb)
	}
	// Not the index: a no-op entry moves it but not the hash.
	b.f.Apply(&raft.Log{Index: b.idx + 10, Type: raft.LogNoop})
	if h, i := b.f.StateHash(); h != ha || i != b.idx+10 {
		t.Errorf("StateHash after noop = %s at %d", h, i)
	}
	b.must(&CreateDB{Name: "x"})
	if h, _ := b.f.StateHash(); h == ha {
		t.Error("StateHash unchanged by a change")
	}
}

func TestWriteState_Restamps(t *testing.T) {
	a := buildSmallState(t)
	orig := snapshotBytes(t, a.f)
	for _, idx := range []uint64{0, a.idx, a.idx + 1000, 1<<64 - 1} {
		var b bytes.Buffer
		if _, err := WriteState(a.f.State(), idx, &b); err != nil {
			t.Fatal(err)
		}
		restamped := bytes.Clone(b.Bytes())
		st, got, err := ReadSnapshot(&b)
		if err != nil || got != idx {
			t.Fatalf("index %d: ReadSnapshot = %d, %v", idx, got, err)
		}
		sameState(t, a.f.State(), st)
		// Only the header index and the checksum may differ.
		if len(restamped) != len(orig) || !bytes.Equal(restamped[20:len(orig)-32], orig[20:len(orig)-32]) {
			t.Errorf("index %d: records differ from WriteSnapshot's", idx)
		}
	}
}

// TestWriteSnapshot_IndexMatchesState takes a snapshot at the instant
// between Apply changing the state and Apply recording the index; OnApply
// runs exactly there, standing in for a backup download or a StateHash
// request on another goroutine. The snapshot must not hold an entry its
// index says is still to come: a replica restored from it would apply that
// entry twice (here a password change, bumping Version twice).
func TestWriteSnapshot_IndexMatchesState(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	var snap bytes.Buffer
	var hashIdx uint64
	a.f.OnApply = func(typ CmdType, _ time.Duration) {
		if typ == TypeUpdateUser && snap.Len() == 0 {
			if _, err := a.f.WriteSnapshot(&snap); err != nil {
				t.Error(err)
			}
			_, hashIdx = a.f.StateHash()
		}
	}
	change := MustEncode(&UpdateUser{UserID: 1, PasswordHash: sp("h2"), Now: t0 + 1})
	a.applyRaw(change) // index 2

	restored := restoreBytes(t, snap.Bytes())
	stamped := restored.AppliedIndex()
	if hashIdx == 1 {
		t.Errorf("StateHash labelled a state that includes entry 2 with index 1")
	}
	// Raft replays what follows the snapshot's index.
	for i := stamped + 1; i <= a.idx; i++ {
		restored.Apply(&raft.Log{Index: i, Type: raft.LogCommand, Data: change})
	}
	want, _ := a.f.State().User(1)
	got, _ := restored.State().User(1)
	if got.Version != want.Version {
		t.Fatalf("snapshot stamped index %d holds entry %d: restored replica has Version %d, original %d",
			stamped, a.idx, got.Version, want.Version)
	}
}
