package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// Apply commits cmd through the leader and returns the leader's typed
// result. On a follower the encoded command is forwarded to the leader.
// Every write is idempotent, so a retry after a lost leader (the loop in
// ApplyEncoded, which resends the same bytes) cannot apply twice:
// commands name what they create or end (IDs chosen before the log), and
// the four that cannot (logoutall, a failed-login record, a user update,
// and a login, whose session a revocation may end between two copies)
// carry a nonce the state remembers (fsm/once.go; RELIABILITY rule 2).
//
// A nonce needs fsm.FormatV3. While some member is below it, cmd is sent
// in its old form, without the nonce (fsm.WithinFormat): that write is
// then as idempotent as it was before, which is what such a cluster had.
//
// The FSM's business failure (user exists, session limit, …) is folded
// into the returned error, as etcd's raftRequest and Consul's raftApply
// do, so a caller handles one error per failure; the Result still carries
// the other fields (user id, index) for callers that need them.
func (n *Node) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	cmd = n.withinWriteFormat(cmd)
	res, err := n.applyCmd(ctx, cmd)
	if formatRefused(err) {
		// The leader's view of the format is newer than ours (a member
		// joined and has not announced it yet, or a downgrade is under
		// way). A refusal changes nothing, so the old form may go instead.
		if old := fsm.WithinFormat(cmd, fsm.FormatV3-1); old != cmd {
			res, err = n.applyCmd(ctx, old)
		}
	}
	return res, err
}

func (n *Node) applyCmd(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	res, err := n.ApplyEncoded(ctx, data)
	if err != nil {
		return res, err
	}
	return res, res.Err()
}

// ApplyEncoded is Apply for an already encoded command (what the internal
// forwarding endpoint receives).
func (n *Node) ApplyEncoded(ctx context.Context, data []byte) (fsm.Result, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	for {
		if n.closing.Load() {
			return fsm.Result{}, ErrShutdown
		}
		var res fsm.Result
		var err error
		if n.raft.State() == raft.Leader {
			res, err = n.applyLocal(ctx, data)
		} else if err = n.checkLeaderFormat(data); err == nil {
			res, err = n.forwardApply(ctx, data)
		}
		if err == nil {
			return res, nil
		}
		if !retryable(err) || !n.pause(ctx) {
			if retryable(err) {
				return res, n.deadlineError(err)
			}
			return res, err
		}
	}
}

// deadlineError turns the last retryable error into what the client sees
// when time runs out: no leader, or a plain timeout.
func (n *Node) deadlineError(last error) error {
	if errors.Is(last, ErrShutdown) {
		return last
	}
	if _, id := n.raft.LeaderWithID(); id == "" {
		return fmt.Errorf("%w: %v", ErrNoLeader, last)
	}
	return fmt.Errorf("%w: %v", ErrTimeout, last)
}

// retryable reports whether trying again (perhaps on another leader) may
// succeed. A retry after an unknown outcome is safe: every write is
// idempotent (see Apply); in a cluster below fsm.FormatV3 the four that
// need a nonce may apply twice, which ends sessions again, counts a
// failure twice, repeats an update, or creates again a session revoked
// between the two copies (what such a cluster always did).
func retryable(err error) bool {
	return errors.Is(err, ErrNoLeader) || errors.Is(err, ErrNotLeader) ||
		errors.Is(err, ErrForward) || errors.Is(err, ErrNotCaughtUp)
}

// applyLocal proposes data on this node (the leader), waits for it to
// be applied and, for a narrowing command, for it to be final on every
// lease holder.
func (n *Node) applyLocal(ctx context.Context, data []byte) (fsm.Result, error) {
	f, err := n.propose(ctx, data)
	if err != nil {
		return fsm.Result{}, err
	}
	res, err := n.outcome(f)
	if err != nil || !narrowed(data, res) {
		return res, err
	}
	// Final everywhere before it is acknowledged: which commands wait is
	// the fsm command table's Validity column (leases.go).
	return res, n.awaitLeaseHolders(ctx, f.Index(), 1)
}

// propose hands data to Raft without waiting for it. It is separate from
// outcome so that the leader's side of a forwarded batch can queue every
// command of the batch before it waits for the first: Raft's leader loop
// then takes them into one append (batch.go).
func (n *Node) propose(ctx context.Context, data []byte) (raft.ApplyFuture, error) {
	timeout := n.cfg.ApplyTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	if timeout <= 0 || ctx.Err() != nil {
		return nil, ErrTimeout
	}
	if err := n.checkFormat(data); err != nil {
		return nil, err
	}
	return n.raft.Apply(data, timeout), nil
}

// outcome waits for a proposal to be applied on this node and returns
// the state machine's answer, with Raft's errors mapped to ours.
func (n *Node) outcome(f raft.ApplyFuture) (fsm.Result, error) {
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
			errors.Is(err, raft.ErrLeadershipTransferInProgress), errors.Is(err, raft.ErrAbortedByRestore):
			return fsm.Result{}, fmt.Errorf("%w: %v", ErrNotLeader, err)
		case errors.Is(err, raft.ErrRaftShutdown):
			return fsm.Result{}, ErrShutdown
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return fsm.Result{}, ErrTimeout
		}
		return fsm.Result{}, err
	}
	res, ok := f.Response().(fsm.Result)
	if !ok {
		return fsm.Result{}, fmt.Errorf("cluster: unexpected apply response %T", f.Response())
	}
	return res, nil
}

// narrowed reports whether an applied command took something away that
// must be final on every lease holder before it is acknowledged.
func narrowed(data []byte, res fsm.Result) bool {
	return fsm.EntryNarrows(data) && res.Code == ""
}

// forwardApply forwards a command to the leader, coalesced with this
// node's other concurrent forwards (batch.go).
func (n *Node) forwardApply(ctx context.Context, data []byte) (fsm.Result, error) {
	return n.forwardBatched(ctx, data)
}

// forwardOne forwards a single command (a leader older than the batch
// endpoint).
func (n *Node) forwardOne(ctx context.Context, data []byte) (fsm.Result, error) {
	var out struct {
		Result fsm.Result `json:"result"`
	}
	n.fwd.sent.Add(1)
	err := n.callLeader(ctx, "/internal/v1/apply", data, &out)
	n.metrics.forwardResult(err)
	if err != nil {
		return fsm.Result{}, err
	}
	n.afterForward(ctx, data, out.Result.Index)
	return out.Result, nil
}

// afterForward makes a committed, forwarded write visible on this node
// before its caller answers, so a client reading its own write from this
// node sees it. A wait cut short (deadline, shutdown) does not undo the
// commit: the result is still the truth, and reporting an error would make
// the client retry a write that happened.
//
// A new session is the exception (issue 16): only a validation looks for
// it, and a validation that misses on this node catches up first — at the
// default and consistent levels with a read index from the leader, at
// stale with the forwarded index noted here (LookupIn). So a login does not
// wait for its commit to reach this node, which takes the leader's next
// AppendEntries (up to two CommitTimeouts) plus the apply: most of a
// forwarded login's latency.
func (n *Node) afterForward(ctx context.Context, data []byte, idx uint64) {
	if idx == 0 {
		return
	}
	if len(data) > 0 && fsm.CmdType(data[0])&^fsm.IgnorableFlag == fsm.TypeCreateSession {
		raise(&n.fwdIndex, idx)
		return
	}
	_ = n.WaitApplied(ctx, idx) // see above: the commit stands either way
}

// Barrier waits until every entry committed so far is applied locally; the
// leader uses it once per term before it serves read indexes.
func (n *Node) barrier(timeout time.Duration) error {
	return n.raft.Barrier(timeout).Error()
}
