package faults

import (
	"bytes"
	"io"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// FuzzApplyCommands feeds a sequence of log entries (split on 0xFE 0xFF)
// to two fresh FSMs: every entry Decode accepts is applied. Apply must not
// panic on any decodable command, both replicas must reach the same state
// hash (determinism, P5's premise), and a snapshot restored into a third
// FSM must hash the same (a snapshot install loses nothing). fsm's own
// FuzzDecode covers decoding alone.
func FuzzApplyCommands(f *testing.F) {
	seq := func(cmds ...fsm.Command) []byte {
		var out [][]byte
		for _, c := range cmds {
			out = append(out, fsm.MustEncode(c))
		}
		return bytes.Join(out, []byte{0xFE, 0xFF})
	}
	d := fsm.Digest{1, 2, 3}
	f.Add(seq(&fsm.CreateDB{Name: "db"},
		&fsm.CreateUser{Nonce: "n", DB: "db", Login: "alice", PasswordHash: "h", Now: 1},
		&fsm.CreateSession{Session: fsm.Session{ID: "s1", Digest: d, Kind: fsm.KindNative, UserID: 1, Created: 2, ExpiresAt: 10}},
		&fsm.RefreshSessions{Refreshes: []fsm.Refresh{{Digest: d, At: 3}}},
		&fsm.RevokeSession{Digest: &d},
		&fsm.RevokeUserSessions{UserID: 1},
		&fsm.PurgeExpired{Now: 11, Digests: []fsm.Digest{d}}))
	f.Add(seq(&fsm.CreateSession{Session: fsm.Session{ID: "s", UserID: 9}}, &fsm.DeleteUser{UserID: 1}, &fsm.RemoveNode{ID: ""}))
	f.Add([]byte{})
	f.Add([]byte{0x00, '{', '}', 0xFE, 0xFF, 0x7F})
	f.Fuzz(func(t *testing.T, data []byte) {
		a, b := fsm.New(), fsm.New()
		idx := uint64(0)
		for _, entry := range bytes.Split(data, []byte{0xFE, 0xFF}) {
			if _, err := fsm.Decode(entry); err != nil {
				continue // undecodable entries are refused before the log
			}
			idx++
			ra := a.ApplyEntry(idx, entry)
			rb := b.ApplyEntry(idx, entry)
			if ra != rb {
				t.Fatalf("entry %d: replicas answered %+v and %+v", idx, ra, rb)
			}
		}
		ha, ia := a.StateHash()
		hb, ib := b.StateHash()
		if ha != hb || ia != ib {
			t.Fatalf("replicas diverged: %s@%d vs %s@%d", ha, ia, hb, ib)
		}
		var buf bytes.Buffer
		if _, err := a.WriteSnapshot(&buf); err != nil {
			t.Fatalf("snapshot: %v", err)
		}
		c := fsm.New()
		if err := c.Restore(io.NopCloser(&buf)); err != nil {
			t.Fatalf("restore of a snapshot just written: %v", err)
		}
		if hc, ic := c.StateHash(); hc != ha || ic != ia {
			t.Fatalf("restored state %s@%d differs from %s@%d", hc, ic, ha, ia)
		}
	})
}
