package fsm

import (
	"errors"
	"testing"
)

// sessionAt is a CreateSession for uid created at `at`, expiring at exp
// (0 = never).
func sessionAt(uid uint64, id string, at, exp int64) *CreateSession {
	return &CreateSession{Session: Session{
		ID: id, Digest: dg(id), Kind: KindKnox, UserID: uid, Created: at, ExpiresAt: exp,
	}}
}

// The default per-user cap is on for a new state, counts only the user's
// sessions unexpired at the command's own Created, and 0 turns it off.
func TestApply_SessionCapPerUser(t *testing.T) {
	if got := New().State().Settings().MaxSessionsPerUser; got != DefaultMaxSessionsPerUser || got == 0 {
		t.Fatalf("default max_sessions_per_user %d, want %d", got, DefaultMaxSessionsPerUser)
	}
	a := &applier{t: t, f: New()}
	uid := a.must(newUser("alice")).UserID
	other := a.must(newUser("bob")).UserID
	set := DefaultSettings()
	set.MaxSessionsPerUser = 2
	a.must(&SetSettings{Settings: set})
	a.must(sessionAt(uid, "s1", t0, t0+hour))
	a.must(sessionAt(uid, "s2", t0, 0)) // never expires (knox "expiry": null)
	if res := a.apply(sessionAt(uid, "s3", t0+1, t0+hour)); res.Err() != ErrSessionLimit {
		t.Fatalf("third session: %+v, want session_limit", res)
	}
	// Another user is not affected.
	a.must(sessionAt(other, "b1", t0+1, 0))
	// Once s1 has expired by the command's clock it no longer counts, even
	// though no purge has removed it yet.
	a.must(sessionAt(uid, "s4", t0+hour, 0))
	if res := a.apply(sessionAt(uid, "s5", t0+hour+1, 0)); !errors.Is(res.Err(), ErrSessionLimit) {
		t.Fatalf("cap after expiry: %+v", res)
	}
	// A retried command of a stored session is still a success at the cap.
	if res := a.apply(sessionAt(uid, "s4", t0+hour, 0)); res.Code != "" {
		t.Fatalf("retry at cap: %+v", res)
	}
	set.MaxSessionsPerUser = 0 // unlimited
	a.must(&SetSettings{Settings: set})
	a.must(sessionAt(uid, "s5", t0+hour+1, 0))
}

// E-mail addresses are unique per db, compared case-insensitively, and a
// user's login that is an address counts as its address too.
func TestApply_EmailUniquePerDB(t *testing.T) {
	withEmail := func(login, email, db string) *CreateUser {
		c := newUser(login)
		c.Email, c.DB = email, db
		return c
	}
	a := &applier{t: t, f: New()}
	alice := a.must(withEmail("alice", "Alice@Example.com", "db1")).UserID
	if res := a.apply(withEmail("mallory", "alice@example.COM", "db1")); res.Err() != ErrEmailExists {
		t.Fatalf("duplicate e-mail: %+v", res)
	}
	// The registration shape: login and e-mail both the address.
	if res := a.apply(withEmail("alice@example.com", "alice@example.com", "db1")); res.Err() != ErrEmailExists {
		t.Fatalf("registration with a taken e-mail: %+v", res)
	}
	// Another db is another namespace.
	a.must(withEmail("alice", "alice@example.com", "db2"))
	// A login that is an address holds that address.
	carol := a.must(withEmail("carol@example.com", "", "db1")).UserID
	if res := a.apply(withEmail("dave", "CAROL@example.com", "db1")); res.Err() != ErrEmailExists {
		t.Fatalf("e-mail equal to another login: %+v", res)
	}
	bob := a.must(withEmail("bob", "bob@example.com", "db1")).UserID
	// Update: to another's address is refused, to one's own (any case) or
	// a free one is fine, and the old address is freed.
	if res := a.apply(&UpdateUser{UserID: bob, Email: sp("ALICE@example.com")}); res.Err() != ErrEmailExists {
		t.Fatalf("update to a taken e-mail: %+v", res)
	}
	if res := a.apply(&UpdateUser{UserID: carol, Email: sp("Carol@Example.com")}); res.Code != "" {
		t.Fatalf("update to own login address: %+v", res)
	}
	a.must(&UpdateUser{UserID: bob, Email: sp("Bob@Example.com")})
	a.must(&UpdateUser{UserID: bob, Email: sp("robert@example.com")})
	a.must(withEmail("bob2", "bob@example.com", "db1"))
	// Delete frees the address.
	a.must(&DeleteUser{UserID: alice})
	a.must(withEmail("alice2", "alice@example.com", "db1"))

	// The index is rebuilt from the users at restore: the rule holds there.
	f := restoreBytes(t, snapshotBytes(t, a.f))
	b := &applier{t: t, f: f, idx: a.idx}
	if res := b.apply(withEmail("eve", "ROBERT@example.com", "db1")); res.Err() != ErrEmailExists {
		t.Fatalf("after restore: %+v", res)
	}
	if res := b.apply(withEmail("eve", "dave@example.com", "db1")); res.Code != "" {
		t.Fatalf("free address after restore: %+v", res)
	}
}

// A state restored from a snapshot written before the rule may hold two
// users with one address: both stay, neither can be given a third holder,
// and each can still be edited and deleted.
func TestRestore_LegacyDuplicateEmails(t *testing.T) {
	s := newState()
	for i, login := range []string{"u1", "u2"} {
		u := &User{ID: uint64(i + 1), DB: "db1", Login: login, Email: "same@example.com", PasswordHash: "x", Version: 1}
		s.users[u.ID] = u
		s.byLogin[loginKey(u.DB, u.Login)] = u.ID
	}
	s.dbs["db1"] = struct{}{}
	s.nextUser = 3
	f := New()
	f.state.Store(s)
	f2 := restoreBytes(t, snapshotBytes(t, f))
	a := &applier{t: t, f: f2, idx: 10}
	if res := a.apply(&CreateUser{Nonce: "n3", DB: "db1", Login: "u3", Email: "SAME@example.com", PasswordHash: "x"}); res.Err() != ErrEmailExists {
		t.Fatalf("third holder: %+v", res)
	}
	a.must(&UpdateUser{UserID: 1, Name: sp("still editable")})
	a.must(&DeleteUser{UserID: 1})
	// u2 still holds the address after u1 is gone.
	if res := a.apply(&CreateUser{Nonce: "n4", DB: "db1", Login: "u4", Email: "same@example.com", PasswordHash: "x"}); res.Err() != ErrEmailExists {
		t.Fatalf("after one duplicate deleted: %+v", res)
	}
	a.must(&DeleteUser{UserID: 2})
	a.must(&CreateUser{Nonce: "n5", DB: "db1", Login: "u5", Email: "same@example.com", PasswordHash: "x"})
}
