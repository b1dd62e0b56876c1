package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// A login forwarded through a follower is answered once the leader has
// committed it, without waiting for the follower's own apply (afterForward),
// and the follower still never answers "no such session" for it at any
// level: a Default miss asks the leader for a read index, a Stale miss waits
// for the forwarded index. Other forwarded writes keep waiting for the local
// apply (read-your-writes on this node).
func TestForward_LoginAnsweredBeforeLocalApplyYetVisible(t *testing.T) {
	f, uid, release := heldBackFollower(t, "erin")
	defer release()
	// The login's context outlives the test's patience: a login that
	// waited for the held-back apply would be answered only when its
	// context ends (the wait's error is swallowed: the commit stands).
	type answer struct {
		res fsm.Result
		err error
	}
	ans := make(chan answer, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := f.Apply(ctx, &fsm.CreateSession{Session: fsm.Session{
			ID: "id-fwd", Digest: digest("fwd"), Kind: fsm.KindNative, UserID: uid, Created: 1,
		}})
		ans <- answer{res, err}
	}()
	var res fsm.Result
	select {
	case a := <-ans:
		if a.err != nil {
			t.Fatalf("forwarded login: %v", a.err)
		}
		res = a.res
	case <-time.After(20 * time.Second):
		t.Fatal("a forwarded login waited for the forwarding follower's own apply")
	}
	if got := f.fsm.AppliedIndex(); got >= res.Index {
		t.Fatalf("the follower applied %d >= %d while held back: the test holds nothing", got, res.Index)
	}

	// A Stale miss waits for the forwarded index: the apply is released
	// once the lookup is waiting for it.
	got := make(chan *fsm.Session, 1)
	go func() {
		sess, _ := f.LookupSession(context.Background(), Stale, digest("fwd"))
		got <- sess
	}()
	eventually(t, 5*time.Second, "the stale lookup to wait for the forwarded login", func() bool {
		return f.applied.waiting.Load() > 0
	})
	release()
	select {
	case sess := <-got:
		if sess == nil {
			t.Fatal("a stale lookup on the forwarding follower missed the session its login just created")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stale lookup did not return")
	}
	if !valid(t, f.Node, Default, "fwd") {
		t.Fatal("a default lookup missed the forwarded login")
	}

	// A forwarded write other than a login is visible here when answered.
	release = holdApply(f, f.fsm.AppliedIndex())
	done := make(chan error, 1)
	go func() {
		_, err := f.Apply(ctx5(t), &fsm.CreateUser{Nonce: "nonce-frank", DB: "db", Login: "frank", PasswordHash: "$argon2id$test", Now: 1})
		done <- err
	}()
	eventually(t, 5*time.Second, "the forwarded user creation to wait for the local apply", func() bool {
		return f.applied.waiting.Load() > 0
	})
	select {
	case err := <-done:
		t.Fatalf("a forwarded user creation was answered before the follower applied it (err %v)", err)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := f.fsm.State().UserByLogin("db", "frank"); !ok {
		t.Fatal("the forwarded user is not visible on the forwarding follower after its ack")
	}
}

// A Stale miss on a follower whose forwarded login never arrives (cut off
// after the commit) waits once, briefly, and forgets the index, so later
// misses answer from local state at once.
func TestForward_StaleMissWaitsOnlyOnce(t *testing.T) {
	f, uid, release := heldBackFollower(t, "gina")
	defer release()
	mustLogin(t, f.Node, uid, "lost")
	start := time.Now()
	if sess, err := f.LookupSession(context.Background(), Stale, digest("other")); err != nil || sess != nil {
		t.Fatalf("stale miss: %v %v", sess, err)
	}
	if took := time.Since(start); took < staleForwardWait/2 {
		t.Fatalf("the first stale miss took %v: it did not wait for the forwarded login", took)
	}
	if f.fwdIndex.Load() != 0 {
		t.Fatal("the forwarded index was kept after its wait ran out: every later miss would wait")
	}
}

// heldBackFollower is a 3-node cluster with user login, and a follower
// whose state machine is held back from applying anything further.
func heldBackFollower(t *testing.T, login string) (*testNode, uint64, func()) {
	c := newTestCluster(t, 3, nil)
	f := c.followers()[0]
	uid := mustUser(t, f.Node, login)
	c.waitConverged()
	return f, uid, holdApply(f, f.fsm.AppliedIndex())
}
