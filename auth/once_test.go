package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// retryingNode applies every command twice with the same bytes, as a node
// does that lost the first answer (cluster.Node.ApplyEncoded's retry), and
// answers what the second copy answered.
type retryingNode struct {
	fsmNode
	sent []fsm.Command
}

func (n *retryingNode) Apply(_ context.Context, cmd fsm.Command) (fsm.Result, error) {
	data, err := fsm.Encode(cmd)
	if err != nil {
		return fsm.Result{}, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, cmd)
	n.idx++
	n.f.ApplyEntry(n.idx, data)
	n.idx++
	res := n.f.ApplyEntry(n.idx, data)
	return res, res.Err()
}

// TestOnce_ServiceWritesCarryANonce: logoutall, a failed login, a password
// change and an admin's update each reach the log with a nonce, so a retry
// of the same bytes applies once (one failure counted, the password
// version bumped once); the writes idempotent by content need none.
func TestOnce_ServiceWritesCarryANonce(t *testing.T) {
	node := &retryingNode{fsmNode: fsmNode{f: fsm.New()}}
	cfg := DefaultServiceConfig()
	cfg.Hash = MinimalHashParams()
	cfg.DefaultDB = "db"
	svc, err := NewService(cfg, Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	uid, err := svc.CreateUser(ctx, NewUser{DB: "db", Login: "alice", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Authenticate(ctx, Credentials{DB: "db", Login: "alice", Password: "wrong password!"}); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := svc.SetPassword(ctx, uid, "another good passphrase"); err != nil {
		t.Fatal(err)
	}
	name := "Alice"
	if _, err := svc.UpdateUser(ctx, uid, UserChanges{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RevokeAll(ctx, uid, ""); err != nil {
		t.Fatal(err)
	}
	// A sign-in step's take, retried, still finishes the step once.
	step, err := svc.BeginChallenge(ctx, uid, "portal_2fa", nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.TakeChallenge(ctx, step); err != nil {
		t.Errorf("a retried take of a sign-in step: %v", err)
	}
	if err := svc.TakeChallenge(ctx, step); !errors.Is(err, ErrChallengeGone) {
		t.Errorf("a second finish of the step: %v, want ErrChallengeGone", err)
	}
	u, _ := node.State().User(uid)
	if u.FailedLogins != 1 || u.Version != 2 {
		t.Errorf("after retries: %d failures, version %d; want 1 and 2", u.FailedLogins, u.Version)
	}
	kinds := map[fsm.CmdType]int{}
	for _, c := range node.sent {
		var nonce string
		switch c := c.(type) {
		case *fsm.RevokeUserSessions:
			nonce = c.Nonce
		case *fsm.LoginFailed:
			nonce = c.Nonce
		case *fsm.UpdateUser:
			nonce = c.Nonce
		case *fsm.TakeChallenge:
			nonce = c.Nonce
		default:
			continue
		}
		if nonce == "" {
			t.Errorf("%s sent without a nonce", c.Type())
		}
		kinds[c.Type()]++
	}
	if kinds[fsm.TypeRevokeUserSessions] != 1 || kinds[fsm.TypeLoginFailed] != 1 || kinds[fsm.TypeUpdateUser] != 2 || kinds[fsm.TypeTakeChallenge] != 2 {
		t.Errorf("writes seen %v, want one logoutall, one failure, two updates, two takes", kinds)
	}
}
