package cluster

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// recomputeSum rewrites a snapshot's own SHA-256 (the 32 bytes after the
// end record) as an attacker who edited it would.
func recomputeSum(snap []byte) []byte {
	out := append([]byte(nil), snap...)
	body := out[:len(out)-33]
	sum := sha256.Sum256(body)
	copy(out[len(out)-32:], sum[:])
	return out
}

// A backup carries a MAC under the backup key: one with the MAC broken,
// with its payload edited and the SHA-256 recomputed, without a trailer
// (a plain, self-consistent snapshot from anywhere) or MACed under
// another key is refused before anything is proposed, and the state is
// unchanged. After a seal rotation, a backup made under the old key
// still restores.
func TestBackup_MACRefusesCraftedBackups(t *testing.T) {
	k1, k2 := []byte("backup-key-one-0123456789abcdef!"), []byte("backup-key-two-0123456789abcdef!")
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.BackupKeys = [][]byte{k1} })
	n := c.waitLeader()
	good := backupWithOneSession(t, n.Node, "ivy")
	payload, _, err := transport.SplitBackup(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	snap := good[:payload]
	if _, _, err := fsm.ReadSnapshot(bytes.NewReader(snap)); err != nil {
		t.Fatalf("the snapshot part is not the fsm format: %v", err)
	}
	edited := recomputeSum(flip(snap, len(snap)/2))
	if _, _, err := fsm.ReadSnapshot(bytes.NewReader(edited)); errors.Is(err, fsm.ErrSnapshotChecksum) {
		t.Fatal("test setup: the recomputed checksum does not hold")
	}
	otherKey := bytes.Buffer{}
	if _, err := transport.WriteBackup(&otherKey, [][]byte{k2}, n.fsm.WriteSnapshot); err != nil {
		t.Fatal(err)
	}
	index := n.fsm.AppliedIndex()
	hash, _ := n.fsm.StateHash()
	for name, data := range map[string][]byte{
		"mac flipped":            flip(good, len(good)-1),
		"payload edited, sum ok": append(edited, good[len(snap):]...),
		"no trailer":             snap,
		"other cluster's key":    otherKey.Bytes(),
	} {
		err := n.Restore(ctx5(t), bytes.NewReader(data))
		if !errors.Is(err, ErrBadBackup) || !errors.Is(err, transport.ErrBackupMAC) {
			t.Errorf("%s: want ErrBackupMAC, got %v", name, err)
		}
	}
	if h, _ := n.fsm.StateHash(); h != hash || n.fsm.AppliedIndex() != index {
		t.Fatal("a refused restore changed the state")
	}
	if err := n.Restore(ctx5(t), bytes.NewReader(good)); err != nil {
		t.Fatalf("good backup: %v", err)
	}

	// Rotation: the new key signs, the old one still verifies.
	rotated := newTestCluster(t, 1, func(cfg *Config) { cfg.BackupKeys = [][]byte{k2, k1} })
	if err := rotated.waitLeader().Restore(ctx5(t), bytes.NewReader(good)); err != nil {
		t.Fatalf("backup under the old key after rotation: %v", err)
	}
}
