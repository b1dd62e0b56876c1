package cluster

import (
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// The writes ARCHITECTURE promises idempotent (rule 2) carry the ID or
// nonce chosen before the log: applied once through a leader that is then
// killed, and retried through the new leader, each leaves the state as
// the first apply left it and answers as it did (a logout of a session
// already gone ends nothing, which the API answers as success).
func TestRetry_PromisedWritesAreIdempotentAcrossALeaderKill(t *testing.T) {
	c := newTestCluster(t, 3, quiet)
	leader := c.waitLeader()
	uid := mustUser(t, leader.Node, "retry")
	mustLogin(t, leader.Node, uid, "tok-ends")
	writes := []struct {
		name string
		cmd  fsm.Command
	}{
		{"register", &fsm.CreateUser{Nonce: "nonce-reg", DB: "db", Login: "reg", PasswordHash: "$argon2id$test", Now: 2}},
		{"login", &fsm.CreateSession{Session: fsm.Session{ID: "id-tok-new", Digest: digest("tok-new"), Kind: fsm.KindNative, UserID: uid, Created: 2}}},
		{"logout", &fsm.RevokeSession{ID: "id-tok-ends", UserID: uid}},
	}
	first := make([]fsm.Result, len(writes))
	for i, w := range writes {
		res, err := leader.Apply(ctx5(t), w.cmd)
		if err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		first[i] = res
	}
	c.waitConverged()

	for i, n := range c.nodes {
		if n == leader {
			n.stop()
			c.nodes[i] = nil
		}
	}
	c.waitConverged() // the new leader has taken office (its own record written)
	var live []*testNode
	for _, n := range c.nodes {
		if n != nil {
			live = append(live, n)
		}
	}
	before, _ := live[0].fsm.StateHash()

	for i, w := range writes {
		res, err := live[i%len(live)].Apply(ctx5(t), w.cmd)
		switch {
		case err != nil:
			t.Fatalf("%s retried: %v", w.name, err)
		case w.name == "logout":
			if res.Count != 0 {
				t.Fatalf("logout retried ended %d more sessions", res.Count)
			}
		case res.UserID != first[i].UserID || res.SessionID != first[i].SessionID:
			t.Fatalf("%s retried: %+v, first %+v", w.name, res, first[i])
		}
	}
	c.waitConverged()
	for _, n := range live {
		if after, _ := n.fsm.StateHash(); after != before {
			t.Fatalf("%s: the retries changed the state", n.id)
		}
	}
}
