package fsm

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"os"
	"reflect"
	"testing"
)

// The golden snapshot is a file this package wrote once, at snapshot format
// version 1, and keeps forever: every later binary must restore it. It is
// the only check that a change to the codec (a field appended to a record,
// a new record kind) still reads what an older binary wrote; round-trip
// tests cannot see that, since they read what the same binary just wrote.
//
// Never regenerate it. When the format changes, add a new golden file
// beside it (snapshot-v2.golden, ...) and keep testing the old ones.
const goldenV1 = "testdata/snapshot-v1.golden"

var updateGolden = flag.Bool("update-golden", false,
	"write "+goldenV1+" when it does not exist yet (it is never overwritten)")

// goldenState applies a fixed log that reaches every part of the state:
// dbs (one without users), users with every field set (admin, disabled,
// failures, lock, changed password, a deleted one so nextUser is past the
// highest ID), sessions of every kind with and without expiry, settings
// that differ from the defaults, live and retired signing keys, and node
// metadata. It is spelled out here, not shared with other tests, so that
// editing a fixture elsewhere cannot silently change what the golden file
// is expected to hold.
func goldenState(t testing.TB) *applier {
	a := &applier{t: t, f: New()}
	a.must(&SetSettings{Settings: Settings{
		SignupEnabled: true, TokenLimitPerUser: 10, LockoutThreshold: 3, LockoutDuration: 2 * minute,
		OdooTTL: 48 * hour, OdooIdle: 6 * hour, JWTTTL: 12 * hour, KnoxTTL: 24 * hour,
		NativeTTL: 72 * hour, NativeIdle: hour,
	}})
	a.must(&CreateDB{Name: "empty-tenant"})
	a.must(&CreateUser{Nonce: "req-1", DB: "acme", Login: "alice", Email: "alice@acme.test", Name: "Alice Ädmin",
		CompanyID: 42, CompanyName: "ACME", PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$YWxpY2U", Admin: true, Now: t0})
	a.must(&CreateUser{Nonce: "req-2", DB: "acme", Login: "bob", PasswordHash: "hash-bob-1", Now: t0 + 1})
	a.must(&CreateUser{Nonce: "req-3", DB: "globex", Login: "carol", Name: "Carol", PasswordHash: "hash-carol", Now: t0 + 2})
	a.must(&CreateUser{Nonce: "req-4", DB: "globex", Login: "dave", PasswordHash: "hash-dave", Now: t0 + 3})
	a.must(&CreateUser{Nonce: "req-5", DB: "globex", Login: "erin", PasswordHash: "hash-erin", Now: t0 + 4})
	a.must(&UpdateUser{UserID: 2, Name: sp("Bob B."), PasswordHash: sp("hash-bob-2"), Now: t0 + minute})
	for i := int64(0); i < 3; i++ { // the third failure locks carol
		a.must(&LoginFailed{UserID: 3, At: t0 + i*minute, Threshold: 3, LockFor: 15 * minute, Window: hour})
	}
	a.must(&LoginFailed{UserID: 4, At: t0 + 5*minute, Threshold: 3, LockFor: 15 * minute, Window: hour})
	a.must(&CreateSession{Session: Session{ID: "d-native", Digest: dg("tok-d-native"), Kind: KindNative, UserID: 4, Created: t0}})
	a.must(&UpdateUser{UserID: 4, Disabled: bp(true), Now: t0 + 6*minute}) // ends d-native
	a.must(&DeleteUser{UserID: 5})
	sessions := []Session{
		{ID: "a-native", Kind: KindNative, UserID: 1, Created: t0, ExpiresAt: t0 + 72*hour, IdleTimeout: hour,
			Name: "Zoë's laptop", UserAgent: "sessiond-cli/1.0", ClientAddr: "198.51.100.7:51234"},
		{ID: "a-odoo", Kind: KindOdoo, UserID: 1, Created: t0 + 1, ExpiresAt: t0 + 48*hour, IdleTimeout: 6 * hour,
			UserAgent: "Mozilla/5.0", ClientAddr: "[2001:db8::1]:443"},
		{ID: "a-jwt", Kind: KindJWT, UserID: 1, Created: t0 + 2, ExpiresAt: t0 + 12*hour},
		{ID: "a-knox", Kind: KindKnox, UserID: 1, Created: t0 + 3, Name: "ci-runner"}, // never expires
		{ID: "b-native", Kind: KindNative, UserID: 2, Created: t0 + 2*minute, ExpiresAt: t0 + 72*hour},
		{ID: "c-odoo", Kind: KindOdoo, UserID: 3, Created: t0 + 4, ExpiresAt: t0 + 48*hour, IdleTimeout: 6 * hour},
		{ID: "c-gone", Kind: KindKnox, UserID: 3, Created: t0 + 5},
	}
	for _, s := range sessions {
		s.Digest = dg("tok-" + s.ID)
		a.must(&CreateSession{Session: s, UserVersion: map[uint64]uint64{2: 2}[s.UserID]})
	}
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("tok-a-native"), At: t0 + 30*minute}}})
	a.must(&RevokeSession{ID: "c-gone", UserID: 3})
	a.must(&PutNode{Node: Node{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://n2.test:8443"}})
	a.must(&PutNode{Node: Node{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "https://n1.test:8443"}})
	a.must(&PutNode{Node: Node{ID: "n3", RaftAddr: "10.0.0.3:7000", APIAddr: "https://n3.test:8443"}})
	a.must(&RemoveNode{ID: "n3"})
	a.must(&PutKey{Key: SigningKey{Kid: "k-2026-01", Alg: "HS256", Secret: []byte{0x00, 0x01, 0xFE, 0xFF}, Created: t0}, Activate: true})
	a.must(&PutKey{Key: SigningKey{Kid: "k-2026-02", Alg: "ES256", Secret: []byte("der-private"), Public: []byte("der-public"), Created: t0 + hour}, Activate: true})
	a.must(&RetireKey{Kid: "k-2026-01", At: t0 + 2*hour})
	a.applyRaw([]byte{0xF1, '{', '}'}) // ignorable: moves the index only
	return a
}

// TestGoldenSnapshot_Generate writes the golden file with -update-golden,
// once. It refuses to overwrite: an old format's golden file is a record
// of what old binaries wrote, and regenerating it would test nothing.
func TestGoldenSnapshot_Generate(t *testing.T) {
	generateGolden(t, goldenV1, goldenState)
}

// generateGolden writes path from the log of state with -update-golden,
// and refuses to overwrite an existing file.
func generateGolden(t *testing.T, path string, state func(testing.TB) *applier) {
	if !*updateGolden {
		t.Skip("run with -update-golden to create " + path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("%s exists (err %v): golden files are never regenerated; add a new one for a new format", path, err)
	}
	if err := os.WriteFile(path, snapshotBytes(t, state(t).f), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGoldenSnapshot_V1Restores restores the version-1 golden file and
// checks what it holds value by value, against literals rather than a
// replay of goldenState, so that a change to Apply cannot excuse a change
// to what the file means.
func TestGoldenSnapshot_V1Restores(t *testing.T) {
	f, b, eq := readGolden(t, goldenV1)
	s := f.State()
	eq("AppliedIndex", uint64(32), f.AppliedIndex())
	eq("DBs", []string{"acme", "empty-tenant", "globex"}, s.DBs())
	eq("Settings", Settings{
		SignupEnabled: true, TokenLimitPerUser: 10, LockoutThreshold: 3, LockoutDuration: 2 * minute,
		OdooTTL: 48 * hour, OdooIdle: 6 * hour, JWTTTL: 12 * hour, KnoxTTL: 24 * hour,
		NativeTTL: 72 * hour, NativeIdle: hour, JWTActiveKid: "k-2026-02",
	}, s.Settings())
	eq("Nodes", []Node{
		{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "https://n1.test:8443"},
		{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://n2.test:8443"},
	}, s.Nodes())
	eq("Keys", []SigningKey{
		{Kid: "k-2026-01", Alg: "HS256", Secret: []byte{0x00, 0x01, 0xFE, 0xFF}, Created: t0, Retired: t0 + 2*hour},
		{Kid: "k-2026-02", Alg: "ES256", Secret: []byte("der-private"), Public: []byte("der-public"), Created: t0 + hour},
	}, s.Keys())

	users := []User{
		{ID: 1, DB: "acme", Login: "alice", Email: "alice@acme.test", Name: "Alice Ädmin", CompanyID: 42, CompanyName: "ACME",
			PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$YWxpY2U", Admin: true,
			Created: t0, PasswordChanged: t0, Version: 1, Nonce: "req-1"},
		{ID: 2, DB: "acme", Login: "bob", Name: "Bob B.", PasswordHash: "hash-bob-2",
			Created: t0 + 1, PasswordChanged: t0 + minute, Version: 2, Nonce: "req-2"},
		{ID: 3, DB: "globex", Login: "carol", Name: "Carol", PasswordHash: "hash-carol",
			Created: t0 + 2, PasswordChanged: t0 + 2, Version: 1, LastFailure: t0 + 2*minute,
			LockedUntil: t0 + 17*minute, Nonce: "req-3"},
		{ID: 4, DB: "globex", Login: "dave", PasswordHash: "hash-dave", Disabled: true,
			Created: t0 + 3, PasswordChanged: t0 + 3, Version: 1, FailedLogins: 1, LastFailure: t0 + 5*minute, Nonce: "req-4"},
	}
	var gotUsers []User
	for _, u := range s.Users("") {
		gotUsers = append(gotUsers, *u)
	}
	eq("Users", users, gotUsers)
	for _, u := range users {
		if got, ok := s.UserByLogin(u.DB, u.Login); !ok || got.ID != u.ID {
			t.Errorf("UserByLogin(%s, %s) = %+v, %v", u.DB, u.Login, got, ok)
		}
	}
	if _, ok := s.UserByLogin("globex", "erin"); ok {
		t.Error("deleted user erin restored")
	}

	sessions := []Session{
		{ID: "a-native", Kind: KindNative, UserID: 1, DB: "acme", Created: t0, ExpiresAt: t0 + 72*hour, IdleTimeout: hour,
			LastRefresh: t0 + 30*minute, Name: "Zoë's laptop", UserAgent: "sessiond-cli/1.0", ClientAddr: "198.51.100.7:51234"},
		{ID: "a-odoo", Kind: KindOdoo, UserID: 1, DB: "acme", Created: t0 + 1, ExpiresAt: t0 + 48*hour, IdleTimeout: 6 * hour,
			LastRefresh: t0 + 1, UserAgent: "Mozilla/5.0", ClientAddr: "[2001:db8::1]:443"},
		{ID: "a-jwt", Kind: KindJWT, UserID: 1, DB: "acme", Created: t0 + 2, ExpiresAt: t0 + 12*hour, LastRefresh: t0 + 2},
		{ID: "a-knox", Kind: KindKnox, UserID: 1, DB: "acme", Created: t0 + 3, LastRefresh: t0 + 3, Name: "ci-runner"},
		{ID: "b-native", Kind: KindNative, UserID: 2, DB: "acme", Created: t0 + 2*minute, ExpiresAt: t0 + 72*hour, LastRefresh: t0 + 2*minute},
		{ID: "c-odoo", Kind: KindOdoo, UserID: 3, DB: "globex", Created: t0 + 4, ExpiresAt: t0 + 48*hour, IdleTimeout: 6 * hour, LastRefresh: t0 + 4},
	}
	for _, want := range sessions {
		want.Digest = dg("tok-" + want.ID)
		got, ok := s.Session(want.Digest)
		if !ok {
			t.Errorf("session %s missing", want.ID)
			continue
		}
		eq("Session "+want.ID, want, *got)
	}
	for _, gone := range []string{"c-gone", "d-native"} {
		if _, ok := s.Session(dg("tok-" + gone)); ok {
			t.Errorf("ended session %s restored", gone)
		}
	}
	wantSessions(t, s, 1, "a-native,a-odoo,a-jwt,a-knox")
	wantSessions(t, s, 3, "c-odoo")
	wantCounts(t, s, 4, 6)

	// The restored state goes on: IDs continue past the deleted user, and it
	// writes back the very bytes it read.
	if again := snapshotBytes(t, f); !bytes.Equal(again, b) {
		t.Error("restored golden state writes different bytes")
	}
	if res := f.ApplyEntry(33, MustEncode(newUser("frank"))); res.UserID != 6 {
		t.Errorf("next user = %+v, want ID 6", res)
	}
}

// TestGoldenSnapshot_WriterUnchanged checks that today's writer still
// produces the version-1 bytes for the golden log. It fails on purpose
// when the format changes: then bump the version or append fields as the
// format doc says, add a new golden file, and point this test at it; the
// old file stays and TestGoldenSnapshot_V1Restores keeps reading it.
func TestGoldenSnapshot_WriterUnchanged(t *testing.T) {
	writerUnchanged(t, goldenV1, goldenState)
}

// readGolden restores the golden file at path: the state, the bytes it
// was read from, and eq, which reports a value that differs from the
// literal the test expects.
func readGolden(t *testing.T, path string) (f *FSM, b []byte, eq func(what string, want, got any)) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f = restoreBytes(t, b)
	return f, b, func(what string, want, got any) {
		t.Helper()
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s:\nwant %+v\ngot  %+v", what, want, got)
		}
	}
}

// writerUnchanged checks that the log of state still snapshots to the
// bytes of the golden file at path.
func writerUnchanged(t *testing.T, path string, state func(testing.TB) *applier) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Events (records 16–17) are derived and appended after every record
	// the golden file holds; with none kept, the bytes are the old ones.
	SetEventRetention(0)
	defer SetEventRetention(DefaultEventRetention)
	if got := snapshotBytes(t, state(t).f); !bytes.Equal(got, b) {
		t.Errorf("the golden log now snapshots to %d bytes that differ from %s (%d bytes)", len(got), path, len(b))
	}
}
