package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// ReadBarrier on the lagging replica: it holds no read lease, so every
// read above stale catches up first, as a cluster node without a lease
// does (cluster.Node.ReadBarrier).
func (n *laggingNode) ReadBarrier(ctx context.Context, level fsm.Level, _ bool) error {
	if level == fsm.Stale {
		return nil
	}
	return n.Sync(ctx)
}

// Found with the fault suite's client workload: a node that had not
// applied an acknowledged client deletion, and held no read lease (cut
// off from the leader), still accepted the client's credentials, since
// AuthenticateClient read its local state without the default level's
// barrier. It now makes the barrier every validation makes first.
func TestAuthenticateClient_DeletedClientRefusedOnALaggingNode(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	svc, err := NewService(DefaultServiceConfig(), Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, secret, err := svc.CreateClient(ctx, "svc", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AuthenticateClient(ctx, c.ID, secret); err != nil {
		t.Fatalf("a new client refused: %v", err)
	}
	if _, err := svc.DeleteClient(ctx, c.ID); err != nil { // acknowledged; this node has not applied it
		t.Fatal(err)
	}
	if _, ok := node.local.State().Client(c.ID); !ok {
		t.Fatal("test setup: the local node should still hold the client")
	}
	if _, err := svc.AuthenticateClient(ctx, c.ID, secret); !errors.Is(err, ErrBadClient) {
		t.Fatalf("a deleted client on a lagging node without a lease: %v, want ErrBadClient", err)
	}
}
