package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
)

// A backup is the FSM's snapshot stream (unchanged: the internal Raft
// snapshot format is the same bytes) followed by a 40-byte trailer: a
// magic and an HMAC-SHA256 of everything before it under a key derived
// from the seal secret (Config.BackupKeys). The snapshot's own SHA-256
// only catches accidents — anyone can recompute it — while the MAC needs
// the secret, so a crafted or foreign backup is refused before anything
// is proposed.
const (
	backupMACMagic = "SDBKMAC1"
	backupMACLen   = len(backupMACMagic) + sha256.Size
)

// ErrBackupMAC means a backup's MAC is missing or does not verify under
// any key this node holds.
var ErrBackupMAC = errors.New("transport: backup MAC does not verify (not made by this cluster, or altered)")

// macWriter passes writes through and MACs them.
type macWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (m *macWriter) Write(p []byte) (int, error) {
	n, err := m.w.Write(p)
	m.h.Write(p[:n])
	m.n += int64(n)
	return n, err
}

// WriteBackup writes the snapshot through write, then the MAC trailer
// when the node has a backup key.
func WriteBackup(w io.Writer, keys [][]byte, write func(io.Writer) (int64, error)) (int64, error) {
	if len(keys) == 0 {
		return write(w)
	}
	mw := &macWriter{w: w, h: hmac.New(sha256.New, keys[0])}
	if _, err := write(mw); err != nil {
		return mw.n, err
	}
	trailer := append([]byte(backupMACMagic), mw.h.Sum(nil)...)
	n, err := w.Write(trailer)
	return mw.n + int64(n), err
}

// SplitBackup returns the size of the snapshot part of a backup of size
// bytes and its MAC, or an error when the trailer is missing.
func SplitBackup(r io.ReaderAt, size int64) (payload int64, mac []byte, err error) {
	if size < int64(backupMACLen) {
		return 0, nil, fmt.Errorf("%w: no MAC trailer", ErrBackupMAC)
	}
	t := make([]byte, backupMACLen)
	if _, err := r.ReadAt(t, size-int64(backupMACLen)); err != nil {
		return 0, nil, fmt.Errorf("%w: reading trailer: %v", ErrBackupMAC, err)
	}
	if string(t[:len(backupMACMagic)]) != backupMACMagic {
		return 0, nil, fmt.Errorf("%w: no MAC trailer", ErrBackupMAC)
	}
	return size - int64(backupMACLen), t[len(backupMACMagic):], nil
}

// VerifyBackup checks the MAC of a backup of size bytes against every
// key and returns the length of the snapshot part. Without keys, a
// trailer (if any) is dropped unchecked and the snapshot's checksum is
// all that is verified.
func VerifyBackup(r io.ReaderAt, size int64, keys [][]byte) (int64, error) {
	payload, mac, err := SplitBackup(r, size)
	if len(keys) == 0 {
		if err != nil {
			return size, nil
		}
		return payload, nil
	}
	if err != nil {
		return 0, err
	}
	for _, k := range keys {
		h := hmac.New(sha256.New, k)
		if _, err := io.Copy(h, io.NewSectionReader(r, 0, payload)); err != nil {
			return 0, err
		}
		if hmac.Equal(h.Sum(nil), mac) {
			return payload, nil
		}
	}
	return 0, ErrBackupMAC
}
