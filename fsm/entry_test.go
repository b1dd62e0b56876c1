package fsm

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestApplyEntry_Undecodable(t *testing.T) {
	tests := []struct {
		name  string
		entry []byte
		want  error
	}{
		{"unknown type", []byte{0x70, '{', '}'}, ErrUnknownType},
		{"type zero", []byte{0x00, '{', '}'}, ErrUnknownType},
		{"largest non-ignorable", []byte{0x7F}, ErrUnknownType},
		{"empty entry", nil, ErrEmptyEntry},
		{"bad json", append([]byte{byte(TypeCreateUser)}, `{"login":`...), ErrBadPayload},
		{"no payload", []byte{byte(TypeDeleteUser)}, ErrBadPayload},
		{"wrong json type", append([]byte{byte(TypeDeleteUser)}, `{"user_id":"1"}`...), ErrBadPayload},
		{"bad digest", append([]byte{byte(TypeRevokeSession)}, `{"digest":"abc"}`...), ErrBadPayload},
		{"trailing garbage", append(MustEncode(&CreateDB{Name: "x"}), 'x'), ErrBadPayload},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Decode(tc.entry); !errors.Is(err, tc.want) {
				t.Errorf("Decode error = %v, want %v", err, tc.want)
			}
			f := New()
			f.ApplyEntry(1, MustEncode(&CreateDB{Name: "before"}))
			before, _ := f.StateHash()
			msg := mustPanic(t, func() { f.ApplyEntry(4242, tc.entry) })
			if !strings.Contains(msg, "4242") {
				t.Errorf("panic %q does not name the index", msg)
			}
			if after, _ := f.StateHash(); after != before {
				t.Error("state changed by an undecodable entry")
			}
			// Through raft.Log too; the applied index must not move past it.
			msg = mustPanic(t, func() {
				f.Apply(&raft.Log{Index: 777, Type: raft.LogCommand, Data: tc.entry})
			})
			if !strings.Contains(msg, "777") {
				t.Errorf("panic %q does not name the index", msg)
			}
			if got := f.AppliedIndex(); got == 777 {
				t.Error("AppliedIndex advanced past an entry that was not applied")
			}
		})
	}
}

func TestApplyEntry_IgnorableTypes(t *testing.T) {
	for _, entry := range [][]byte{
		{0xF0},
		{0xF0, 'n', 'o', 't', ' ', 'j', 's', 'o', 'n'},
		{byte(IgnorableFlag)},
		{0xFF, '{', '}'},
		append([]byte{byte(IgnorableFlag | TypeCreateUser)}, MustEncode(newUser("x"))[1:]...),
	} {
		cmd, err := Decode(entry)
		if cmd != nil || err != nil {
			t.Errorf("Decode(%q) = %v, %v; want nil, nil", entry, cmd, err)
		}
		f := New()
		before, _ := f.StateHash()
		if got := f.ApplyEntry(9, entry); got != (Result{Index: 9}) {
			t.Errorf("ApplyEntry(%q) = %+v", entry, got)
		}
		if after, _ := f.StateHash(); after != before {
			t.Errorf("ApplyEntry(%q) changed the state", entry)
		}
		res := f.Apply(&raft.Log{Index: 10, Type: raft.LogCommand, Data: entry})
		if res != (Result{Index: 10}) || f.AppliedIndex() != 10 {
			t.Errorf("Apply(%q) = %+v, applied %d", entry, res, f.AppliedIndex())
		}
	}
}

func TestApply_RaftLogTypes(t *testing.T) {
	f := New()
	res := f.Apply(&raft.Log{Index: 5, Term: 2, Type: raft.LogCommand, Data: MustEncode(newUser("alice"))})
	if res != (Result{UserID: 1, Index: 5}) {
		t.Fatalf("Apply = %#v", res)
	}
	if f.AppliedIndex() != 5 {
		t.Fatalf("AppliedIndex = %d", f.AppliedIndex())
	}
	hash, _ := f.StateHash()

	idx := uint64(5)
	for _, typ := range []raft.LogType{raft.LogNoop, raft.LogBarrier, raft.LogConfiguration, raft.LogAddPeerDeprecated} {
		idx++
		// Data that would be a valid command must not be applied either.
		got := f.Apply(&raft.Log{Index: idx, Type: typ, Data: MustEncode(newUser("bob"))})
		if got != nil {
			t.Errorf("%v: Apply = %#v, want nil", typ, got)
		}
		if f.AppliedIndex() != idx {
			t.Errorf("%v: AppliedIndex = %d, want %d", typ, f.AppliedIndex(), idx)
		}
	}
	if h, at := f.StateHash(); h != hash || at != idx {
		t.Errorf("StateHash = %s at %d; state changed or index wrong", h, at)
	}
}

func TestApplyEntry_OnApply(t *testing.T) {
	f := New()
	var seen []CmdType
	f.OnApply = func(t CmdType, _ time.Duration) { seen = append(seen, t) }
	f.ApplyEntry(1, MustEncode(newUser("a")))
	f.ApplyEntry(2, []byte{0xF0}) // skipped: not a command of ours
	f.ApplyEntry(3, MustEncode(&DeleteUser{UserID: 1}))
	if len(seen) != 2 || seen[0] != TypeCreateUser || seen[1] != TypeDeleteUser {
		t.Errorf("OnApply saw %v", seen)
	}
}

func TestEncodeDecode_AllCommands(t *testing.T) {
	for _, c := range allCommands() {
		entry, err := Encode(c)
		if err != nil {
			t.Fatalf("Encode(%T): %v", c, err)
		}
		if CmdType(entry[0]) != c.Type() {
			t.Errorf("%T: type byte %d, want %d", c, entry[0], c.Type())
		}
		got, err := Decode(entry)
		if err != nil {
			t.Fatalf("Decode(%T): %v", c, err)
		}
		if !equalCommands(got, c) {
			t.Errorf("%T: round trip gave %+v, want %+v", c, got, c)
		}
	}
}
