package fsm

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// eventsOf returns every event the state holds, in order.
func eventsOf(t *testing.T, s *State) []Event {
	t.Helper()
	_, dropped, _ := s.EventBounds()
	evs, _, err := s.EventsAfter(dropped, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func summary(evs []Event) string {
	var b []string
	for _, e := range evs {
		b = append(b, e.ID.String()+" "+e.Type+" "+e.Reason+" "+e.SessionID+e.Kid)
	}
	return strings.Join(b, "\n")
}

// TestEvents_EveryWayASessionEnds applies each command that creates or
// ends a session and checks the events it yields: ids from the log index
// and a sequence, the reason, and who.
func TestEvents_EveryWayASessionEnds(t *testing.T) {
	a := &applier{t: t, f: New()}
	alice := a.must(newUser("alice")).UserID                                       // 1
	a.must(newSession(alice, "s1"))                                                // 2
	a.must(newSession(alice, "s2"))                                                // 3
	a.must(newSession(alice, "s3"))                                                // 4
	a.must(&RevokeSession{Digest: dp(dg("s1"))})                                   // 5
	a.must(&RevokeSession{ID: "s2", UserID: alice})                                // 6
	a.must(&RevokeUserSessions{UserID: alice})                                     // 7
	a.must(newSession(alice, "s4"))                                                // 8
	a.must(&UpdateUser{UserID: alice, PasswordHash: sp("x"), Now: t0 + 5})         // 9
	a.must(newSession(alice, "s5"))                                                // 10
	a.must(&UpdateUser{UserID: alice, Disabled: bp(true)})                         // 11
	a.must(&UpdateUser{UserID: alice, Disabled: bp(false)})                        // 12
	a.must(newSession(alice, "s6"))                                                // 13
	a.must(&PurgeExpired{Now: t0 + 2*hour, Digests: []Digest{dg("s6")}})           // 14
	a.must(newSession(alice, "s7"))                                                // 15
	a.must(&DeleteUser{UserID: alice})                                             // 16
	a.must(&PutKey{Key: SigningKey{Kid: "k1", Alg: "HS256", Secret: []byte("x")}}) // 17
	a.must(&RetireKey{Kid: "k1", At: t0, Revoke: true})                            // 18
	a.must(&RetireKey{Kid: "k1", At: t0, Revoke: true})                            // 19: already revoked, no event

	want := `2.0 session.created  s1
3.0 session.created  s2
4.0 session.created  s3
5.0 session.ended logout s1
6.0 session.ended revoked s2
7.0 session.ended logout_all s3
8.0 session.created  s4
9.0 session.ended password_changed s4
10.0 session.created  s5
11.0 session.ended user_disabled s5
13.0 session.created  s6
14.0 session.ended expired s6
15.0 session.created  s7
16.0 session.ended user_deleted s7
18.0 key.revoked  k1`
	evs := eventsOf(t, a.f.State())
	if got := summary(evs); got != want {
		t.Fatalf("events:\n%s\nwant:\n%s", got, want)
	}
	for _, e := range evs {
		if e.Type == EventKeyRevoked {
			continue
		}
		if e.UserID != alice || e.Login != "alice" || e.DB != "db1" || e.Dialect != "native" {
			t.Errorf("event %s lacks who: %+v", e.ID, e)
		}
	}
	if evs[11].Time != t0+2*hour {
		t.Errorf("expiry event time %d, want the purge's leader-stamped %d", evs[11].Time, t0+2*hour)
	}
	// Nothing secret: no digest of any token in the JSON of any event.
	b, _ := json.Marshal(evs)
	for _, tok := range []string{"s1", "s2", "s3", "s4", "s5", "s6", "s7"} {
		d := dg(tok)
		if strings.Contains(string(b), hex.EncodeToString(d[:])) {
			t.Fatalf("event JSON holds the digest of %s", tok)
		}
	}
}

// TestEvents_SequenceWithinAnEntry: a logoutall of three sessions yields
// three events of one index, numbered 0, 1, 2.
func TestEvents_SequenceWithinAnEntry(t *testing.T) {
	a := &applier{t: t, f: New()}
	u := a.must(newUser("bob")).UserID
	for _, id := range []string{"a", "b", "c"} {
		a.must(newSession(u, id))
	}
	a.must(&RevokeUserSessions{UserID: u})
	evs, _, _ := a.f.State().EventsAfter(EventID{Index: 4, Seq: ^uint32(0)}, 10)
	if len(evs) != 3 || evs[0].ID != (EventID{5, 0}) || evs[2].ID != (EventID{5, 2}) {
		t.Fatalf("got %s", summary(evs))
	}
	// after=5.0 skips the first.
	evs, _, _ = a.f.State().EventsAfter(EventID{Index: 5}, 10)
	if len(evs) != 2 || evs[0].ID != (EventID{5, 1}) {
		t.Fatalf("after 5.0: %s", summary(evs))
	}
}

// TestEvents_RetentionAndGone: beyond retention the oldest go, and a
// reader asking after a dropped one is told (ErrEventsGone), never served
// a stream with a hole.
func TestEvents_RetentionAndGone(t *testing.T) {
	SetEventRetention(4)
	defer SetEventRetention(DefaultEventRetention)
	a := &applier{t: t, f: New()}
	u := a.must(newUser("carol")).UserID
	for i := 0; i < 10; i++ {
		a.must(newSession(u, "x"+string(rune('a'+i))))
	}
	st := a.f.State()
	oldest, dropped, last := st.EventBounds()
	if oldest != (EventID{8, 0}) || dropped != (EventID{7, 0}) || last != (EventID{11, 0}) {
		t.Fatalf("bounds %v %v %v", oldest, dropped, last)
	}
	if _, _, err := st.EventsAfter(EventID{Index: 6}, 10); !errors.Is(err, ErrEventsGone) {
		t.Fatalf("after a dropped event: %v", err)
	}
	if evs, _, err := st.EventsAfter(EventID{Index: 7}, 10); err != nil || len(evs) != 4 {
		t.Fatalf("after the newest dropped: %d %v", len(evs), err)
	}
	// The snapshot keeps the same bounded tail and says what was dropped.
	f2 := restoreBytes(t, snapshotBytes(t, a.f))
	if got, want := summary(eventsOf(t, f2.State())), summary(eventsOf(t, st)); got != want {
		t.Fatalf("restored events:\n%s\nwant:\n%s", got, want)
	}
	if _, _, err := f2.State().EventsAfter(EventID{Index: 6}, 10); !errors.Is(err, ErrEventsGone) {
		t.Fatalf("restored state forgot what it dropped: %v", err)
	}
	// A restore does not re-derive events from the restored sessions.
	if n := len(eventsOf(t, f2.State())); n != 4 {
		t.Fatalf("restored %d events, want 4", n)
	}
}

func TestParseEventID(t *testing.T) {
	for in, want := range map[string]EventID{"0": {0, ^uint32(0)}, "12.3": {12, 3}, "7": {7, ^uint32(0)}} {
		if got, err := ParseEventID(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.x", "1.2.3", "1.99999999999", strings.Repeat("9", 40)} {
		if _, err := ParseEventID(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}

// TestWebhooks_CursorOnlyForwardAndPause: a late commit from a deposed
// leader never moves a cursor back; a pause holds until a change unpauses.
func TestWebhooks_CursorOnlyForwardAndPause(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(&PutWebhook{Webhook: Webhook{ID: "wh1", URL: "https://example.com/h", Secret: []byte("s")}}) // 1
	w, _ := a.f.State().Webhook("wh1")
	if w.Cursor != (EventID{1, ^uint32(0)}) {
		t.Fatalf("new webhook starts at %v, want after its own entry", w.Cursor)
	}
	a.must(&AdvanceWebhooks{Cursors: []WebhookCursor{{ID: "wh1", Through: EventID{9, 0}}}})
	a.must(&AdvanceWebhooks{Cursors: []WebhookCursor{{ID: "wh1", Through: EventID{5, 0}}, {ID: "gone", Through: EventID{9, 0}}}})
	w, _ = a.f.State().Webhook("wh1")
	if w.Cursor != (EventID{9, 0}) {
		t.Fatalf("cursor moved back: %v", w.Cursor)
	}
	a.must(&AdvanceWebhooks{Pauses: []WebhookPause{{ID: "wh1", Reason: "failing", At: t0}}})
	w, _ = a.f.State().Webhook("wh1")
	if !w.Paused || w.PauseReason != "failing" {
		t.Fatalf("not paused: %+v", w)
	}
	// A change keeps the cursor and the secret; unpausing clears the reason.
	a.must(&PutWebhook{Webhook: Webhook{ID: "wh1", URL: "https://example.com/h2"}})
	w, _ = a.f.State().Webhook("wh1")
	if w.Paused || w.PauseReason != "" || w.Cursor != (EventID{9, 0}) || string(w.Secret) != "s" || w.URL != "https://example.com/h2" {
		t.Fatalf("after change: %+v", w)
	}
	// Snapshot round trip, and in the state hash (replicated state).
	f2 := restoreBytes(t, snapshotBytes(t, a.f))
	if w2, ok := f2.State().Webhook("wh1"); !ok || w2.Cursor != w.Cursor {
		t.Fatalf("restored webhook %+v", w2)
	}
	h1, _ := a.f.StateHash()
	a.must(&DeleteWebhook{ID: "wh1"})
	if h2, _ := a.f.StateHash(); h1 == h2 {
		t.Fatal("state hash ignores webhooks")
	}
	if len(a.f.State().Webhooks()) != 0 {
		t.Fatal("delete kept the webhook")
	}
}

// TestWebhooks_ClientDeleteDropsBackchannel: deleting a service client
// deletes its back-channel subscription.
func TestWebhooks_ClientDeleteDropsBackchannel(t *testing.T) {
	a := &applier{t: t, f: New()}
	a.must(&PutClient{Client: Client{ID: "c1", SecretDigest: dg("c")}})
	a.must(&PutWebhook{Webhook: Webhook{ID: "bcl_c1", URL: "https://rp.example/logout", Format: FormatBackchannelLogout, ClientID: "c1"}})
	a.must(&DeleteClient{ID: "c1"})
	if _, ok := a.f.State().Webhook("bcl_c1"); ok {
		t.Fatal("back-channel subscription outlived its client")
	}
}

// TestEvents_FormatGate: the new command types need FormatV3.
func TestEvents_FormatGate(t *testing.T) {
	for _, c := range []Command{&PutWebhook{}, &DeleteWebhook{}, &AdvanceWebhooks{}} {
		if lv := EntryFormatNeeded(MustEncode(c)); lv != FormatV3 {
			t.Errorf("%T needs format %d, want FormatV3", c, lv)
		}
	}
}

// TestEvents_NotifyOnAppend: EventsChanged wakes a waiter when an entry
// yields events, and not for one that yields none.
func TestEvents_NotifyOnAppend(t *testing.T) {
	a := &applier{t: t, f: New()}
	ch := a.f.EventsChanged()
	u := a.must(newUser("dan")).UserID
	select {
	case <-ch:
		t.Fatal("woken by an entry without events")
	default:
	}
	a.must(newSession(u, "z"))
	select {
	case <-ch:
	default:
		t.Fatal("not woken by a new session")
	}
}
