package fsm

import (
	"bytes"
	"os"
	"testing"
)

// goldenV3 is a version-1 snapshot of a state that uses every record and
// field of the third wave's log format (FormatV3): second factors and app
// passwords (record 12), a pending sign-in step (13), the event log and its
// meta (16, 17), a webhook subscription with a moved cursor (18), the
// cluster's replicated format level (in the meta record), sessions that
// know how they were made (AuthTime, AMR), an unverified address, and the
// remembered ids of a login and a logoutall (8). Written once with
// -update-golden and never regenerated, like goldenV1: every later binary
// must restore it.
const goldenV3 = "testdata/snapshot-v1-format3.golden"

// goldenV3State is the log behind goldenV3, spelled out here for the same
// reason as goldenState's.
func goldenV3State(t testing.TB) *applier {
	a := &applier{t: t, f: New()}
	a.must(&SetClusterFormat{Level: FormatV3})
	a.must(&CreateUser{Nonce: "req-1", DB: "acme", Login: "alice", PasswordHash: "hash-alice", Admin: true, Now: t0})
	a.must(&CreateUser{Nonce: "req-2", DB: "acme", Login: "bob", Email: "bob@acme.test", EmailUnverified: true, PasswordHash: "hash-bob", Now: t0 + 1})
	a.must(&TOTPEnrol{UserID: 1, Secret: []byte("sealed-totp-secret")})
	a.must(&TOTPConfirm{UserID: 1, Pending: Digest(dg("sealed-totp-secret")), Step: 100, Recovery: []Digest{dg("rc-1"), dg("rc-2"), dg("rc-3")}, Now: t0 + minute})
	a.must(&FactorUse{Nonce: "use-1", UserID: 1, Recovery: ptrDigest(dg("rc-2"))})
	a.must(&PutAppPassword{UserID: 1, AppPassword: AppPassword{ID: "ap-1", Name: "mail client", Digest: dg("app-secret"), Created: t0 + 2*minute}})
	a.must(&PutChallenge{Challenge: Challenge{ID: dg("portal-step"), UserID: 2, Kind: "portal_2fa", Data: []byte(`{"rd":"https://app.test/"}`), Created: t0, Expires: t0 + 5*minute}})
	a.must(&CreateSession{Session: Session{ID: "a-2fa", Digest: dg("tok-a-2fa"), Kind: KindNative, UserID: 1, Created: t0 + 3*minute,
		ExpiresAt: t0 + hour, AuthTime: t0 + 3*minute, AMR: AMRPwd | AMROTP}, Once: true})
	a.must(&CreateSession{Session: Session{ID: "b-pwd", Digest: dg("tok-b-pwd"), Kind: KindKnox, UserID: 2, Created: t0 + 4*minute,
		AuthTime: t0 + 4*minute, AMR: AMRPwd}, Once: true})
	a.must(&PutWebhook{Webhook: Webhook{ID: "wh-1", DB: "acme", URL: "https://hooks.acme.test/sessiond", Events: []string{EventSessionEnded},
		Secret: []byte("sealed-whsec"), Created: t0 + 5*minute}})
	a.must(&RevokeUserSessions{UserID: 2, Nonce: "req-logoutall", At: t0 + 6*minute})
	a.must(&AdvanceWebhooks{Cursors: []WebhookCursor{{ID: "wh-1", Through: EventID{Index: 12, Seq: 0}}}})
	return a
}

func ptrDigest(d Digest) *Digest { return &d }

// TestGoldenV3_Generate writes goldenV3 with -update-golden, once.
func TestGoldenV3_Generate(t *testing.T) {
	generateGolden(t, goldenV3, goldenV3State)
}

// TestGoldenV3_Restores restores goldenV3 and checks it against literals,
// then that it writes back the very bytes it read.
func TestGoldenV3_Restores(t *testing.T) {
	f, b, eq := readGolden(t, goldenV3)
	s := f.State()
	eq("AppliedIndex", uint64(13), f.AppliedIndex())
	eq("ClusterFormat", ClusterFormat{Set: true, Level: FormatV3, Index: 1}, s.ClusterFormat())
	eq("Factors(1)", &Factors{UserID: 1, TOTP: []byte("sealed-totp-secret"), TOTPSince: t0 + minute, LastStep: 100,
		Recovery: []Digest{dg("rc-1"), dg("rc-3")}, RecoveryMade: t0 + minute, LastUse: "use-1",
		AppPasswords: []AppPassword{{ID: "ap-1", Name: "mail client", Digest: dg("app-secret"), Created: t0 + 2*minute}}}, s.Factors(1))
	eq("Challenge", &Challenge{ID: dg("portal-step"), UserID: 2, Kind: "portal_2fa", Data: []byte(`{"rd":"https://app.test/"}`),
		Created: t0, Expires: t0 + 5*minute}, s.Challenge(dg("portal-step")))
	wh, _ := s.Webhook("wh-1")
	eq("Webhook", &Webhook{ID: "wh-1", DB: "acme", URL: "https://hooks.acme.test/sessiond", Events: []string{EventSessionEnded},
		Secret: []byte("sealed-whsec"), Created: t0 + 5*minute, Cursor: EventID{Index: 12, Seq: 0}}, wh)
	if u, _ := s.User(2); u == nil || !u.EmailUnverified {
		t.Errorf("bob restored without EmailUnverified: %+v", u)
	}
	sess, ok := s.Session(dg("tok-a-2fa"))
	if !ok {
		t.Fatal("session a-2fa missing")
	}
	eq("Session a-2fa", Session{ID: "a-2fa", Digest: dg("tok-a-2fa"), Kind: KindNative, UserID: 1, DB: "acme", Created: t0 + 3*minute,
		LastRefresh: t0 + 3*minute, ExpiresAt: t0 + hour, AuthTime: t0 + 3*minute, AMR: AMRPwd | AMROTP}, *sess)
	if _, ok := s.Session(dg("tok-b-pwd")); ok {
		t.Error("b-pwd, ended by the logoutall, restored")
	}
	eq("once", []onceRec{
		{Nonce: "s:a-2fa", At: t0 + 3*minute, UserID: 1},
		{Nonce: "s:b-pwd", At: t0 + 4*minute, UserID: 2},
		{Nonce: "req-logoutall", At: t0 + 6*minute, UserID: 2, Count: 1},
	}, s.once.live())
	evs, _, err := s.EventsAfter(EventID{}, 100)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range evs {
		kinds = append(kinds, e.ID.String()+" "+e.Type+" "+e.SessionID+" "+e.Reason)
	}
	eq("events", []string{
		"9.0 session.created a-2fa ",
		"10.0 session.created b-pwd ",
		"12.0 session.ended b-pwd logout_all",
	}, kinds)
	if again := snapshotBytes(t, f); !bytes.Equal(again, b) {
		t.Error("restored golden state writes different bytes")
	}
	// The restored state goes on: the login's retry is still a no-op.
	a := &applier{t: t, f: f, idx: f.AppliedIndex()}
	a.must(&CreateSession{Session: Session{ID: "b-pwd", Digest: dg("tok-b-pwd"), Kind: KindKnox, UserID: 2, Created: t0 + 4*minute,
		AuthTime: t0 + 4*minute, AMR: AMRPwd}, Once: true})
	if _, ok := s.Session(dg("tok-b-pwd")); ok {
		t.Error("a login's retry after the restore created its ended session again")
	}
}

// TestGoldenV3_WriterUnchanged: today's binary, applying the same log,
// writes the same bytes (a codec change shows here first).
// Unlike the older files this one holds events, so they stay on.
func TestGoldenV3_WriterUnchanged(t *testing.T) {
	b, err := os.ReadFile(goldenV3)
	if err != nil {
		t.Fatal(err)
	}
	if got := snapshotBytes(t, goldenV3State(t).f); !bytes.Equal(got, b) {
		t.Errorf("the golden log now snapshots to %d bytes that differ from %s (%d bytes)", len(got), goldenV3, len(b))
	}
}
