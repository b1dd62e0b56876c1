package fsm

import (
	"bytes"
	"testing"
)

// goldenOnce is a version-1 snapshot of a FormatV3 state: remembered
// request ids (recOnce records), and the FormatOperator and member-format
// fields that the first golden file predates. Like goldenV1 it is written
// once and never regenerated; every later binary must restore it.
const goldenOnce = "testdata/snapshot-v1-once.golden"

// goldenOnceState is the log behind goldenOnce, spelled out here for the
// same reason as goldenState's.
func goldenOnceState(t testing.TB) *applier {
	a := &applier{t: t, f: New()}
	a.must(&CreateUser{Nonce: "req-1", DB: "acme", Login: "alice", PasswordHash: "hash-alice", Operator: true, Now: t0})
	a.must(&CreateUser{Nonce: "req-2", DB: "acme", Login: "bob", PasswordHash: "hash-bob", Now: t0 + 1})
	a.must(&PutNode{Node: Node{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "https://n1.test:8443", Format: FormatV3}})
	a.must(&PutNode{Node: Node{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://n2.test:8443", Format: FormatV3, Promote: true}})
	a.must(&CreateSession{Session: Session{ID: "a1", Digest: dg("tok-a1"), Kind: KindNative, UserID: 1, Created: t0, ExpiresAt: t0 + hour}})
	a.must(&CreateSession{Session: Session{ID: "b1", Digest: dg("tok-b1"), Kind: KindNative, UserID: 2, Created: t0, ExpiresAt: t0 + hour}})
	// Applied out of time order on purpose: the snapshot keeps apply order.
	a.must(&LoginFailed{UserID: 2, At: t0 + 2*minute, Threshold: 5, LockFor: minute, Window: hour, Nonce: "req-fail"})
	a.must(&RevokeUserSessions{UserID: 1, Nonce: "req-logoutall", At: t0 + minute})
	a.must(&UpdateUser{UserID: 2, PasswordHash: sp("hash-bob-2"), Now: t0 + 3*minute, Nonce: "req-password"})
	a.apply(&RevokeUserSessions{UserID: 9, Nonce: "req-refused", At: t0 + 4*minute}) // refused: not remembered
	return a
}

// TestGoldenOnce_Generate writes goldenOnce with -update-golden, once.
func TestGoldenOnce_Generate(t *testing.T) {
	generateGolden(t, goldenOnce, goldenOnceState)
}

// TestGoldenOnce_Restores restores goldenOnce and checks it against
// literals: the remembered request ids in apply order, each with the
// answer a retry gets, and the FormatV3-era fields.
func TestGoldenOnce_Restores(t *testing.T) {
	f, b, eq := readGolden(t, goldenOnce)
	s := f.State()
	eq("AppliedIndex", uint64(10), f.AppliedIndex())
	eq("once", []onceRec{
		{Nonce: "req-fail", At: t0 + 2*minute, UserID: 2, Count: 1},
		{Nonce: "req-logoutall", At: t0 + minute, UserID: 1, Count: 1},
		{Nonce: "req-password", At: t0 + 3*minute, UserID: 2, Count: 1},
	}, s.once.live())
	eq("Nodes", []Node{
		{ID: "n1", RaftAddr: "10.0.0.1:7000", APIAddr: "https://n1.test:8443", Format: FormatV3},
		{ID: "n2", RaftAddr: "10.0.0.2:7000", APIAddr: "https://n2.test:8443", Format: FormatV3, Promote: true},
	}, s.Nodes())
	if u, _ := s.User(1); u == nil || !u.Operator {
		t.Errorf("alice restored without the operator role: %+v", u)
	}
	if u, _ := s.User(2); u == nil || u.Version != 2 || u.FailedLogins != 1 {
		t.Errorf("bob = %+v, want version 2 and one failure", u)
	}
	wantCounts(t, s, 2, 0)
	if again := snapshotBytes(t, f); !bytes.Equal(again, b) {
		t.Error("restored golden state writes different bytes")
	}
	// A retry of each remembered write is still a no-op after the restore.
	a := &applier{t: t, f: f, idx: f.AppliedIndex()}
	a.must(&LoginFailed{UserID: 2, At: t0 + 2*minute, Threshold: 5, LockFor: minute, Window: hour, Nonce: "req-fail"})
	if u, _ := s.User(2); u.FailedLogins != 1 {
		t.Errorf("retried failure counted again after restore: %d", u.FailedLogins)
	}
}

// TestGoldenOnce_WriterUnchanged checks that today's writer produces the
// golden bytes for the golden log.
func TestGoldenOnce_WriterUnchanged(t *testing.T) {
	writerUnchanged(t, goldenOnce, goldenOnceState)
}
