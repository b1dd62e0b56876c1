package fsm

import (
	"encoding/binary"
	"errors"
)

// appendSession encodes a session as a compact binary record: the bulk of
// every snapshot, so it avoids JSON's cost and size. Fields are appended in
// a fixed order; new fields may only be added at the end, because that is
// what readSession tolerates in both directions (see there).
func appendSession(b []byte, s *Session) []byte {
	b = append(b, s.Digest[:]...)
	b = append(b, byte(s.Kind))
	b = binary.AppendUvarint(b, s.UserID)
	b = binary.AppendVarint(b, s.Created)
	b = binary.AppendVarint(b, s.ExpiresAt)
	b = binary.AppendVarint(b, s.IdleTimeout)
	b = binary.AppendVarint(b, s.LastRefresh)
	for _, str := range [...]string{s.ID, s.DB, s.Name, s.UserAgent, s.ClientAddr} {
		b = binary.AppendUvarint(b, uint64(len(str)))
		b = append(b, str...)
	}
	// FormatV3 fields, appended only when set, so a session without them
	// has the bytes it always had.
	if s.AuthTime != 0 || s.AMR != 0 || s.AppPassword != "" {
		b = binary.AppendVarint(b, s.AuthTime)
		b = binary.AppendUvarint(b, uint64(s.AMR))
	}
	if s.AppPassword != "" {
		b = binary.AppendUvarint(b, uint64(len(s.AppPassword)))
		b = append(b, s.AppPassword...)
	}
	return b
}

var errShortSession = errors.New("short session record")

// sessReader reads the fields after the digest and kind. Each method leaves
// its destination at zero when the record has already ended, and records
// errShortSession when a field starts but is cut short.
type sessReader struct {
	b   []byte
	err error
}

func (r *sessReader) done() bool { return r.err != nil || len(r.b) == 0 }

func (r *sessReader) uvarint(dst *uint64) { readVarint(r, dst, binary.Uvarint) }
func (r *sessReader) varint(dst *int64)   { readVarint(r, dst, binary.Varint) }

// readVarint is uvarint and varint alike: decode with read, or record
// errShortSession when the field is cut short.
func readVarint[T uint64 | int64](r *sessReader, dst *T, read func([]byte) (T, int)) {
	if r.done() {
		return
	}
	v, n := read(r.b)
	if n <= 0 {
		r.err = errShortSession
		return
	}
	*dst, r.b = v, r.b[n:]
}

// span reads a string field's length and returns where its bytes lie in
// the record rest, from the reader's position; 0, 0 when the record has
// ended.
func (r *sessReader) span(rest []byte) (from, to int) {
	if r.done() {
		return 0, 0
	}
	var n uint64
	r.uvarint(&n)
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShortSession
		return 0, 0
	}
	from = len(rest) - len(r.b)
	r.b = r.b[n:]
	return from, from + int(n)
}

// readSession decodes a session record. Only the digest and kind are
// required. The record's length is explicit, so a record that ends at a
// field boundary was written by an older binary that did not have the
// later fields yet: they read as zero values, so adding a field never makes
// an older snapshot unreadable. A field that starts but is cut short is
// corrupt. Bytes after the last field this binary knows are fields appended
// by a newer writer: they are skipped, as unknown record kinds are, and a
// snapshot written back from this state no longer has them. A new field
// that an older binary must not drop (one that narrows what a session may
// do, say) therefore needs a new snapshot version, which older binaries
// refuse, instead of an appended field.
func readSession(b []byte) (*Session, error) {
	if len(b) < 33 {
		return nil, errShortSession
	}
	s := &Session{}
	copy(s.Digest[:], b)
	s.Kind = Kind(b[32])
	r := &sessReader{b: b[33:]}
	r.uvarint(&s.UserID)
	r.varint(&s.Created)
	r.varint(&s.ExpiresAt)
	r.varint(&s.IdleTimeout)
	r.varint(&s.LastRefresh)
	// The strings share one allocation, copied from the record once: a
	// restore decodes millions of sessions, and one allocation instead of
	// up to five is most of what decoding costs. Bytes after the last
	// string (a newer writer's fields) are not kept.
	rest := r.b
	var spans [5][2]int
	end := 0
	for i := range spans {
		spans[i][0], spans[i][1] = r.span(rest)
		end = max(end, spans[i][1]) // fields an older writer lacked span 0, 0
	}
	if r.err != nil {
		return nil, r.err
	}
	all := string(rest[:end])
	for i, dst := range [...]*string{&s.ID, &s.DB, &s.Name, &s.UserAgent, &s.ClientAddr} {
		*dst = all[spans[i][0]:spans[i][1]]
	}
	var amr uint64
	r.varint(&s.AuthTime)
	r.uvarint(&amr)
	s.AMR = AMR(amr)
	if tail := r.b; !r.done() {
		from, to := r.span(tail)
		if r.err == nil {
			s.AppPassword = string(tail[from:to])
		}
	}
	return s, r.err
}
