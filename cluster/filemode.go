package cluster

import (
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// Snapshots hold password hashes and token digests, so everything a node
// writes under snapshots/ is the owner's alone: directories 0700, files
// 0600 (finding L6). raft.FileSnapshotStore makes its directories 0755
// and its files with os.Create (0644 under the usual umask), so the store
// is wrapped: each snapshot's directory is locked down as soon as it is
// created, before the state is written into it, and its files when the
// sink closes. Snapshots written by older versions are fixed at start-up.
const (
	privateDirMode  = 0o700
	privateFileMode = 0o600
)

// privateSnapshotStore is a FileSnapshotStore with private file modes.
type privateSnapshotStore struct {
	*raft.FileSnapshotStore
	dir string // <data dir>/snapshots
}

func newPrivateSnapshotStore(dataDir string, retain int, logger hclog.Logger) (*privateSnapshotStore, error) {
	fss, err := raft.NewFileSnapshotStoreWithLogger(dataDir, retain, logger)
	if err != nil {
		return nil, err
	}
	s := &privateSnapshotStore{FileSnapshotStore: fss, dir: filepath.Join(dataDir, "snapshots")}
	if err := privatizeTree(s.dir); err != nil {
		return nil, err
	}
	return s, nil
}

// Create makes a snapshot sink whose directory only the owner can enter.
func (s *privateSnapshotStore) Create(version raft.SnapshotVersion, index, term uint64,
	configuration raft.Configuration, configurationIndex uint64, trans raft.Transport) (raft.SnapshotSink, error) {
	sink, err := s.FileSnapshotStore.Create(version, index, term, configuration, configurationIndex, trans)
	if err != nil {
		return nil, err
	}
	tmp := filepath.Join(s.dir, sink.ID()+".tmp")
	if err := privatizeTree(tmp); err != nil {
		sink.Cancel()
		return nil, err
	}
	return &privateSink{SnapshotSink: sink, store: s}, nil
}

// privateSink fixes the modes of the finished snapshot directory.
type privateSink struct {
	raft.SnapshotSink
	store *privateSnapshotStore
}

func (p *privateSink) Close() error {
	if err := p.SnapshotSink.Close(); err != nil {
		return err
	}
	return privatizeTree(filepath.Join(p.store.dir, p.ID()))
}

// privatizeTree sets 0700 on root and every directory below it and 0600
// on every file. A path that vanished meanwhile (a reaped snapshot) is not
// an error.
func privatizeTree(root string) error {
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		mode := fs.FileMode(privateFileMode)
		if d.IsDir() {
			mode = privateDirMode
		}
		if err := os.Chmod(path, mode); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	return err
}
