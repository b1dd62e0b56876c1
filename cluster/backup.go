package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// ErrBadBackup means a backup failed verification; nothing was changed.
var ErrBadBackup = errors.New("cluster: invalid backup")

// MaxBackupSize bounds a restore upload.
const MaxBackupSize = 8 << 30

// restoreGap is how far past the last log index a restore is placed. Raft
// gives a restore the index max(meta.Index, last)+1; asking for a meta index
// well past the last one makes that index known in advance, even with
// writes racing the restore, so it can be stamped into the snapshot.
const restoreGap = 1 << 20

// Backup writes a consistent snapshot of the state to w: it first waits for
// a read index, so the backup holds every write acknowledged before the
// call. The stream carries a version header and a SHA-256 checksum, then
// a MAC under the backup key (transport/backupmac.go).
func (n *Node) Backup(ctx context.Context, w io.Writer) (int64, error) {
	if err := n.ReadBarrier(ctx, Consistent, false); err != nil {
		return 0, err
	}
	return transport.WriteBackup(w, n.cfg.BackupKeys, n.fsm.WriteSnapshot)
}

// Restore replaces the whole cluster state with a backup. The backup is
// verified completely (MAC, magic, version, checksum, every record) before
// anything changes; a bad one is refused with ErrBadBackup. On a follower
// the verified stream is forwarded to the leader.
func (n *Node) Restore(ctx context.Context, r io.Reader) error {
	tmp, st, err := n.stageBackup(r)
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 6*n.cfg.ApplyTimeout)
		defer cancel()
	}
	// Leadership may move while the backup is uploaded or applied: retry on
	// the new leader, as for any write. A restore is idempotent.
	return n.retryLeader(ctx, func(ctx context.Context) error {
		if n.raft.State() == raft.Leader {
			return n.restoreLocal(st)
		}
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		return n.forwardRestore(ctx, tmp)
	})
}

func (n *Node) restoreLocal(st *fsm.State) error {
	// Raft checks the size, so the re-stamped snapshot is staged first.
	f, err := os.CreateTemp(n.cfg.DataDir, "restore-stamped-*.snap")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	metaIndex := n.raft.LastIndex() + restoreGap
	size, err := fsm.WriteState(st, metaIndex+1, f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: metaIndex, Size: size}
	if err := n.raft.Restore(meta, f, n.cfg.ApplyTimeout*6); err != nil {
		return fmt.Errorf("%w: restore: %v", ErrNotLeader, err)
	}
	return nil
}

func (n *Node) forwardRestore(ctx context.Context, body io.Reader) error {
	addr, id := n.raft.LeaderWithID()
	if id == "" || addr == "" {
		return ErrNoLeader
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peerURL(string(addr))+"/internal/v1/restore", body)
	if err != nil {
		return err
	}
	if n.guard.key != nil {
		// body is the staged file: Sign hashes it and seeks back.
		if err := reqsign.Sign(req, n.guard.key, string(id)); err != nil {
			return err
		}
	}
	resp, err := n.peers.Do(req)
	if err != nil {
		return peerError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return decodeInternalError(resp.StatusCode, data)
}

func (n *Node) handleRestore(w http.ResponseWriter, r *http.Request) {
	if n.raft.State() != raft.Leader {
		writeInternalError(w, ErrNotLeader)
		return
	}
	if err := n.Restore(r.Context(), r.Body); err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]bool{"ok": true})
}
