package fsm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// The replicated level: set, carried by a snapshot, absent from the bytes
// of a state that never set it (so older snapshots' bytes are unchanged).
func TestClusterFormat_SetAndSnapshot(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(newUser("alice"))
	if b := snapshotBytes(t, a.f); bytes.Contains(b, []byte("cluster_format")) {
		t.Fatal("a state without a level writes the key")
	}
	if cf := a.f.State().ClusterFormat(); cf.Set {
		t.Fatalf("level before any set: %+v", cf)
	}
	a.must(&SetClusterFormat{Level: FormatV3})
	want := ClusterFormat{Set: true, Level: FormatV3, Index: a.idx}
	if cf := a.f.State().ClusterFormat(); cf != want {
		t.Fatalf("level %+v, want %+v", cf, want)
	}
	if cf := restoreBytes(t, snapshotBytes(t, a.f)).State().ClusterFormat(); cf != want {
		t.Fatalf("after restore %+v, want %+v", cf, want)
	}
}

// A downgrade below what the state holds is refused on every replica
// alike, and says so; once the state no longer needs it, it applies, and
// a command needing more than the level is then refused by Apply itself.
// Nothing lowers the level below MinDowngrade.
func TestClusterFormat_DowngradeRefusedWhileStateNeedsIt(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(&SetClusterFormat{Level: FormatV3})
	u := newUser("una")
	u.EmailUnverified = true
	uid := a.must(u).UserID
	if lv, what := a.f.State().StateFormatNeeded(); lv != FormatV3 || !strings.Contains(what, "una") {
		t.Fatalf("StateFormatNeeded = %d %q", lv, what)
	}
	if err := a.apply(&SetClusterFormat{Level: FormatOperator, Downgrade: true}).Err(); !errors.Is(err, ErrFormatInUse) {
		t.Fatalf("downgrade below an unverified address: %v", err)
	}
	if cf := a.f.State().ClusterFormat(); cf.Level != FormatV3 {
		t.Fatalf("a refused downgrade changed the level: %+v", cf)
	}
	no := false
	a.must(&UpdateUser{UserID: uid, EmailUnverified: &no}) // needs FormatV3: allowed at 2
	a.must(&SetClusterFormat{Level: FormatOperator, Downgrade: true})
	if err := a.apply(&SetClusterFormat{Level: FormatBase, Downgrade: true}).Err(); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("a downgrade below MinDowngrade: %v", err)
	}
	yes := true
	if err := a.apply(&UpdateUser{UserID: uid, EmailUnverified: &yes}).Err(); !errors.Is(err, ErrFormatGated) {
		t.Fatalf("a FormatV3 field at level 1: %v", err)
	}
	if u, _ := a.f.State().User(uid); u.EmailUnverified {
		t.Fatal("a gated command changed the state")
	}
	if a.f.AppliedIndex() != a.idx || a.f.State().index != a.idx {
		t.Fatalf("a gated command must still advance the index: %d %d, want %d", a.f.AppliedIndex(), a.f.State().index, a.idx)
	}
	op := true
	a.must(&UpdateUser{UserID: uid, Operator: &op}) // FormatOperator: allowed at 1
	a.must(&SetClusterFormat{Level: FormatV3})      // cancel: up again
	a.must(&UpdateUser{UserID: uid, EmailUnverified: &yes})
}

// A command type this binary does not know stops it through OnUnreadable,
// with a message naming the entry, the type and the formats this binary
// reads; without the hook it still panics (never applies around it).
func TestClusterFormat_UnknownTypeStopsWithVersions(t *testing.T) {
	entry := []byte{63, '{', '}'} // in ver's range, never a command of this binary
	f := New()
	var got error
	f.OnUnreadable = func(err error) { got = err; panic("stop") }
	a := &applier{t: t, f: f}
	mustPanic(t, func() { a.applyRaw(entry) })
	var ue *UnreadableError
	if !errors.As(got, &ue) || ue.Index != 1 || !errors.Is(got, ErrUnknownType) {
		t.Fatalf("OnUnreadable got %v", got)
	}
	for _, want := range []string{"log entry 1", "type 63", "log format 2", "snapshot version 1", "downgrade"} {
		if !strings.Contains(got.Error(), want) {
			t.Errorf("message %q lacks %q", got, want)
		}
	}
	msg := mustPanic(t, func() { (&applier{t: t, f: New()}).applyRaw(entry) })
	if !strings.Contains(msg, "newer sessiond") {
		t.Fatalf("panic without the hook: %q", msg)
	}
}
