package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// A backup is the snapshot followed by a MAC trailer under a key derived
// from the seal secret (the cluster key unless a dedicated seal key is
// set). The snapshot's own SHA-256 only catches accidents: anyone can
// recompute it after planting an admin (finding N12). So the offline
// tools check the MAC whenever they are given a secret, and otherwise say
// plainly that they did not.

// ErrBackupMAC is a backup whose MAC is missing or does not verify.
var ErrBackupMAC = errors.New("the backup's MAC does not verify")

// macKeys are the secrets a backup's MAC may be checked with, from the
// same places serve reads them: --seal-key-file / SESSIOND_SEAL_KEY[_FILE],
// SESSIOND_SEAL_KEY_OLD[_FILE], --cluster-key-file /
// SESSIOND_CLUSTER_KEY[_FILE]. None given: nil, and the MAC is not checked.
func macKeys(env Env, clusterKeyFile, sealKeyFile string) ([][]byte, error) {
	var secrets []secret
	for _, s := range []struct{ env, file string }{{envSealKey, sealKeyFile}, {envSealKeyOld, ""}, {envClusterKey, clusterKeyFile}} {
		v, err := readSecret(env, s.env, s.file)
		if err != nil {
			return nil, err
		}
		if v != "" {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) == 0 {
		return nil, nil
	}
	old := make([][]byte, 0, len(secrets)-1)
	for _, s := range secrets[1:] {
		old = append(old, []byte(s))
	}
	sealer, err := auth.NewSealer([]byte(secrets[0]), old...)
	if err != nil {
		return nil, fmt.Errorf("seal key: %w", err)
	}
	return sealer.BackupMACKeys(), nil
}

// backupInfo is what a check of a backup file found.
type backupInfo struct {
	state       *fsm.State
	index       uint64
	macVerified bool   // false: no key was given, the MAC was not checked
	keyID       string // the backup key id the backup names ("" for older backups)
}

// checkBackup verifies a backup file: the MAC trailer is there, the
// snapshot before it is whole (magic, version, every record, checksum),
// and, given keys, the MAC matches under one of them. Any failure is an
// error: a tampered file never passes.
func checkBackup(path string, keys [][]byte) (backupInfo, error) {
	var info backupInfo
	f, err := os.Open(path)
	if err != nil {
		return info, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return info, err
	}
	payload, mac, keyID, err := transport.SplitBackupID(f, st.Size())
	info.keyID = keyID
	if err != nil {
		return info, fmt.Errorf("%s does not verify: %w (not a sessiond backup, or its MAC was stripped)", path, err)
	}
	if info.state, info.index, err = fsm.ReadSnapshot(io.NewSectionReader(f, 0, payload)); err != nil {
		return info, fmt.Errorf("%s does not verify: %w", path, err)
	}
	if len(keys) == 0 {
		return info, nil
	}
	for _, k := range keys {
		h := hmac.New(sha256.New, k)
		if _, err := io.Copy(h, io.NewSectionReader(f, 0, payload)); err != nil {
			return info, err
		}
		if hmac.Equal(h.Sum(nil), mac) {
			info.macVerified = true
			return info, nil
		}
	}
	if keyID != "" {
		return info, fmt.Errorf("%s does not verify: %w under the key given: it was altered, or made under another seal secret "+
			"(this backup names backup key id %s; the keys given have %s; each node logs its backup_key_id at start)",
			path, ErrBackupMAC, keyID, keyIDs(keys))
	}
	return info, fmt.Errorf("%s does not verify: %w under the key given: it was altered, or made by another cluster or under another seal key", path, ErrBackupMAC)
}

func keyIDs(keys [][]byte) string {
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		ids = append(ids, transport.BackupKeyID(k))
	}
	return strings.Join(ids, ", ")
}

// describe is the one line inspect prints and the restore prompt shows.
func (b backupInfo) describe(path string) string {
	users, sessions := b.state.Counts()
	what := fmt.Sprintf("%s (index %d, %d dbs, %d users, %d sessions)", path, b.index, len(b.state.DBs()), users, sessions)
	if b.keyID != "" {
		what += ", made under backup key id " + b.keyID
	}
	if b.macVerified {
		return what + ": valid, MAC verified"
	}
	return what + ": structure valid, MAC not checked (give the cluster key, or the seal key if the cluster has one, " +
		"to check it: " + envClusterKey + "[_FILE], --cluster-key-file, " + envSealKey + "[_FILE], --seal-key-file)"
}

// snapshotInspect is `sessiond snapshot inspect [--cluster-key-file F]
// [--seal-key-file F] FILE`: it verifies a backup offline and says what
// it holds, and whether its MAC was checked. A file that fails any check
// exits non-zero.
func (m *Main) snapshotInspect(args []string) error {
	fs := newFlagSet("snapshot inspect", m.Stderr)
	var keyFile, sealFile string
	inspectFlags(fs, &keyFile, &sealFile)
	pos, err := parseCommand(fs, args, m.Env)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("snapshot inspect needs exactly one FILE")
	}
	keys, err := macKeys(m.Env, keyFile, sealFile)
	if err != nil {
		return err
	}
	info, err := checkBackup(pos[0], keys)
	if err != nil {
		return err
	}
	fmt.Fprintln(m.Stdout, info.describe(pos[0]))
	return nil
}

func inspectFlags(fs *flag.FlagSet, keyFile, sealFile *string) {
	fs.StringVar(keyFile, "cluster-key-file", "", "`file` holding the cluster key, to check the MAC (or "+envClusterKey+")")
	fs.StringVar(sealFile, "seal-key-file", "", "`file` holding the seal key, when the cluster has a dedicated one (or "+envSealKey+")")
}
