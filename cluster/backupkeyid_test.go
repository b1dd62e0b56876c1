package cluster

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/cluster/transport"
)

// TestBackup_RecordsItsKeyAndRestoreNamesIt: a backup names the id of the
// key it was made under; restoring it where that key is missing is
// refused with an error naming the id it needs and the ids held; a
// backup in the older trailer format (no id) still restores.
func TestBackup_RecordsItsKeyAndRestoreNamesIt(t *testing.T) {
	k1, k2 := []byte("backup-key-one-0123456789abcdef!"), []byte("backup-key-two-0123456789abcdef!")
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.BackupKeys = [][]byte{k1} })
	n := c.waitLeader()
	good := backupWithOneSession(t, n.Node, "ivy")
	payload, mac, id, err := transport.SplitBackupID(bytes.NewReader(good), int64(len(good)))
	if err != nil || id != transport.BackupKeyID(k1) {
		t.Fatalf("the backup names key id %q (%v), want %s", id, err, transport.BackupKeyID(k1))
	}
	var foreign bytes.Buffer
	if _, err := transport.WriteBackup(&foreign, [][]byte{k2}, n.fsm.WriteSnapshot); err != nil {
		t.Fatal(err)
	}
	err = n.Restore(ctx5(t), bytes.NewReader(foreign.Bytes()))
	if !errors.Is(err, transport.ErrBackupMAC) || !strings.Contains(err.Error(), transport.BackupKeyID(k2)) ||
		!strings.Contains(err.Error(), transport.BackupKeyID(k1)) || !strings.Contains(err.Error(), "SESSIOND_SEAL_KEY_OLD") {
		t.Fatalf("restore under another key: %v", err)
	}
	// The previous trailer: magic and MAC, no id.
	v1 := append(append(append([]byte(nil), good[:payload]...), "SDBKMAC1"...), mac...)
	h := hmac.New(sha256.New, k1)
	h.Write(good[:payload])
	if !hmac.Equal(h.Sum(nil), mac) {
		t.Fatal("test setup: the MAC is not over the payload")
	}
	if err := n.Restore(ctx5(t), bytes.NewReader(v1)); err != nil {
		t.Fatalf("an SDBKMAC1 backup: %v", err)
	}
}
