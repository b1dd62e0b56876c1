package auth

import (
	"context"
	"sync"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// fsmNode is a single in-memory replica: commands go straight to a real
// FSM (the log without Raft), and Apply folds the FSM's business failure
// into the error, as cluster.Node does. The service tests that need no
// cluster share it.
type fsmNode struct {
	mu  sync.Mutex
	f   *fsm.FSM
	idx uint64
}

func (n *fsmNode) Apply(_ context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.idx++
	res := n.f.ApplyEntry(n.idx, data)
	return res, res.Err()
}

func (n *fsmNode) State() *fsm.State { return n.f.State() }

// LookupIn reads the one replica: it holds every acknowledged write, so
// every level is answered locally.
func (n *fsmNode) LookupIn(_ context.Context, _ fsm.Level, d fsm.Digest) (*fsm.State, *fsm.Session, error) {
	st := n.f.State()
	sess, _ := st.Session(d)
	return st, sess, nil
}

// Touch applies the idle-expiry refresh at once (a cluster node batches
// it; one replica has nothing to batch against).
func (n *fsmNode) Touch(d fsm.Digest, at time.Time) {
	n.Apply(context.Background(), &fsm.RefreshSessions{Refreshes: []fsm.Refresh{{Digest: d, At: at.UnixNano()}}})
}

// Sync returns at once: the one replica is the leader's state.
func (n *fsmNode) Sync(context.Context) error { return nil }

// ReadBarrier returns at once, as Sync does.
func (n *fsmNode) ReadBarrier(context.Context, fsm.Level, bool) error { return nil }

var _ Node = (*fsmNode)(nil)
