package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// applyBatchOn calls the leader's batch handler directly (as a follower's
// signed request would reach it) and returns its items.
func applyBatchOn(t *testing.T, n *testNode, ctx context.Context, cmds ...fsm.Command) []batchItem {
	t.Helper()
	calls := make([]*fwdCall, len(cmds))
	for i, c := range cmds {
		data, err := fsm.Encode(c)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		calls[i] = &fwdCall{data: data}
	}
	req := httptest.NewRequest(http.MethodPost, batchPath, bytes.NewReader(encodeBatch(calls))).WithContext(ctx)
	rec := httptest.NewRecorder()
	n.handleApplyBatch(rec, req)
	var out struct {
		Items []batchItem `json:"items"`
	}
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &out) != nil || len(out.Items) != len(cmds) {
		t.Fatalf("batch answered %d: %s", rec.Code, rec.Body.String())
	}
	return out.Items
}

// clusterWithHolder starts 3 nodes (tweaked), logs login's tokens in
// through the leader, and returns the leader and a follower that holds a
// read lease with every login applied.
func clusterWithHolder(t *testing.T, tweak func(*Config), login string, toks ...string) (leader, b *testNode, uid uint64) {
	t.Helper()
	c := newTestCluster(t, 3, tweak)
	leader = c.leaderNow()
	b = c.followers()[0]
	uid = mustUser(t, leader.Node, login)
	for _, tok := range toks {
		mustLogin(t, leader.Node, uid, tok)
	}
	c.waitConverged()
	eventually(t, 5*time.Second, "b to hold a read lease", usingLease(b.Node))
	return leader, b, uid
}

// One batch, two logouts, a lease holder that applies the first and is
// held back before the second. The batch's single lease wait must be for
// the highest narrowing index: a wait for the first would be confirmed by
// the holder at once, and the holder, still inside its lease, would go on
// accepting the second token after its logout was acknowledged.
func TestForward_BatchWaitsForItsLastRevocation(t *testing.T) {
	// A lease of 2 s, not the harness's 300 ms: a wait at the wrong index
	// must find the holder still inside its lease on a loaded machine.
	// The correct wait waits it out.
	leader, b, _ := clusterWithHolder(t, func(cfg *Config) { cfg.MaxStale = 2 * time.Second }, "erin", "e-a", "e-b")
	base := leader.fsm.AppliedIndex()
	if got := b.fsm.AppliedIndex(); got != base {
		t.Fatalf("b applied %d, leader %d: not converged", got, base)
	}
	release := holdApply(b, base+1) // applies the first logout, not the second
	defer release()

	da, db := digest("e-a"), digest("e-b")
	items := applyBatchOn(t, leader, ctx5(t), &fsm.RevokeSession{Digest: &da}, &fsm.RevokeSession{Digest: &db})
	for i, it := range items {
		if it.Code != "" {
			t.Fatalf("logout %d: %s %s", i, it.Code, it.Msg)
		}
	}
	if items[0].Result.Index != base+1 || items[1].Result.Index != base+2 {
		// The hold above is set by index; anything else in the log
		// between the setup and the batch would make the test vacuous.
		t.Fatalf("logouts at %d and %d, want %d and %d (an unexpected entry in between)",
			items[0].Result.Index, items[1].Result.Index, base+1, base+2)
	}
	if sess, err := b.LookupSession(ctx5short(t), Default, db); err == nil && sess != nil {
		t.Fatal("lease holder accepted the batch's second token after its logout was acknowledged")
	}
	release()
}

// The batch has one deadline (ApplyTimeout) for its proposals and its
// lease wait, like the follower's call that sent it. When the lease wait
// outlasts it, the revocation is committed but not final everywhere, so
// it is answered as a timeout, never acknowledged (the follower's caller
// retries). Lease periods here are longer than the apply timeout.
func TestForward_BatchHasOneDeadline(t *testing.T) {
	leader, b, uid := clusterWithHolder(t, func(cfg *Config) {
		cfg.MaxStale = 4 * time.Second
		cfg.ApplyTimeout = 1500 * time.Millisecond
	}, "fred", "f-a")
	release := holdApply(b, b.fsm.AppliedIndex())
	defer release()

	d := digest("f-a")
	// The request itself has no deadline, as a follower's does not reach
	// the handler: only the batch's own one can end the wait.
	items := applyBatchOn(t, leader, context.Background(), &fsm.RevokeSession{Digest: &d},
		&fsm.CreateSession{Session: fsm.Session{ID: "f-n", Digest: digest("f-n"), Kind: fsm.KindNative, UserID: uid, Created: 1}})
	if items[0].Code != "timeout" {
		t.Fatalf("logout whose lease wait outlasted the batch's deadline answered %q %q, want timeout", items[0].Code, items[0].Msg)
	}
	if items[1].Code != "" {
		t.Fatalf("a login sharing the batch failed with it: %s %s", items[1].Code, items[1].Msg)
	}
	if items[0].Result.Index == 0 {
		t.Fatal("the logout was not committed before its wait")
	}
	release()
}

// A proposal whose context has ended is refused before anything reaches
// the log: a batch past its deadline proposes none of its remaining
// commands.
func TestPropose_RefusesAnEndedContext(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	n := c.leaderNow()
	data, err := fsm.Encode(&fsm.CreateSession{Session: fsm.Session{ID: "p-1", Digest: digest("p-1"), Kind: fsm.KindNative, UserID: 1, Created: 1}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	before := n.raft.LastIndex()
	if f, err := n.propose(ctx, data); !errors.Is(err, ErrTimeout) {
		if f != nil {
			_ = f.Error()
		}
		t.Fatalf("propose with an ended context: %v, want ErrTimeout", err)
	}
	if after := n.raft.LastIndex(); after != before {
		t.Fatalf("last index %d -> %d: the refused proposal reached the log", before, after)
	}
}
