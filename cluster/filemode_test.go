package cluster

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// Everything under snapshots/ is the owner's alone, for snapshots the node
// takes and for ones an older version left behind.
func TestFileModes_SnapshotsPrivate(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "snapshots", "1-1-0.old")
	if err := os.MkdirAll(old, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "state.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "n1", dir, "", nil, true, quiet)
	defer n.stop()
	c := &testCluster{t: t, nodes: []*testNode{n}}
	c.waitLeader()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := n.Apply(ctx, &fsm.PutNode{Node: fsm.Node{ID: "x", RaftAddr: "127.0.0.1:1", APIAddr: "http://127.0.0.1:1"}}); err != nil {
		t.Fatal(err)
	}
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	var files, dirs int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
			dirs++
		} else if strings.Contains(path, "snapshots") {
			files++
		}
		if got := info.Mode().Perm(); got != want {
			return errors.New(path + ": mode " + got.String() + ", want " + want.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// data dir, snapshots/, the old one and the new one; state.bin and
	// meta.json in the new one, state.bin in the old one.
	if dirs < 4 || files < 3 {
		t.Fatalf("walked %d dirs and %d snapshot files; the snapshot is missing", dirs, files)
	}
}

// A Raft port that other machines can reach, with neither mutual TLS nor a
// cluster key, is refused before anything is bound or written.
func TestRaftAuth_ExposedWithoutAuthRefused(t *testing.T) {
	for _, tc := range []struct{ bind, adv string }{{"0.0.0.0:0", ""}, {"127.0.0.1:0", "10.0.0.1:8300"}} {
		cfg := fastConfig(t, "n1", t.TempDir(), tc.bind, "http://127.0.0.1:1")
		cfg.RaftAdvertise, cfg.ClusterKey = tc.adv, ""
		_, err := Open(cfg)
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "mutual TLS") || !strings.Contains(err.Error(), "cluster key") {
			t.Fatalf("bind %s advertise %q: %v", tc.bind, tc.adv, err)
		}
	}
}
