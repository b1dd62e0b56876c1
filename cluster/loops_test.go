package cluster

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// The background loops run on their tickers: the leader's purge deletes an
// expired session, and a Touch reaches the replicated state within a
// refresh interval.
func TestLoops_PurgeAndRefreshTick(t *testing.T) {
	n := startNode(t, "n1", t.TempDir(), "", nil, true, func(c *Config) {
		c.PurgeInterval, c.RefreshInterval = 50*time.Millisecond, 50*time.Millisecond
	})
	t.Cleanup(n.stop)
	uid := mustUser(t, n.Node, "loop")
	created := time.Now().UnixNano()
	for _, s := range []fsm.Session{
		{ID: "gone", Digest: digest("gone"), Kind: fsm.KindNative, UserID: uid, Created: 1, ExpiresAt: 2},
		{ID: "idle", Digest: digest("idle"), Kind: fsm.KindNative, UserID: uid, Created: created, IdleTimeout: int64(time.Hour)},
	} {
		if _, err := n.Apply(ctx5(t), &fsm.CreateSession{Session: s}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 5*time.Second, "the expired session purged", func() bool {
		_, ok := n.FSM().State().Session(digest("gone"))
		return !ok
	})
	used := time.Now().Add(time.Second)
	n.Touch(digest("idle"), used)
	eventually(t, 5*time.Second, "the touch applied", func() bool {
		s, ok := n.FSM().State().Session(digest("idle"))
		return ok && s.LastRefresh == used.UnixNano()
	})
}
