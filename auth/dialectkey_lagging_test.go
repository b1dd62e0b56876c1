package auth

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// A JWT login chose its signing key from the node's local state before
// any barrier, while every other read of a credential is made at the
// default level: a node that had not applied an acknowledged key
// revocation (and held no read lease) went on minting tokens with the
// revoked key, each refused the moment it was used, and a retired key
// kept signing past its retirement. DialectKeyFor reads the key after
// the default level's barrier.
func TestDialectKeyFor_LaggingNodeSignsWithTheCurrentKey(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	svc, err := NewService(DefaultServiceConfig(), Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := NewService(DefaultServiceConfig(), Deps{Node: leaderView{node}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k1, err := admin.AddKey(ctx, AlgHS256, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Sync(ctx); err != nil { // every node knows k1
		t.Fatal(err)
	}
	k2, err := admin.AddKey(ctx, AlgHS256, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RevokeKey(ctx, k1.Kid); err != nil { // acknowledged; this node lags
		t.Fatal(err)
	}
	if stale, _ := svc.DialectKey(); stale.Kid != k1.Kid {
		t.Fatalf("test setup: the lagging node's own view should still be k1, is %s", stale.Kid)
	}
	got, err := svc.DialectKeyFor(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Kid != k2.Kid {
		t.Fatalf("a JWT login on a lagging node would sign with %s (revoked: %v), want %s", got.Kid, got.Kid == k1.Kid, k2.Kid)
	}
}
