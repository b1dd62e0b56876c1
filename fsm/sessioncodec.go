package fsm

import (
	"encoding/binary"
	"errors"
)

// appendSession encodes a session as a compact binary record: the bulk of
// every snapshot, so it avoids JSON's cost and size. Fields are appended in
// a fixed order; new fields may only be added at the end.
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
	return b
}

var errShortSession = errors.New("short session record")

type sessReader struct {
	b   []byte
	err error
}

func (r *sessReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errShortSession
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sessReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errShortSession
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *sessReader) str() string {
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		r.err = errShortSession
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func readSession(b []byte) (*Session, error) {
	if len(b) < 33 {
		return nil, errShortSession
	}
	s := &Session{}
	copy(s.Digest[:], b)
	s.Kind = Kind(b[32])
	r := &sessReader{b: b[33:]}
	s.UserID = r.uvarint()
	s.Created = r.varint()
	s.ExpiresAt = r.varint()
	s.IdleTimeout = r.varint()
	s.LastRefresh = r.varint()
	s.ID, s.DB, s.Name, s.UserAgent, s.ClientAddr = r.str(), r.str(), r.str(), r.str(), r.str()
	return s, r.err
}
