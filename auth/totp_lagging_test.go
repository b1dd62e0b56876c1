package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sessiond/sessiond/fsm"
)

// Found by the browser test under load: the account page begins a key on
// one node, and the browser fetches its QR code, and later sends the
// confirming code, through whichever node the balancer picks. A node that
// had not applied the pending key yet answered 404 (a broken QR image)
// and "that code is not right". Both now catch up first.
func TestTOTP_PendingKeyBegunOnAnotherNode(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	svc, u := userOnLaggingNode(t, node, node)
	ctx := context.Background()

	enr, err := svc.BeginTOTP(ctx, u) // committed; this node has not applied it
	if err != nil {
		t.Fatal(err)
	}
	key, err := svc.PendingTOTP(ctx, u)
	if err != nil {
		t.Fatalf("the QR code of a key begun on another node: %v", err)
	}
	if key.Secret() != enr.Secret {
		t.Fatal("the QR code shows another key than the one begun")
	}

	enr, err = svc.BeginTOTP(ctx, u) // begun again: a new pending key, again not applied here
	if err != nil {
		t.Fatal(err)
	}
	if key, err := svc.PendingTOTP(ctx, u); err != nil || key.Secret() != enr.Secret {
		t.Fatalf("after a second begin the QR code is of another key (%v)", err)
	}
	enr, err = svc.BeginTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	code, err := totp.GenerateCodeCustom(enr.Secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmTOTP(ctx, u, code, "192.0.2.1"); err != nil {
		t.Fatalf("confirming a key begun on another node: %v", err)
	}
}

// cutOffNode is a node that cannot reach a leader: its catch-up waits
// until the caller gives up, as ReadIndex does across elections.
type cutOffNode struct{ laggingNode }

func (n *cutOffNode) Sync(ctx context.Context) error {
	<-ctx.Done()
	return ctx.Err()
}

// A node cut off from the leader shows the QR code it has instead of
// hanging the request for as long as the browser waits (the request's
// context has no deadline).
func TestTOTP_PendingKeyOnACutOffNodeAnswersFromItsOwnState(t *testing.T) {
	node := &cutOffNode{laggingNode{leader: fsm.New(), local: fsm.New()}}
	svc, u := userOnLaggingNode(t, node, &node.laggingNode) // the creation and nothing after it reached this node
	ctx := context.Background()
	enr, err := svc.BeginTOTP(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	node.laggingNode.Sync(ctx) // the key reached it too; then the link went down
	done := make(chan error, 1)
	go func() {
		key, err := svc.PendingTOTP(ctx, u)
		if err == nil && key.Secret() != enr.Secret {
			err = errors.New("another key")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the QR code on a cut-off node: %v", err)
		}
	case <-time.After(4 * catchUpWait):
		t.Fatal("the QR code request hung on a node cut off from the leader")
	}
}

// userOnLaggingNode is a service on node with one user, whose creation
// the lagging replica has applied (catching up through lag, the replica
// under node): what follows it reaches that replica only when it syncs.
func userOnLaggingNode(t *testing.T, node Node, lag *laggingNode) (*Service, *fsm.User) {
	t.Helper()
	cfg := laggingConfig()
	svc, err := NewService(cfg, Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	uid, err := svc.CreateUser(ctx, NewUser{DB: "db", Login: "tara", Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	if err := lag.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	u, _ := lag.State().User(uid)
	return svc, u
}
