package auth

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// At the cap the session used longest ago ends, not the oldest created:
// a long-lived session in daily use survives a burst of new logins, and
// ties on last use go to the older one. Knox's own limit still refuses.
func TestSessionCap_EndsLeastRecentlyUsedFirst(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	svc, node := newGrowthService(t, func(c *ServiceConfig) { c.Now = func() time.Time { return now } })
	ctx := context.Background()
	uid, err := svc.CreateUser(ctx, NewUser{DB: "db", Login: "carol", Password: "carol-password"})
	if err != nil {
		t.Fatal(err)
	}
	set := svc.Settings()
	set.MaxSessionsPerUser = 3
	if _, err := svc.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	// Old but used ten seconds ago; newer but idle; newest and idle (tie on
	// last use with "newer" is broken by creation).
	sec := int64(time.Second)
	at := now.UnixNano()
	for _, s := range []fsm.Session{
		{ID: "old-busy", Created: at - 100*sec, LastRefresh: at - 10*sec},
		{ID: "newer-idle", Created: at - 50*sec, LastRefresh: at - 50*sec},
		{ID: "newest-idle", Created: at - 40*sec, LastRefresh: at - 50*sec},
	} {
		s.Digest, s.Kind, s.UserID = DigestToken(s.ID), fsm.KindNative, uid
		if _, err := node.Apply(ctx, &fsm.CreateSession{Session: s}); err != nil {
			t.Fatal(err)
		}
	}
	u, _ := svc.User(uid)
	iss, err := svc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindNative})
	if err != nil {
		t.Fatalf("login at the cap refused: %v", err)
	}
	if len(iss.Evicted) != 1 || iss.Evicted[0].ID != "newer-idle" {
		t.Fatalf("evicted %+v, want newer-idle", iss.Evicted)
	}
	iss, err = svc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindNative})
	if err != nil || len(iss.Evicted) != 1 || iss.Evicted[0].ID != "newest-idle" {
		t.Fatalf("second: %v %+v", err, iss.Evicted)
	}
	if n := len(node.State().UserSessions(uid)); n != 3 {
		t.Fatalf("%d sessions, want the cap's 3", n)
	}
	if _, ok := node.State().Session(DigestToken("old-busy")); !ok {
		t.Fatal("the session in use was evicted")
	}

	// Knox's TOKEN_LIMIT_PER_USER keeps refusing, and evicts nothing.
	set.TokenLimitPerUser = 1
	if _, err := svc.SetSettings(ctx, set); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindKnox}); err != nil {
		t.Fatalf("first knox token: %v", err)
	}
	before := node.State().UserSessions(uid)
	iss, err = svc.CreateSession(ctx, u, SessionOptions{Kind: fsm.KindKnox})
	if !errors.Is(err, fsm.ErrSessionLimit) || len(iss.Evicted) != 0 {
		t.Fatalf("knox over its own limit: %v, evicted %+v", err, iss.Evicted)
	}
	if after := node.State().UserSessions(uid); len(after) != len(before) {
		t.Fatalf("knox refusal changed the sessions: %d -> %d", len(before), len(after))
	}
}
