package fsm

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

var snapshotErrors = []error{ErrSnapshotMagic, ErrSnapshotVersion, ErrSnapshotChecksum, ErrSnapshotCorrupt}

func isSnapshotError(err error) bool {
	for _, e := range snapshotErrors {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// restoreMustFail restores b into f and checks it is refused with a
// snapshot error (want, when set) and leaves f exactly as it was.
// Restore is ReadSnapshot plus the swap, so ReadSnapshot's own error is
// checked only when alsoRead is set (each call allocates a 256 KiB buffer).
func restoreMustFail(t *testing.T, f *FSM, b []byte, want error, what string, alsoRead bool) {
	t.Helper()
	st, idx := f.State(), f.AppliedIndex()
	if alsoRead {
		if _, _, err := ReadSnapshot(bytes.NewReader(b)); !isSnapshotError(err) || want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: ReadSnapshot error = %v, want %v", what, err, want)
		}
	}
	err := f.Restore(&trackingCloser{Reader: bytes.NewReader(b)})
	if !isSnapshotError(err) || want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: Restore error = %v, want %v", what, err, want)
	}
	if f.State() != st || f.AppliedIndex() != idx {
		t.Fatalf("%s: a refused Restore changed the FSM", what)
	}
}

// TestSnapshot_CorruptByte flips bits in every byte of a small snapshot:
// header, each record, the end marker and the checksum.
func TestSnapshot_CorruptByte(t *testing.T) {
	snap := snapshotBytes(t, buildSmallState(t).f)
	target := buildSmallState(t)
	target.must(newUser("only-in-target"))
	before := snapshotBytes(t, target.f)

	region := func(i int) error {
		switch {
		case i < 8:
			return ErrSnapshotMagic
		case i < 12:
			return ErrSnapshotVersion
		}
		return nil // checksum or corrupt, depending on what the flip hits
	}
	// Every byte with its low bit flipped; a sample with other masks.
	for i := range snap {
		masks := []byte{0x01}
		if i%5 == 0 || i < 21 || i >= len(snap)-33 {
			masks = append(masks, 0x80, 0xFF)
		}
		for _, mask := range masks {
			b := bytes.Clone(snap)
			b[i] ^= mask
			restoreMustFail(t, target.f, b, region(i), fmt.Sprintf("byte %d/%d ^%#02x", i, len(snap), mask), i%11 == 0)
		}
	}
	if !bytes.Equal(snapshotBytes(t, target.f), before) {
		t.Fatal("state changed by refused restores")
	}
	// The checksum itself, and the index, are caught by the checksum.
	for _, i := range []int{12, 19, len(snap) - 32, len(snap) - 1} {
		b := bytes.Clone(snap)
		b[i] ^= 0x10
		restoreMustFail(t, target.f, b, ErrSnapshotChecksum, fmt.Sprintf("byte %d", i), true)
	}
}

func TestSnapshot_Truncated(t *testing.T) {
	snap := snapshotBytes(t, buildSmallState(t).f)
	target := buildSmallState(t)
	for n := 0; n < len(snap); n++ {
		if n > 40 && n < len(snap)-40 && n%3 != 0 {
			continue // a sample in the middle; every length at both ends
		}
		restoreMustFail(t, target.f, snap[:n], nil, fmt.Sprintf("truncated to %d/%d", n, len(snap)), n%7 == 0)
	}
}

// craft builds a snapshot from raw records with a valid checksum, to reach
// the checks that a random flip stops short of.
func craft(version uint32, records ...[]byte) []byte {
	var b bytes.Buffer
	b.WriteString(snapMagic)
	binary.Write(&b, binary.BigEndian, version)
	binary.Write(&b, binary.BigEndian, uint64(7))
	for _, r := range records {
		b.Write(r)
	}
	sum := sha256.Sum256(b.Bytes())
	b.WriteByte(recEnd)
	b.Write(sum[:])
	return b.Bytes()
}

func rec(kind byte, payload []byte) []byte {
	return append(binary.AppendUvarint([]byte{kind}, uint64(len(payload))), payload...)
}

func TestSnapshot_CraftedRecords(t *testing.T) {
	meta := rec(recMeta, []byte(`{"settings":{},"next_user":5,"dbs":["d"]}`))
	user := rec(recUser, []byte(`{"id":4,"db":"d","login":"x","password_hash":"h","version":1}`))
	sess := rec(recSession, appendSession(nil, &Session{ID: "s", Digest: dg("s"), UserID: 4, DB: "d", Created: 1}))
	tests := []struct {
		name string
		snap []byte
		want error // nil: accepted
	}{
		{"valid", craft(1, meta, user, sess), nil},
		{"unknown record kind is skipped", craft(1, meta, rec(0x42, []byte("future")), user, sess), nil},
		{"version 2", craft(2, meta), ErrSnapshotVersion},
		{"version 0", craft(0, meta), ErrSnapshotVersion},
		{"bad user json", craft(1, meta, rec(recUser, []byte(`{"id":`))), ErrSnapshotCorrupt},
		{"bad meta json", craft(1, rec(recMeta, []byte(`[]`))), ErrSnapshotCorrupt},
		{"bad node json", craft(1, rec(recNode, []byte(`1`))), ErrSnapshotCorrupt},
		{"bad key json", craft(1, rec(recKey, []byte(`{"secret":"%%"}`))), ErrSnapshotCorrupt},
		{"short session", craft(1, rec(recSession, make([]byte, 32))), ErrSnapshotCorrupt},
		{"session string past the end", craft(1, rec(recSession, append(make([]byte, 33), 1, 0, 0, 0, 0, 50))), ErrSnapshotCorrupt},
		{"record longer than the limit", craft(1, append([]byte{recUser}, binary.AppendUvarint(nil, maxRecord+1)...)), ErrSnapshotCorrupt},
		{"bad varint length", craft(1, []byte{recUser, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), ErrSnapshotCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			if tc.want != nil {
				restoreMustFail(t, f, tc.snap, tc.want, tc.name, true)
				return
			}
			if err := f.Restore(&trackingCloser{Reader: bytes.NewReader(tc.snap)}); err != nil {
				t.Fatalf("Restore: %v", err)
			}
			if u, ok := f.State().UserByLogin("d", "x"); !ok || u.ID != 4 {
				t.Errorf("user not restored: %+v", u)
			}
			if s, ok := f.State().Session(dg("s")); !ok || s.UserID != 4 {
				t.Errorf("session not restored: %+v", s)
			}
			if f.AppliedIndex() != 7 {
				t.Errorf("AppliedIndex = %d", f.AppliedIndex())
			}
			if res := f.ApplyEntry(8, MustEncode(newUser("y"))); res.UserID != 5 {
				t.Errorf("next user = %+v, want id 5 from the meta record", res)
			}
		})
	}
}
