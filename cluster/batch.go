package cluster

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// Forwarded writes are coalesced (issue 16): a follower's concurrent
// writes travel to the leader as one signed internal request instead of
// one each, and the leader proposes them all before it waits for any, so
// that Raft's leader loop takes them from its apply queue together and
// persists them with one StoreLogs (one fsync) and one AppendEntries per
// follower. Each command stays its own Raft entry with its own index and
// result: nothing about applying changes, every command keeps the IDs and
// nonces chosen before the log (so a retry after a lost batch is as
// idempotent as a retry of one command), and no revoking command of a
// batch is acknowledged before the lease holders applied the batch's
// last one, or their leases lapsed (handleApplyBatch; protocol.go, I1),
// whatever else shares it.
//
// A caller finding no batch in flight sends its command at once (c1
// latency is a single forward); while maxBatchesInFlight are in flight,
// callers queue and the next sender takes every queued command, up to
// maxBatch. No timer: a batch never waits for company.
//
// Four in flight, not two (issue 23): a batch's round is a whole commit
// (the leader's fsync, a follower's, the apply), several of the leader's
// StoreLogs cycles, so with two in flight a command arriving behind them
// waited most of a round for a slot and missed the cycles in between. The
// leader's loop groups whatever reaches its apply queue anyway, so the
// extra batches cost internal requests (about 0.2 per command instead of
// 0.1 at c64), not fsyncs. BenchmarkForwardedWrite/logout/parallel64:
// 1.27 and 1.57 ms per login+logout with two, 1.06 and 0.73 with four,
// 1.28 and 1.62 with six (interleaved, load 13–17); docs/BENCHMARKS.md.
const (
	maxBatch           = 128
	maxBatchesInFlight = 4
	batchPath          = "/internal/v1/applybatch"
	// maxBatchBytes keeps a batch well inside the internal body limit
	// (maxInternalBody), which a single command must already fit.
	maxBatchBytes = maxInternalBody / 2
)

// fwdCall is one forwarded command waiting for its result.
type fwdCall struct {
	data []byte
	res  fsm.Result
	err  error
	done chan struct{}
}

// fwdBatcher queues a follower's forwarded commands.
type fwdBatcher struct {
	mu       sync.Mutex
	queue    []*fwdCall
	inFlight int
	legacy   bool         // the leader answered 404: forward one by one (older binary)
	sent     atomic.Int64 // internal apply requests sent, batched or not (tests, benchmarks)
}

// forwardBatched forwards data to the leader, in a batch with whatever
// else this node is forwarding at the time.
func (n *Node) forwardBatched(ctx context.Context, data []byte) (fsm.Result, error) {
	b := &n.fwd
	c := &fwdCall{data: data, done: make(chan struct{})}
	b.mu.Lock()
	if b.legacy {
		b.mu.Unlock()
		return n.forwardOne(ctx, data)
	}
	b.queue = append(b.queue, c)
	send := b.inFlight < maxBatchesInFlight
	if send {
		b.inFlight++
	}
	b.mu.Unlock()
	if send {
		go n.sendBatches()
	}
	select {
	case <-c.done:
		if c.err == nil {
			n.afterForward(ctx, data, c.res.Index)
		}
		return c.res, c.err
	case <-ctx.Done():
		// The command may still commit; the caller's retry (or none) is
		// as safe as after a timed-out single forward (see Apply).
		return fsm.Result{}, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	}
}

// sendBatches sends queued commands until the queue is empty, then gives
// its in-flight slot back.
func (n *Node) sendBatches() {
	b := &n.fwd
	for {
		b.mu.Lock()
		k, size := 0, 0
		for k < len(b.queue) && k < maxBatch && (k == 0 || size+len(b.queue[k].data) <= maxBatchBytes) {
			size += len(b.queue[k].data)
			k++
		}
		if k == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		calls := append([]*fwdCall(nil), b.queue[:k]...)
		b.queue = append(b.queue[:0], b.queue[k:]...)
		b.mu.Unlock()
		n.sendBatch(calls)
	}
}

// batchItem is one command's answer in a batch response.
type batchItem struct {
	Result fsm.Result `json:"result"`
	Code   string     `json:"code,omitempty"` // error code (codeOf), "" on success
	Msg    string     `json:"message,omitempty"`
}

func (n *Node) sendBatch(calls []*fwdCall) {
	n.fwd.sent.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
	defer cancel()
	var out struct {
		Items []batchItem `json:"items"`
	}
	err := n.callLeader(ctx, batchPath, encodeBatch(calls), &out)
	if errors.Is(err, errNoBatchEndpoint) {
		n.fwd.mu.Lock()
		n.fwd.legacy = true
		n.fwd.mu.Unlock()
		for _, c := range calls {
			c.res, c.err = n.forwardOne(ctx, c.data)
			close(c.done)
		}
		return
	}
	if err == nil && len(out.Items) != len(calls) {
		err = fmt.Errorf("%w: batch of %d answered with %d results", ErrForward, len(calls), len(out.Items))
	}
	n.metrics.forwardResult(err)
	// Each caller waits for its own write to be visible here
	// (afterForward), not the sender: a sender waiting for the apply would
	// hold one of the maxBatchesInFlight slots for the commit's whole
	// journey back to this node, and the next batch would wait behind it.
	for i, c := range calls {
		if err != nil {
			c.err = err
		} else if it := out.Items[i]; it.Code != "" {
			c.res, c.err = it.Result, codeError(it.Code, it.Msg)
		} else {
			c.res = it.Result
		}
		close(c.done)
	}
}

// encodeBatch is count, then length and bytes of each command (uvarints).
func encodeBatch(calls []*fwdCall) []byte {
	size := binary.MaxVarintLen64
	for _, c := range calls {
		size += binary.MaxVarintLen64 + len(c.data)
	}
	buf := binary.AppendUvarint(make([]byte, 0, size), uint64(len(calls)))
	for _, c := range calls {
		buf = binary.AppendUvarint(buf, uint64(len(c.data)))
		buf = append(buf, c.data...)
	}
	return buf
}

// decodeBatch undoes encodeBatch, refusing trailing or missing bytes.
func decodeBatch(data []byte) ([][]byte, error) {
	k, m := binary.Uvarint(data)
	if m <= 0 || k == 0 || k > maxBatch {
		return nil, fmt.Errorf("%w: bad batch header", ErrConfig)
	}
	data = data[m:]
	cmds := make([][]byte, 0, k)
	for i := uint64(0); i < k; i++ {
		l, m := binary.Uvarint(data)
		if m <= 0 || l > uint64(len(data)-m) {
			return nil, fmt.Errorf("%w: bad batch item %d", ErrConfig, i)
		}
		cmds = append(cmds, data[m:m+int(l)])
		data = data[m+int(l):]
	}
	if len(data) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes in batch", ErrConfig, len(data))
	}
	return cmds, nil
}

// handleApplyBatch is the leader's side: every command is checked, then
// all are proposed before any is waited for, and each answer is returned
// in order.
//
// The whole batch has one deadline, ApplyTimeout, as the follower's call
// has: proposals are made one after another, and each taking a fresh
// timeout would let a stalled leader loop hold one batch for up to
// maxBatch timeouts, proposing commands long after their callers gave up.
// TestForward_BatchHasOneDeadline checks it for the lease wait and
// TestPropose_RefusesAnEndedContext that a proposal after the deadline is
// refused; that the proposals get the batch's context, not the request's,
// would need a stalled leader loop to test and is not tested.
func (n *Node) handleApplyBatch(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	cmds, err := decodeBatch(data)
	if err != nil {
		writeInternalError(w, err)
		return
	}
	if n.raft.State() != raft.Leader {
		writeInternalError(w, ErrNotLeader)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), n.cfg.ApplyTimeout)
	defer cancel()
	items := make([]batchItem, len(cmds))
	fail := func(it *batchItem, err error) { it.Code, it.Msg = codeOf(err), err.Error() }
	// Every command is queued before any is waited for, so that Raft's
	// leader loop takes the batch into as few appends as it can: waiting
	// per command (or starting a goroutine each) let the loop run between
	// them, and forwarded logouts went out in smaller groups than the
	// leader's own, each group one more append and sync on every node.
	futures := make([]raft.ApplyFuture, len(cmds))
	for i, cmd := range cmds {
		// Refuse what Apply could not decode, item by item: a bad entry in
		// the log would stop every replica.
		if _, err := fsm.Decode(cmd); err != nil {
			fail(&items[i], fmt.Errorf("%w: %v", ErrConfig, err))
			continue
		}
		f, err := n.propose(ctx, cmd)
		if err != nil {
			fail(&items[i], err)
			continue
		}
		futures[i] = f
	}
	// Raft applies in log order, so waiting in order costs nothing; one
	// lease wait for the last narrowing command covers every earlier one
	// (a holder that applied it applied all before it).
	var last uint64
	var revoked []int // items that narrowed: answered only after the lease wait
	for i, f := range futures {
		if f == nil {
			continue
		}
		res, err := n.outcome(f)
		items[i].Result = res
		if err != nil {
			fail(&items[i], err)
		} else if narrowed(cmds[i], res) {
			last = max(last, f.Index())
			revoked = append(revoked, i)
		}
	}
	if len(revoked) > 0 {
		if err := n.awaitLeaseHolders(ctx, last, len(revoked)); err != nil {
			for _, i := range revoked {
				fail(&items[i], err)
			}
		}
	}
	writeInternalJSON(w, map[string]any{"items": items})
}

// errNoBatchEndpoint is a leader without handleApplyBatch (404).
var errNoBatchEndpoint = errors.New("cluster: leader has no batch endpoint")

// batchStatusError maps the 404 of an older leader to errNoBatchEndpoint.
func batchStatusError(status int, data []byte) error {
	if status == http.StatusNotFound {
		var e internalError
		if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
			return errNoBatchEndpoint
		}
	}
	return decodeInternalError(status, data)
}
