package transport

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
)

// A backup is the FSM's snapshot stream (unchanged: the internal Raft
// snapshot format is the same bytes) followed by a 40-byte trailer: a
// magic and an HMAC-SHA256 of everything before it under a key derived
// from the seal secret (Config.BackupKeys). The snapshot's own SHA-256
// only catches accidents — anyone can recompute it — while the MAC needs
// the secret, so a crafted or foreign backup is refused before anything
// is proposed.
//
// Since SDBKMAC2 the trailer also names the key it was made under
// (BackupKeyID, 8 bytes between magic and MAC), so that a restore refused
// for want of that key can say which seal secret it needs. SDBKMAC1
// backups (40 bytes, no id) still verify.
const (
	backupMACMagic  = "SDBKMAC1"
	backupMACLen    = len(backupMACMagic) + sha256.Size
	backupMAC2Magic = "SDBKMAC2"
	backupKeyIDLen  = 8
	backupMAC2Len   = len(backupMAC2Magic) + backupKeyIDLen + sha256.Size
)

// BackupKeyID names a backup key without revealing it: the first 8 bytes,
// in hex, of an HMAC under the key of a fixed label. A node logs the id
// of its key at start ("JWT keyring sealed ... backup_key_id=...") and a
// backup carries the id of the key it was made under.
func BackupKeyID(key []byte) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte("sessiond/v1/backup-key-id"))
	return hex.EncodeToString(h.Sum(nil)[:backupKeyIDLen])
}

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
	id, _ := hex.DecodeString(BackupKeyID(keys[0]))
	trailer := append(append([]byte(backupMAC2Magic), id...), mw.h.Sum(nil)...)
	n, err := w.Write(trailer)
	return mw.n + int64(n), err
}

// SplitBackup returns the size of the snapshot part of a backup of size
// bytes and its MAC, or an error when the trailer is missing.
func SplitBackup(r io.ReaderAt, size int64) (payload int64, mac []byte, err error) {
	payload, mac, _, err = SplitBackupID(r, size)
	return payload, mac, err
}

// SplitBackupID is SplitBackup that also returns the id of the key the
// backup was made under ("" for an SDBKMAC1 backup, which names none).
func SplitBackupID(r io.ReaderAt, size int64) (payload int64, mac []byte, keyID string, err error) {
	if size >= int64(backupMAC2Len) {
		t := make([]byte, backupMAC2Len)
		if _, err := r.ReadAt(t, size-int64(backupMAC2Len)); err != nil {
			return 0, nil, "", fmt.Errorf("%w: reading trailer: %v", ErrBackupMAC, err)
		}
		if string(t[:len(backupMAC2Magic)]) == backupMAC2Magic {
			id := t[len(backupMAC2Magic) : len(backupMAC2Magic)+backupKeyIDLen]
			return size - int64(backupMAC2Len), t[len(backupMAC2Magic)+backupKeyIDLen:], hex.EncodeToString(id), nil
		}
	}
	payload, mac, err = splitBackupV1(r, size)
	return payload, mac, "", err
}

func splitBackupV1(r io.ReaderAt, size int64) (payload int64, mac []byte, err error) {
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
	payload, mac, keyID, err := SplitBackupID(r, size)
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
	return 0, MissingKeyError(keyID, keys)
}

// MissingKeyError is ErrBackupMAC saying, when the backup names its key,
// which key it was made under and which this side holds: the seal secret
// to configure (as an old seal key) for it to restore.
func MissingKeyError(keyID string, keys [][]byte) error {
	if keyID == "" {
		return ErrBackupMAC
	}
	held := make([]string, 0, len(keys))
	for _, k := range keys {
		held = append(held, BackupKeyID(k))
	}
	return fmt.Errorf("%w: it was made under the seal secret with backup key id %s, and this node's seal secrets have ids %s: "+
		"configure the seal secret it was made under as an old one (SESSIOND_SEAL_KEY_OLD, or SESSIOND_CLUSTER_KEY_OLD when the cluster key was the seal secret); "+
		"each node logs its id at start (backup_key_id)", ErrBackupMAC, keyID, strings.Join(held, ", "))
}
