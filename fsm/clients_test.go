package fsm

import "testing"

func knoxSession(uid uint64, id string, created, expires int64) *CreateSession {
	return &CreateSession{Session: Session{
		ID: id, Digest: dg(id), Kind: KindKnox, UserID: uid, Created: created, ExpiresAt: expires,
	}}
}

// TestKnoxLimit_CountsOnlyLiveKnoxTokens: knox's TOKEN_LIMIT_PER_USER
// counts the user's unexpired knox tokens at the login's own timestamp,
// so a token that just expired (not yet purged) and sessions of other
// dialects leave room.
func TestKnoxLimit_CountsOnlyLiveKnoxTokens(t *testing.T) {
	a := &applier{t: t, f: New()}
	set := DefaultSettings()
	set.TokenLimitPerUser = 1
	a.must(&SetSettings{Settings: set})
	uid := a.must(newUser("u")).UserID
	a.must(newSession(uid, "native")) // another dialect: not counted
	odoo := newSession(uid, "odoo")
	odoo.Session.Kind = KindOdoo
	a.must(odoo)
	a.must(knoxSession(uid, "k1", t0, t0+10))
	if res := a.apply(knoxSession(uid, "k2", t0+9, 0)); res.Code != "session_limit" {
		t.Fatalf("second live knox token: %+v, want session_limit", res)
	}
	// At t0+10 k1 has expired; no purge ran, and it no longer counts.
	a.must(knoxSession(uid, "k3", t0+10, 0))
	// A token without expiry counts (upstream's NULL expiry never would).
	if res := a.apply(knoxSession(uid, "k4", t0+11, 0)); res.Code != "session_limit" {
		t.Fatalf("after a never-expiring token: %+v, want session_limit", res)
	}
}

// TestKnoxAutoRefresh_SlidesExpiry: a batched refresh moves a knox
// token's expiry to use+TTL when that gains more than the minimum
// interval, deterministically from the replicated settings.
func TestKnoxAutoRefresh_SlidesExpiry(t *testing.T) {
	a := &applier{t: t, f: New()}
	set := DefaultSettings()
	set.KnoxTTL, set.KnoxAutoRefresh, set.KnoxMinRefreshInterval = 100, true, 10
	a.must(&SetSettings{Settings: set})
	uid := a.must(newUser("u")).UserID
	a.must(knoxSession(uid, "k", t0, t0+100))
	n := newSession(uid, "n")
	a.must(n)
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("k"), At: t0 + 5}}}) // gains 5 <= 10: no slide
	if s, _ := a.f.State().Session(dg("k")); s.ExpiresAt != t0+100 {
		t.Fatalf("expiry moved by a small gain: %d", s.ExpiresAt-t0)
	}
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("k"), At: t0 + 50}, {Digest: dg("n"), At: t0 + 50}}})
	if s, _ := a.f.State().Session(dg("k")); s.ExpiresAt != t0+150 {
		t.Fatalf("knox expiry = t0+%d, want t0+150", s.ExpiresAt-t0)
	}
	if s, _ := a.f.State().Session(dg("n")); s.ExpiresAt != n.Session.ExpiresAt {
		t.Fatalf("a native session slid")
	}
	set.KnoxAutoRefresh = false
	a.must(&SetSettings{Settings: set})
	a.must(&RefreshSessions{Refreshes: []Refresh{{Digest: dg("k"), At: t0 + 120}}})
	if s, _ := a.f.State().Session(dg("k")); s.ExpiresAt != t0+150 {
		t.Fatalf("slid with AUTO_REFRESH off")
	}
}

// TestDisable_KeepsKnoxTokensUntilReenabled: disabling keeps the user's
// knox tokens (refused as inactive by validation) and ends the rest;
// re-enabling ends the kept ones, so none comes back to life.
func TestDisable_KeepsKnoxTokensUntilReenabled(t *testing.T) {
	a := &applier{t: t, f: New()}
	uid := a.must(newUser("u")).UserID
	a.must(newSession(uid, "n"))
	a.must(knoxSession(uid, "k", t0, 0))
	if res := a.must(&UpdateUser{UserID: uid, Disabled: bp(true)}); res.Count != 1 {
		t.Fatalf("disable ended %d sessions, want 1", res.Count)
	}
	wantSessions(t, a.f.State(), uid, "k")
	if res := a.must(&UpdateUser{UserID: uid, Disabled: bp(false)}); res.Count != 1 {
		t.Fatalf("re-enable ended %d sessions, want 1", res.Count)
	}
	wantSessions(t, a.f.State(), uid, "")
}

// TestClients_ApplyAndSnapshot: clients are added idempotently, refused
// under a taken id with another secret, deleted, and survive a snapshot.
func TestClients_ApplyAndSnapshot(t *testing.T) {
	a := &applier{t: t, f: New()}
	c := Client{ID: "c1", DB: "db1", SecretDigest: dg("s1"), Created: t0}
	a.must(&PutClient{Client: c})
	a.must(&PutClient{Client: c}) // a retry
	if res := a.apply(&PutClient{Client: Client{ID: "c1", SecretDigest: dg("other")}}); res.Code != "key_exists" {
		t.Fatalf("taken id: %+v", res)
	}
	a.must(&PutClient{Client: Client{ID: "c2", SecretDigest: dg("s2")}})
	g := restoreBytes(t, snapshotBytes(t, a.f))
	if got := g.State().Clients(); len(got) != 2 || got[0] != c {
		t.Fatalf("restored clients = %+v", got)
	}
	if res := a.must(&DeleteClient{ID: "c1"}); res.Count != 1 {
		t.Fatalf("delete: %+v", res)
	}
	if res := a.must(&DeleteClient{ID: "c1"}); res.Count != 0 {
		t.Fatalf("second delete: %+v", res)
	}
	if _, ok := a.f.State().Client("c1"); ok {
		t.Fatal("deleted client still there")
	}
}

// kx is newSession as a knox token.
func kx(uid uint64, id string) *CreateSession {
	c := newSession(uid, id)
	c.Session.Kind = KindKnox
	return c
}
