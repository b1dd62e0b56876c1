package auth

import (
	"context"
	"sync"

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
