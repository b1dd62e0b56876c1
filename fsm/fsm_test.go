package fsm

import (
	"errors"
	"strings"
	"testing"
)

func TestApply_CreateUser(t *testing.T) {
	other := newUser("alice")
	other.Nonce = "another-request"
	noNonce := newUser("carol")
	noNonce.Nonce = ""
	otherDB := newUser("alice")
	otherDB.DB = "db2"

	runScenarios(t, []scenario{
		{
			name: "first user gets id 1",
			steps: []step{
				{newUser("alice"), Result{UserID: 1}},
			},
			check: func(t *testing.T, s *State) {
				u, ok := s.UserByLogin("db1", "alice")
				if !ok || u.ID != 1 || u.Version != 1 || u.Created != t0 || u.PasswordChanged != t0 || u.Nonce != "nonce-alice" {
					t.Fatalf("UserByLogin = %+v, %v", u, ok)
				}
				if !s.HasDB("db1") {
					t.Error("CreateUser did not declare its db")
				}
				wantCounts(t, s, 1, 0)
			},
		},
		{
			name: "retry with same nonce returns same id and consumes none",
			steps: []step{
				{newUser("alice"), Result{UserID: 1}},
				{newUser("alice"), Result{UserID: 1}},
				{newUser("bob"), Result{UserID: 2}},
			},
			check: func(t *testing.T, s *State) { wantCounts(t, s, 2, 0) },
		},
		{
			name: "same login with another nonce is user_exists",
			steps: []step{
				{newUser("alice"), Result{UserID: 1}},
				{other, Result{Code: "user_exists"}},
			},
			check: func(t *testing.T, s *State) {
				if u, _ := s.User(1); u.Nonce != "nonce-alice" {
					t.Errorf("existing user overwritten: %+v", u)
				}
				wantCounts(t, s, 1, 0)
			},
		},
		{
			name: "empty nonce is never a retry",
			steps: []step{
				{noNonce, Result{UserID: 1}},
				{noNonce, Result{Code: "user_exists"}},
			},
		},
		{
			name: "same login in another db is another user",
			steps: []step{
				{newUser("alice"), Result{UserID: 1}},
				{otherDB, Result{UserID: 2}},
			},
			check: func(t *testing.T, s *State) {
				if u, ok := s.UserByLogin("db2", "alice"); !ok || u.ID != 2 {
					t.Errorf("UserByLogin(db2) = %+v, %v", u, ok)
				}
				if got := s.Users("db1"); len(got) != 1 || got[0].ID != 1 {
					t.Errorf("Users(db1) = %v", got)
				}
				if got := s.Users(""); len(got) != 2 || got[0].ID != 1 || got[1].ID != 2 {
					t.Errorf("Users(\"\") = %v", got)
				}
			},
		},
		{
			name: "missing fields are bad_command",
			steps: []step{
				{&CreateUser{DB: "db1", Login: "x"}, Result{Code: "bad_command"}},
				{&CreateUser{DB: "db1", PasswordHash: "h"}, Result{Code: "bad_command"}},
				{&CreateUser{Login: "x", PasswordHash: "h"}, Result{Code: "bad_command"}},
				{newUser("alice"), Result{UserID: 1}},
			},
			check: func(t *testing.T, s *State) { wantCounts(t, s, 1, 0) },
		},
	})
}

func TestApply_UpdateUser(t *testing.T) {
	with := func(more ...step) []step { return after(aliceAndBob(), more...) }
	onlyBobLeft := func(t *testing.T, s *State) {
		t.Helper()
		wantSessions(t, s, 1, "")
		wantSessions(t, s, 2, "b1")
		wantCounts(t, s, 2, 1)
		for _, id := range []string{"a1", "a2"} {
			if _, ok := s.Session(dg(id)); ok {
				t.Errorf("session %s survived", id)
			}
		}
	}

	runScenarios(t, []scenario{
		{
			name:  "password change bumps version and ends the user's sessions",
			steps: with(step{&UpdateUser{UserID: 1, PasswordHash: sp("new-hash"), Now: t0 + 5}, Result{UserID: 1, Count: 2}}),
			check: func(t *testing.T, s *State) {
				u, _ := s.User(1)
				if u.Version != 2 || u.PasswordHash != "new-hash" || u.PasswordChanged != t0+5 || u.Created != t0 {
					t.Errorf("user after password change = %+v", u)
				}
				if b, _ := s.User(2); b.Version != 1 {
					t.Errorf("other user's version changed: %d", b.Version)
				}
				onlyBobLeft(t, s)
			},
		},
		{
			name: "profile change keeps version and sessions",
			steps: with(step{&UpdateUser{UserID: 1, Name: sp("Alice"), Email: sp("a@x"), Admin: bp(true), Now: t0 + 5},
				Result{UserID: 1}}),
			check: func(t *testing.T, s *State) {
				u, _ := s.User(1)
				if u.Version != 1 || u.Name != "Alice" || u.Email != "a@x" || !u.Admin || u.PasswordChanged != t0 {
					t.Errorf("user = %+v", u)
				}
				wantSessions(t, s, 1, "a1,a2")
				wantCounts(t, s, 2, 3)
			},
		},
		{
			name: "disabling ends sessions and refuses new ones until enabled",
			steps: with(
				step{&UpdateUser{UserID: 1, Disabled: bp(true)}, Result{UserID: 1, Count: 2}},
				step{newSession(1, "a3"), Result{Code: "user_disabled"}},
				step{&UpdateUser{UserID: 1, Disabled: bp(false)}, Result{UserID: 1}},
				step{newSession(1, "a4"), Result{UserID: 1, SessionID: "a4"}},
			),
			check: func(t *testing.T, s *State) {
				if u, _ := s.User(1); u.Disabled || u.Version != 1 {
					t.Errorf("user = %+v", u)
				}
				wantSessions(t, s, 1, "a4")
				wantSessions(t, s, 2, "b1")
			},
		},
		{
			name:  "disabled stays, sessions end",
			steps: with(step{&UpdateUser{UserID: 1, Disabled: bp(true)}, Result{UserID: 1, Count: 2}}),
			check: func(t *testing.T, s *State) {
				if u, _ := s.User(1); !u.Disabled {
					t.Error("not disabled")
				}
				onlyBobLeft(t, s)
			},
		},
		{
			name:  "empty password hash is bad_command and changes nothing",
			steps: with(step{&UpdateUser{UserID: 1, Name: sp("X"), PasswordHash: sp("")}, Result{Code: "bad_command"}}),
			check: func(t *testing.T, s *State) {
				if u, _ := s.User(1); u.Version != 1 || u.Name != "" {
					t.Errorf("user = %+v", u)
				}
				wantCounts(t, s, 2, 3)
			},
		},
		{
			name:  "unknown user",
			steps: with(step{&UpdateUser{UserID: 9, Name: sp("X")}, Result{Code: "user_not_found"}}),
		},
		{
			name: "delete removes sessions and the login index; ids are not reused",
			steps: with(
				step{&DeleteUser{UserID: 1}, Result{UserID: 1, Count: 2}},
				step{&DeleteUser{UserID: 1}, Result{Code: "user_not_found"}},
				step{newSession(1, "a5"), Result{Code: "user_not_found"}},
				step{newUser("carol"), Result{UserID: 3}},
			),
			check: func(t *testing.T, s *State) {
				if _, ok := s.User(1); ok {
					t.Error("User(1) still found")
				}
				if _, ok := s.UserByLogin("db1", "alice"); ok {
					t.Error("login index still finds alice")
				}
				wantSessions(t, s, 2, "b1")
				wantCounts(t, s, 2, 1)
			},
		},
		{
			name: "a deleted login can be created again under a new id",
			steps: with(
				step{&DeleteUser{UserID: 1}, Result{UserID: 1, Count: 2}},
				step{newUser("alice"), Result{UserID: 3}},
			),
			check: func(t *testing.T, s *State) {
				if u, ok := s.UserByLogin("db1", "alice"); !ok || u.ID != 3 {
					t.Errorf("UserByLogin = %+v, %v", u, ok)
				}
			},
		},
	})
}

func TestApply_LoginFailures(t *testing.T) {
	const window, lockFor = 10 * minute, 15 * minute
	fail := func(at int64) *LoginFailed {
		return &LoginFailed{UserID: 1, At: at, Threshold: 3, LockFor: lockFor, Window: window}
	}
	wantUser := func(failed uint32, last, locked int64) func(*testing.T, *State) {
		return func(t *testing.T, s *State) {
			t.Helper()
			u, _ := s.User(1)
			if u.FailedLogins != failed || u.LastFailure != last || u.LockedUntil != locked {
				t.Errorf("failed=%d last=%d locked=%d; want %d %d %d",
					u.FailedLogins, u.LastFailure, u.LockedUntil, failed, last, locked)
			}
		}
	}
	create := step{newUser("alice"), Result{UserID: 1}}

	runScenarios(t, []scenario{
		{
			name: "counts up below the threshold",
			steps: []step{create,
				{fail(t0), Result{UserID: 1, Count: 1}},
				{fail(t0 + minute), Result{UserID: 1, Count: 2}},
			},
			check: wantUser(2, t0+minute, 0),
		},
		{
			name: "reaching the threshold locks and resets the count",
			steps: []step{create,
				{fail(t0), Result{UserID: 1, Count: 1}},
				{fail(t0 + 1), Result{UserID: 1, Count: 2}},
				{fail(t0 + 2), Result{UserID: 1, Count: 0}},
			},
			check: wantUser(0, t0+2, t0+2+lockFor),
		},
		{
			name: "a failure after the window starts over",
			steps: []step{create,
				{fail(t0), Result{UserID: 1, Count: 1}},
				{fail(t0 + 1), Result{UserID: 1, Count: 2}},
				{fail(t0 + 1 + window + 1), Result{UserID: 1, Count: 1}},
			},
			check: wantUser(1, t0+2+window, 0),
		},
		{
			name: "a failure exactly at the window edge still counts",
			steps: []step{create,
				{fail(t0), Result{UserID: 1, Count: 1}},
				{fail(t0 + window), Result{UserID: 1, Count: 2}},
				{fail(t0 + 2*window), Result{UserID: 1, Count: 0}},
			},
			check: wantUser(0, t0+2*window, t0+2*window+lockFor),
		},
		{
			name: "window 0 never forgets",
			steps: []step{create,
				{&LoginFailed{UserID: 1, At: t0, Threshold: 3}, Result{UserID: 1, Count: 1}},
				{&LoginFailed{UserID: 1, At: t0 + 100*hour, Threshold: 3}, Result{UserID: 1, Count: 2}},
			},
			check: wantUser(2, t0+100*hour, 0),
		},
		{
			name: "threshold 0 never locks",
			steps: []step{create,
				{&LoginFailed{UserID: 1, At: t0, LockFor: lockFor}, Result{UserID: 1, Count: 1}},
				{&LoginFailed{UserID: 1, At: t0 + 1, LockFor: lockFor}, Result{UserID: 1, Count: 2}},
			},
			check: wantUser(2, t0+1, 0),
		},
		{
			name: "reset clears count, last failure and lock",
			steps: []step{create,
				{fail(t0), Result{UserID: 1, Count: 1}},
				{fail(t0 + 1), Result{UserID: 1, Count: 2}},
				{fail(t0 + 2), Result{UserID: 1}},
				{fail(t0 + 3), Result{UserID: 1, Count: 1}},
				{&ResetFailures{UserID: 1}, Result{UserID: 1}},
			},
			check: wantUser(0, 0, 0),
		},
		{
			name: "unknown user",
			steps: []step{
				{fail(t0), Result{Code: "user_not_found"}},
				{&ResetFailures{UserID: 1}, Result{Code: "user_not_found"}},
			},
		},
	})
}

func TestApply_Keys(t *testing.T) {
	k1 := SigningKey{Kid: "k1", Alg: "HS256", Secret: []byte("s1"), Created: t0}
	k2 := SigningKey{Kid: "k2", Alg: "HS256", Secret: []byte("s2"), Created: t0 - 1}
	k1other := k1
	k1other.Secret = []byte("different")
	kids := func(s *State) string {
		var out []string
		for _, k := range s.Keys() {
			out = append(out, k.Kid)
		}
		return strings.Join(out, ",")
	}

	runScenarios(t, []scenario{
		{
			name: "put with activate makes it the signing key",
			steps: []step{
				{&PutKey{Key: k1, Activate: true}, Result{}},
				{&PutKey{Key: k2}, Result{}},
			},
			check: func(t *testing.T, s *State) {
				if got := s.Settings().JWTActiveKid; got != "k1" {
					t.Errorf("active kid = %q", got)
				}
				if got := kids(s); got != "k2,k1" { // by creation time
					t.Errorf("Keys() = %s", got)
				}
				if k, ok := s.Key("k1"); !ok || string(k.Secret) != "s1" {
					t.Errorf("Key(k1) = %+v, %v", k, ok)
				}
			},
		},
		{
			name: "same kid: same secret is a retry, other secret is key_exists",
			steps: []step{
				{&PutKey{Key: k1}, Result{}},
				{&PutKey{Key: k1}, Result{}},
				{&PutKey{Key: k1other, Activate: true}, Result{Code: "key_exists"}},
			},
			check: func(t *testing.T, s *State) {
				if k, _ := s.Key("k1"); string(k.Secret) != "s1" {
					t.Errorf("secret replaced: %q", k.Secret)
				}
				if got := s.Settings().JWTActiveKid; got != "" {
					t.Errorf("refused put activated %q", got)
				}
			},
		},
		{
			name:  "empty kid",
			steps: []step{{&PutKey{Key: SigningKey{Secret: []byte("x")}}, Result{Code: "bad_command"}}},
			check: func(t *testing.T, s *State) {
				if len(s.Keys()) != 0 {
					t.Error("key stored")
				}
			},
		},
		{
			name: "retire keeps the first time and clears the active kid",
			steps: []step{
				{&PutKey{Key: k1, Activate: true}, Result{}},
				{&RetireKey{Kid: "k1", At: t0 + 10}, Result{}},
				{&RetireKey{Kid: "k1", At: t0 + 20}, Result{}},
			},
			check: func(t *testing.T, s *State) {
				if k, _ := s.Key("k1"); k.Retired != t0+10 {
					t.Errorf("Retired = %d", k.Retired)
				}
				if got := s.Settings().JWTActiveKid; got != "" {
					t.Errorf("active kid = %q", got)
				}
			},
		},
		{
			name: "retiring another key leaves the active one",
			steps: []step{
				{&PutKey{Key: k1, Activate: true}, Result{}},
				{&PutKey{Key: k2}, Result{}},
				{&RetireKey{Kid: "k2", At: t0}, Result{}},
				{&RetireKey{Kid: "nope", At: t0}, Result{Code: "key_not_found"}},
			},
			check: func(t *testing.T, s *State) {
				if got := s.Settings().JWTActiveKid; got != "k1" {
					t.Errorf("active kid = %q", got)
				}
			},
		},
	})
}

func TestApply_NodesDBsSettings(t *testing.T) {
	n1 := Node{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "http://10.0.0.1:8080"}
	n2 := Node{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "http://10.0.0.2:8080"}
	n1moved := Node{ID: "n1", RaftAddr: "10.0.0.9:7000", APIAddr: "http://10.0.0.9:8080"}
	custom := DefaultSettings()
	custom.SignupEnabled, custom.TokenLimitPerUser, custom.NativeIdle = true, 7, minute

	runScenarios(t, []scenario{
		{
			name: "put, update and remove nodes",
			steps: []step{
				{&PutNode{Node: n2}, Result{}},
				{&PutNode{Node: n1}, Result{}},
				{&PutNode{Node: n1moved}, Result{}},
				{&PutNode{Node: Node{RaftAddr: "x"}}, Result{Code: "bad_command"}},
			},
			check: func(t *testing.T, s *State) {
				if got := s.Nodes(); len(got) != 2 || got[0] != n1moved || got[1] != n2 {
					t.Errorf("Nodes() = %+v", got)
				}
			},
		},
		{
			name: "remove node, unknown remove is a no-op",
			steps: []step{
				{&PutNode{Node: n1}, Result{}},
				{&PutNode{Node: n2}, Result{}},
				{&RemoveNode{ID: "n1"}, Result{}},
				{&RemoveNode{ID: "n7"}, Result{}},
			},
			check: func(t *testing.T, s *State) {
				if _, ok := s.Node("n1"); ok {
					t.Error("n1 still there")
				}
				if got, ok := s.Node("n2"); !ok || got != n2 {
					t.Errorf("Node(n2) = %+v, %v", got, ok)
				}
			},
		},
		{
			name: "create dbs: sorted, idempotent, name required",
			steps: []step{
				{&CreateDB{Name: "zeta"}, Result{}},
				{&CreateDB{Name: "alpha"}, Result{}},
				{&CreateDB{Name: "zeta"}, Result{}},
				{&CreateDB{}, Result{Code: "bad_command"}},
			},
			check: func(t *testing.T, s *State) {
				if got := strings.Join(s.DBs(), ","); got != "alpha,zeta" {
					t.Errorf("DBs() = %s", got)
				}
				if s.HasDB("beta") || !s.HasDB("alpha") {
					t.Error("HasDB wrong")
				}
			},
		},
		{
			name:  "set settings replaces them all",
			steps: []step{{&SetSettings{Settings: custom}, Result{}}},
			check: func(t *testing.T, s *State) {
				if got := s.Settings(); got != custom {
					t.Errorf("Settings() = %+v", got)
				}
			},
		},
		{
			name: "a new FSM has the default settings",
			check: func(t *testing.T, s *State) {
				if got := s.Settings(); got != DefaultSettings() {
					t.Errorf("Settings() = %+v", got)
				}
				wantCounts(t, s, 0, 0)
			},
		},
	})
}

func TestResult_Err(t *testing.T) {
	for err, code := range errCodes {
		if got := fail(err); got.Code != code || !errors.Is(got.Err(), err) {
			t.Errorf("fail(%v) = %+v, Err() = %v", err, got, got.Err())
		}
	}
	if err := (Result{UserID: 3}).Err(); err != nil {
		t.Errorf("success Err() = %v", err)
	}
	err := Result{Code: "from_the_future"}.Err()
	if err == nil || !strings.Contains(err.Error(), "from_the_future") {
		t.Errorf("unknown code Err() = %v", err)
	}
	// Every sentinel has a distinct code, or Err could not reverse it.
	seen := map[string]error{}
	for err, code := range errCodes {
		if prev, dup := seen[code]; dup {
			t.Errorf("code %q used by %v and %v", code, prev, err)
		}
		seen[code] = err
	}
}
