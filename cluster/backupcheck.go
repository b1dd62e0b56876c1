package cluster

import (
	"fmt"
	"io"
	"os"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// stageBackup copies an uploaded backup into the data dir and verifies it
// completely (MAC, magic, version, checksum, every record), returning the
// staged file (the caller removes it) and the state it holds. A bad
// backup is refused with ErrBadBackup and leaves nothing behind.
func (n *Node) stageBackup(r io.Reader) (*os.File, *fsm.State, error) {
	tmp, err := os.CreateTemp(n.cfg.DataDir, "restore-*.snap")
	if err != nil {
		return nil, nil, err
	}
	st, err := n.verifyStaged(tmp, r)
	if err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, nil, err
	}
	return tmp, st, nil
}

func (n *Node) verifyStaged(tmp *os.File, r io.Reader) (*fsm.State, error) {
	if _, err := io.Copy(tmp, io.LimitReader(r, MaxBackupSize)); err != nil {
		return nil, fmt.Errorf("%w: reading upload: %v", ErrBadBackup, err)
	}
	info, err := tmp.Stat()
	if err != nil {
		return nil, err
	}
	payload, err := transport.VerifyBackup(tmp, info.Size(), n.cfg.BackupKeys)
	if err != nil {
		n.authLogger().Warn("backup refused before anything was proposed", "err", err)
		return nil, fmt.Errorf("%w: %w", ErrBadBackup, err)
	}
	st, _, err := fsm.ReadSnapshot(io.NewSectionReader(tmp, 0, payload))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBackup, err)
	}
	return st, nil
}

// CheckBackup verifies a backup exactly as Restore would, on this node
// and with its backup keys, and returns the state it holds without
// changing anything: what an operator is shown (its age, what it would
// bring back) before being asked to restore it. Unlike an offline
// `snapshot inspect`, it checks the MAC.
func (n *Node) CheckBackup(r io.Reader) (*fsm.State, error) {
	tmp, st, err := n.stageBackup(r)
	if err != nil {
		return nil, err
	}
	tmp.Close()
	os.Remove(tmp.Name())
	return st, nil
}
