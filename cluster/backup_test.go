package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestCluster_BackupWipeRestore(t *testing.T) {
	src := newTestCluster(t, 3, nil)
	leader := src.waitLeader()
	uid := mustUser(t, leader.Node, "gina")
	for i := 0; i < 50; i++ {
		mustLogin(t, src.nodes[i%3].Node, uid, fmt.Sprintf("b%d", i))
	}
	var backup bytes.Buffer
	if _, err := src.followers()[0].Backup(ctx5(t), &backup); err != nil {
		t.Fatalf("backup from a follower: %v", err)
	}

	// A brand-new, empty cluster: the wiped one.
	dst := newTestCluster(t, 3, nil)
	dl := dst.waitLeader()
	other := mustUser(t, dl.Node, "not-in-backup")
	mustLogin(t, dl.Node, other, "pre-restore")
	before := dl.fsm.AppliedIndex()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := dst.followers()[0].Restore(ctx, bytes.NewReader(backup.Bytes())); err != nil {
		t.Fatalf("restore through a follower: %v", err)
	}
	if after := dl.fsm.AppliedIndex(); after <= before {
		t.Fatalf("applied index moved backwards on restore: %d -> %d", before, after)
	}
	for _, n := range dst.nodes {
		eventually(t, 10*time.Second, "restore to reach "+n.id, func() bool {
			_, s := n.fsm.State().Counts()
			return s == 50
		})
		for i := 0; i < 50; i++ {
			if !valid(t, n.Node, Consistent, fmt.Sprintf("b%d", i)) {
				t.Fatalf("session b%d missing on %s after restore", i, n.id)
			}
		}
		if valid(t, n.Node, Consistent, "pre-restore") {
			t.Fatalf("state from before the restore survived on %s", n.id)
		}
	}
	// The restored cluster keeps taking writes.
	mustLogin(t, dst.followers()[1].Node, uid, "after-restore")
}

func TestCluster_CorruptRestoreRefused(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.waitLeader()
	good := backupWithOneSession(t, n.Node, "hank")
	index := n.fsm.AppliedIndex()
	hash, _ := n.fsm.StateHash()
	cases := map[string][]byte{
		"empty":      {},
		"not ours":   []byte("PK\x03\x04 this is a zip file"),
		"truncated":  good[:len(good)/2],
		"flipped":    flip(good, len(good)/2),
		"bad sum":    flip(good, len(good)-3),
		"bad header": flip(good, 9),
	}
	for name, data := range cases {
		err := n.Restore(ctx5(t), bytes.NewReader(data))
		if !errors.Is(err, ErrBadBackup) {
			t.Errorf("%s: want ErrBadBackup, got %v", name, err)
		}
	}
	if h, _ := n.fsm.StateHash(); h != hash || n.fsm.AppliedIndex() != index {
		t.Fatal("a refused restore changed the state")
	}
	if !valid(t, n.Node, Consistent, "keep") {
		t.Fatal("session lost after refused restores")
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x40
	return out
}

// backupWithOneSession gives login a user and one session ("keep") on n
// and returns n's backup of that state: the good backup that the refusal
// tests break in their ways.
func backupWithOneSession(t *testing.T, n *Node, login string) []byte {
	t.Helper()
	uid := mustUser(t, n, login)
	mustLogin(t, n, uid, "keep")
	var backup bytes.Buffer
	if _, err := n.Backup(ctx5(t), &backup); err != nil {
		t.Fatal(err)
	}
	return backup.Bytes()
}
