package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// Concurrent writes through a follower travel in fewer internal requests
// than commands, and each caller still gets its own command's result:
// its own index, and its own business failure.
func TestForward_ConcurrentWritesAreCoalesced(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	f := c.followers()[0]
	uid := mustUser(t, f.Node, "carol")
	liftSessionCap(t, f.Node)
	before := f.fwd.sent.Load()
	const k = 64
	results := make([]fsm.Result, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cmd fsm.Command = &fsm.CreateSession{Session: fsm.Session{
				ID: fmt.Sprintf("id-%d", i), Digest: digest(fmt.Sprintf("tok-%d", i)), Kind: fsm.KindNative, UserID: uid, Created: 1,
			}}
			if i%8 == 0 { // a duplicate login: its own failure, not its batch's
				cmd = &fsm.CreateUser{Nonce: "other-nonce", DB: "db", Login: "carol", PasswordHash: "$argon2id$test", Now: 1}
			}
			results[i], errs[i] = f.Apply(ctx5(t), cmd)
		}()
	}
	wg.Wait()
	seen := map[uint64]bool{}
	for i := range k {
		if i%8 == 0 {
			if errs[i] == nil {
				t.Errorf("command %d: duplicate user accepted", i)
			}
			continue
		}
		if errs[i] != nil {
			t.Fatalf("command %d: %v", i, errs[i])
		}
		if seen[results[i].Index] {
			t.Fatalf("command %d: index %d shared with another command", i, results[i].Index)
		}
		seen[results[i].Index] = true
		if !valid(t, f.Node, Default, fmt.Sprintf("tok-%d", i)) {
			t.Fatalf("session %d not visible on the forwarding node after its ack", i)
		}
	}
	sent := f.fwd.sent.Load() - before
	t.Logf("%d forwarded commands in %d internal requests", k, sent)
	if sent >= k {
		t.Fatalf("%d commands took %d internal requests: not coalesced", k, sent)
	}
}

// A batch holding logouts acknowledges none of them before every lease
// holder applied it (or its lease lapsed): the follower held back from
// applying must not accept any of the tokens once their logouts are
// acknowledged, whatever else shared the batch.
func TestForward_BatchedRevocationsWaitForLeaseHolders(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	fs := c.followers()
	a, b := fs[0], fs[1]
	uid := mustUser(t, a.Node, "dave")
	liftSessionCap(t, a.Node)
	const k = 16
	for i := range k {
		mustLogin(t, a.Node, uid, fmt.Sprintf("d-%d", i))
	}
	c.waitConverged()
	eventually(t, 5*time.Second, "b to hold a read lease", usingLease(b.Node))
	release := holdApply(b, b.fsm.AppliedIndex())
	defer release()
	var wg sync.WaitGroup
	errs := make([]error, k)
	for i := range k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := digest(fmt.Sprintf("d-%d", i))
			var cmd fsm.Command = &fsm.RevokeSession{Digest: &d}
			if i%2 == 1 { // non-revoking company in the same batches
				cmd = &fsm.CreateSession{Session: fsm.Session{ID: fmt.Sprintf("n-%d", i), Digest: digest(fmt.Sprintf("n-%d", i)),
					Kind: fsm.KindNative, UserID: uid, Created: 1}}
			}
			_, errs[i] = a.Apply(ctx5(t), cmd)
			if i%2 == 0 && errs[i] == nil {
				if sess, err := b.LookupSession(ctx5short(t), Default, d); err == nil && sess != nil {
					t.Errorf("lease holder accepted token %d after its batched logout was acknowledged", i)
				}
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("command %d: %v", i, err)
		}
	}
	release()
}

func ctx5short(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	t.Cleanup(cancel)
	return ctx
}
