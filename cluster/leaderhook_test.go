package cluster

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// hookProbe counts the leader hook's runs and records whether the node's
// own record (with its format) was in the state when it ran: the seed
// must come after it.
type hookProbe struct {
	fsm      *fsm.FSM // the node's, given to it in its config
	runs     atomic.Int32
	selfSeen atomic.Bool
}

func newHookProbe() *hookProbe { return &hookProbe{fsm: fsm.New()} }

func (p *hookProbe) hook(context.Context) {
	_, ok := p.fsm.State().Node("n1")
	p.selfSeen.Store(ok)
	p.runs.Add(1)
}

// The election wins the race: the node leads and has finished taking
// office before anything registers a hook. Registering it then runs it,
// once for the term.
func TestOnLeader_RegisteredAfterTheElectionWonStillRuns(t *testing.T) {
	p := newHookProbe()
	tn := startNode(t, "n1", t.TempDir(), "", nil, true, func(c *Config) { quiet(c); c.FSM = p.fsm })
	t.Cleanup(tn.stop)
	eventually(t, 10*time.Second, "the node to lead and take office", func() bool {
		return tn.IsLeader() && tn.preparedTerm.Load() == tn.raft.CurrentTerm()
	})
	tn.SetOnLeader(p.hook)
	eventually(t, 10*time.Second, "the late hook to run", func() bool { return p.runs.Load() == 1 })
	if !p.selfSeen.Load() {
		t.Error("the hook ran before the leader's own record")
	}
	// Taking office again in the same term does not run it twice.
	tn.runOnLeader(context.Background(), tn.raft.CurrentTerm())
	if got := p.runs.Load(); got != 1 {
		t.Fatalf("hook ran %d times in one term", got)
	}
}

// The registration wins the race: the hook is in the config, set before
// Raft starts, so the first leadership runs it, after the leader's own
// record.
func TestOnLeader_RegisteredBeforeRaftStartsRuns(t *testing.T) {
	p := newHookProbe()
	tn := startNode(t, "n1", t.TempDir(), "", nil, true, func(c *Config) {
		quiet(c)
		c.FSM, c.OnLeader = p.fsm, p.hook
	})
	t.Cleanup(tn.stop)
	eventually(t, 10*time.Second, "the hook to run", func() bool { return p.runs.Load() == 1 })
	if !p.selfSeen.Load() {
		t.Error("the hook ran before the leader's own record")
	}
}
