package fsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// fullSession has every field of the session record set, each to a value
// whose encoding is not a single zero byte.
func fullSession() Session {
	return Session{
		ID: "s-full", Digest: dg("tok-full"), Kind: KindKnox, UserID: 7, DB: "acme",
		Created: t0, ExpiresAt: t0 + hour, IdleTimeout: minute, LastRefresh: t0 + 1,
		Name: "laptop", UserAgent: "ua/1", ClientAddr: "192.0.2.1:1",
	}
}

// sessionTail lists the fields after the digest and kind in record order,
// last first, each with a way to zero it on a Session.
var sessionTail = []struct {
	name string
	zero func(*Session)
}{
	{"ClientAddr", func(s *Session) { s.ClientAddr = "" }},
	{"UserAgent", func(s *Session) { s.UserAgent = "" }},
	{"Name", func(s *Session) { s.Name = "" }},
	{"DB", func(s *Session) { s.DB = "" }},
	{"ID", func(s *Session) { s.ID = "" }},
	{"LastRefresh", func(s *Session) { s.LastRefresh = 0 }},
	{"IdleTimeout", func(s *Session) { s.IdleTimeout = 0 }},
	{"ExpiresAt", func(s *Session) { s.ExpiresAt = 0 }},
	{"Created", func(s *Session) { s.Created = 0 }},
	{"UserID", func(s *Session) { s.UserID = 0 }},
}

// olderRecord simulates a writer that knew only the session fields before
// the last `missing` ones: every field encodes its zero value as one 0x00
// byte (a zero varint, an empty string), so zeroing the last fields and
// cutting that many bytes gives exactly the shorter record such a writer
// would have written. It returns the record and what it must read as.
func olderRecord(t *testing.T, missing int) ([]byte, Session) {
	t.Helper()
	s := fullSession()
	for _, f := range sessionTail[:missing] {
		f.zero(&s)
	}
	b := appendSession(nil, &s)
	if !bytes.Equal(b[len(b)-missing:], make([]byte, missing)) {
		t.Fatalf("zeroed fields do not end the record with %d zero bytes", missing)
	}
	return b[:len(b)-missing], s
}

// TestReadSession_OlderWriter is the codec's compatibility promise: a
// record with trailing fields missing, as one written before those fields
// existed, reads with them at zero.
func TestReadSession_OlderWriter(t *testing.T) {
	for missing := 1; missing <= len(sessionTail); missing++ {
		t.Run(fmt.Sprintf("without %s and later", sessionTail[missing-1].name), func(t *testing.T) {
			b, want := olderRecord(t, missing)
			got, err := readSession(b)
			if err != nil {
				t.Fatalf("readSession(%d bytes): %v", len(b), err)
			}
			if *got != want {
				t.Errorf("got  %+v\nwant %+v", *got, want)
			}
		})
	}
}

// TestRestore_OlderSessionRecord goes through the whole snapshot path: a
// snapshot whose session record lacks its last field (ClientAddr) restores.
func TestRestore_OlderSessionRecord(t *testing.T) {
	b, want := olderRecord(t, 1)
	meta := rec(recMeta, []byte(`{"settings":{},"next_user":8,"dbs":["acme"]}`))
	user := rec(recUser, []byte(`{"id":7,"db":"acme","login":"x","password_hash":"h","version":1}`))
	f := restoreBytes(t, craft(1, meta, user, rec(recSession, b)))
	got, ok := f.State().Session(want.Digest)
	if !ok || *got != want {
		t.Fatalf("Session = %+v, %v; want %+v", got, ok, want)
	}
	wantSessions(t, f.State(), 7, "s-full")
}

// TestReadSession_NewerWriter pins the other direction, as the format doc
// says: bytes after the last known field (fields a newer binary appended)
// are skipped, the known fields read as written, and this binary's own
// snapshot of the state no longer carries them.
func TestReadSession_NewerWriter(t *testing.T) {
	want := fullSession()
	want.AuthTime, want.AMR, want.AppPassword = want.Created, AMRPwd|AMROTP, "ap-1" // every field this binary knows is written
	b := appendSession(nil, &want)
	b = binary.AppendUvarint(b, 5)
	b = append(b, "scope"...)
	b = binary.AppendVarint(b, -1)
	got, err := readSession(b)
	if err != nil {
		t.Fatalf("readSession: %v", err)
	}
	if *got != want {
		t.Errorf("got  %+v\nwant %+v", *got, want)
	}

	f := restoreBytes(t, craft(1, rec(recMeta, []byte(`{"next_user":8}`)), rec(recSession, b)))
	var plain bytes.Buffer
	if _, err := WriteState(f.State(), 7, &plain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(plain.Bytes(), appendSession(nil, &want)) || bytes.Contains(plain.Bytes(), []byte("scope")) {
		t.Error("written back: want the known fields only")
	}
}

// TestReadSession_CutField keeps corruption detectable inside a record:
// cut at every length, a record reads when the cut falls on a field
// boundary (an older writer's record) and is refused when it falls inside
// a field (a varint without its last byte, a string shorter than its
// length).
func TestReadSession_CutField(t *testing.T) {
	full := fullSession()
	b := appendSession(nil, &full)
	ends := map[int]bool{33: true}
	p := 33
	_, n := binary.Uvarint(b[p:])
	p += n
	ends[p] = true
	for range 4 {
		_, n := binary.Varint(b[p:])
		p += n
		ends[p] = true
	}
	for range 5 {
		l, n := binary.Uvarint(b[p:])
		p += n + int(l)
		ends[p] = true
	}
	if p != len(b) || len(ends) != 11 {
		t.Fatalf("walked %d of %d bytes, %d boundaries: the test's field list is out of date", p, len(b), len(ends))
	}
	for cut := 0; cut <= len(b); cut++ {
		_, err := readSession(b[:cut])
		switch {
		case cut < 33 && err == nil:
			t.Errorf("cut at %d: accepted a record without its digest and kind", cut)
		case cut >= 33 && ends[cut] && err != nil:
			t.Errorf("cut at boundary %d: %v", cut, err)
		case cut >= 33 && !ends[cut] && err == nil:
			t.Errorf("cut at %d, inside a field: accepted", cut)
		}
	}
}
