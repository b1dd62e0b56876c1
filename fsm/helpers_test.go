package fsm

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Shared fixtures for the package's tests. Times are Unix nanoseconds from a
// fixed origin: the FSM never reads a clock, so neither do its tests.

const (
	t0     = int64(1_700_000_000) * int64(time.Second)
	minute = int64(time.Minute)
	hour   = int64(time.Hour)
)

// dg is the digest of a made-up token, so tests can name sessions by string.
func dg(token string) Digest { return sha256.Sum256([]byte(token)) }

func dp(d Digest) *Digest { return &d }
func sp(s string) *string { return &s }
func bp(b bool) *bool     { return &b }

// newUser is a CreateUser in db "db1" whose nonce derives from the login.
func newUser(login string) *CreateUser {
	return &CreateUser{
		Nonce: "nonce-" + login, DB: "db1", Login: login,
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", Now: t0,
	}
}

// newSession is a CreateSession for user uid named id, whose digest is
// dg(id), created at t0 and valid for an hour.
func newSession(uid uint64, id string) *CreateSession {
	return &CreateSession{Session: Session{
		ID: id, Digest: dg(id), Kind: KindNative, UserID: uid,
		Created: t0, ExpiresAt: t0 + hour,
	}}
}

// step is one command of a scenario and the Result it must produce. The
// runner fills in Index, so want leaves it zero.
type step struct {
	cmd  Command
	want Result
}

// scenario is one row of a table-driven Apply test: commands applied in
// order to a fresh FSM, then a check of the resulting state.
type scenario struct {
	name  string
	steps []step
	check func(t *testing.T, s *State)
}

// aliceAndBob is the start of the user and session scenarios: two users;
// alice (1) has sessions a1 and a2, bob (2) has b1.
func aliceAndBob() []step {
	return []step{
		{newUser("alice"), Result{UserID: 1}},
		{newUser("bob"), Result{UserID: 2}},
		{newSession(1, "a1"), Result{UserID: 1, SessionID: "a1"}},
		{newSession(1, "a2"), Result{UserID: 1, SessionID: "a2"}},
		{newSession(2, "b1"), Result{UserID: 2, SessionID: "b1"}},
	}
}

// after is setup followed by more, in a new slice: scenarios share a
// setup without appending into one another's steps.
func after(setup []step, more ...step) []step {
	return append(append([]step(nil), setup...), more...)
}

func runScenarios(t *testing.T, cases []scenario) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			for i, st := range tc.steps {
				idx := uint64(i + 1)
				got := f.ApplyEntry(idx, MustEncode(st.cmd))
				want := st.want
				want.Index = idx
				if got != want {
					t.Fatalf("step %d (%T %+v): got %+v, want %+v", i, st.cmd, st.cmd, got, want)
				}
			}
			if tc.check != nil {
				tc.check(t, f.State())
			}
		})
	}
}

// applier feeds commands to an FSM through the raft.FSM interface, so that
// AppliedIndex (and therefore the snapshot header) follows the log.
type applier struct {
	t   testing.TB
	f   *FSM
	idx uint64
}

func (a *applier) apply(c Command) Result {
	a.t.Helper()
	return a.applyRaw(MustEncode(c))
}

func (a *applier) applyRaw(entry []byte) Result {
	a.t.Helper()
	a.idx++
	res, ok := a.f.Apply(&raft.Log{Index: a.idx, Term: 1, Type: raft.LogCommand, Data: entry}).(Result)
	if !ok {
		a.t.Fatalf("Apply at %d did not return a Result", a.idx)
	}
	return res
}

// must applies c and fails the test on a business error.
func (a *applier) must(c Command) Result {
	a.t.Helper()
	res := a.apply(c)
	if res.Code != "" {
		a.t.Fatalf("apply %T at %d: %s", c, a.idx, res.Code)
	}
	return res
}

func snapshotBytes(t testing.TB, f *FSM) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := f.WriteSnapshot(&buf)
	if err != nil {
		t.Fatalf("WriteSnapshot: %v", err)
	}
	if n != int64(buf.Len()) {
		t.Fatalf("WriteSnapshot reported %d bytes, wrote %d", n, buf.Len())
	}
	return buf.Bytes()
}

func restoreBytes(t testing.TB, b []byte) *FSM {
	t.Helper()
	f := New()
	if err := f.Restore(&trackingCloser{Reader: bytes.NewReader(b)}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	return f
}

// trackingCloser is an io.ReadCloser over a reader that records Close.
type trackingCloser struct {
	*bytes.Reader
	closed bool
}

func (c *trackingCloser) Close() error { c.closed = true; return nil }

// memSink is a raft.SnapshotSink over a buffer: a test double for the
// snapshot store, recording how Persist finished. failAfter > 0 makes
// writes fail once that many bytes have been accepted.
type memSink struct {
	buf       bytes.Buffer
	failAfter int
	closed    bool
	cancelled bool
}

var errSinkFull = errors.New("memSink: full")

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.buf.Len()+len(p) > s.failAfter {
		n := s.failAfter - s.buf.Len()
		s.buf.Write(p[:n])
		return n, errSinkFull
	}
	return s.buf.Write(p)
}
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

var _ raft.SnapshotSink = (*memSink)(nil)

// mustPanic runs fn and returns the panic value rendered as a string; it
// fails the test when fn returns normally.
func mustPanic(t *testing.T, fn func()) (msg string) {
	t.Helper()
	defer func() {
		r := recover()
		if r == nil {
			t.Fatalf("no panic")
		}
		msg = fmt.Sprint(r)
	}()
	fn()
	return ""
}

func sessionIDs(ss []*Session) string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return strings.Join(ids, ",")
}

func wantSessions(t *testing.T, s *State, uid uint64, want string) {
	t.Helper()
	if got := sessionIDs(s.UserSessions(uid)); got != want {
		t.Errorf("UserSessions(%d) = [%s], want [%s]", uid, got, want)
	}
}

func wantCounts(t *testing.T, s *State, users, sessions int) {
	t.Helper()
	if u, n := s.Counts(); u != users || n != sessions {
		t.Errorf("Counts() = %d users, %d sessions; want %d, %d", u, n, users, sessions)
	}
}
