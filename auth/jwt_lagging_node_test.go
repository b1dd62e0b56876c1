package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// Found by the fault suite (kill-leader, P1): a restarted node, before it
// heard from a leader, had an empty keyring and refused an acknowledged
// JWT session at the Consistent level as malformed (401), without ever
// obtaining a read index: the signature was checked against the lagging
// local keyring before any read barrier. ValidateJWT now catches up once
// before refusing a token for an unknown key, at Default and Consistent.
func TestValidateJWT_KeyUnknownOnLaggingNodeCatchesUp(t *testing.T) {
	node := &laggingNode{leader: fsm.New(), local: fsm.New()}
	cfg := laggingConfig()
	ctx := context.Background()
	node.Apply(ctx, &fsm.CreateDB{Name: "db"})
	// Everything below is acknowledged through the leader; the local
	// node has applied none of it (a node restarted without a snapshot).
	leaderSvc, err := NewService(cfg, Deps{Node: leaderView{node}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaderSvc.AddKey(ctx, "HS256", true); err != nil {
		t.Fatal(err)
	}
	uid, err := leaderSvc.CreateUser(ctx, NewUser{DB: "db", Login: "ann", Password: "ann-password-123"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := leaderSvc.User(uid)
	key, err := leaderSvc.ActiveKey()
	if err != nil {
		t.Fatal(err)
	}
	iss, err := leaderSvc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindJWT})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := leaderSvc.SignSession(key, iss, u)
	if err != nil {
		t.Fatal(err)
	}

	// A node that cannot catch up answers with the cluster's error, not
	// with a verdict on the token.
	stuck, err := NewService(cfg, Deps{Node: unsyncable{node}})
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []fsm.Level{fsm.Default, fsm.Consistent} {
		if _, err := stuck.ValidateJWT(ctx, level, tok); !errors.Is(err, errNoLeader) {
			t.Fatalf("level %v without a leader: got %v, want the sync error", level, err)
		}
	}
	// Stale answers from local state, as it always has.
	svc, err := NewService(cfg, Deps{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ValidateJWT(ctx, fsm.Stale, tok); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("stale on a lagging node: got %v, want a refusal from local state", err)
	}
	syncs := node.syncs
	p, err := svc.ValidateJWT(ctx, fsm.Consistent, tok)
	if err != nil {
		t.Fatalf("consistent on a lagging node refused an acknowledged JWT session: %v", err)
	}
	if p.User.ID != uid || node.syncs != syncs+1 {
		t.Fatalf("got user %d after %d syncs", p.User.ID, node.syncs-syncs)
	}
	// A token for a key nobody has is still refused, after one catch-up.
	other, _ := GenerateKey("HS256", svc.cfg.Now())
	forged, _ := svc.SignSession(other, iss, u)
	syncs = node.syncs
	if _, err := svc.ValidateJWT(ctx, fsm.Consistent, forged); !errors.Is(err, ErrInvalidToken) || node.syncs != syncs+1 {
		t.Fatalf("unknown key: got %v after %d syncs", err, node.syncs-syncs)
	}
}
