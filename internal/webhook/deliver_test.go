package webhook

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// TestAppendPayload_MatchesEncodingJSON: the hand-written body is byte for
// byte what encoding/json writes for Payload, hostile strings included.
func TestAppendPayload_MatchesEncodingJSON(t *testing.T) {
	now := time.Unix(1796588883, 146735694)
	batch := []fsm.Event{
		{ID: fsm.EventID{Index: 1042, Seq: 0}, Type: fsm.EventSessionEnded, Reason: fsm.ReasonLogout, DB: "acme", UserID: 7,
			Login: "al\"ice\\<script>&\u2028\x01\n\t\r é", SessionID: "abc", Dialect: "native", Time: 99},
		{ID: fsm.EventID{Index: 1043, Seq: 2}, Type: fsm.EventKeyRevoked, Kid: "k1", Time: -1},
		{ID: fsm.EventID{Index: 1, Seq: 4294967295}, Type: fsm.EventSessionCreated, Login: "bad\xffutf8"},
	}
	var p Payload
	p.Type, p.Timestamp, p.Data.Events = PayloadType, now.UTC().Format(time.RFC3339Nano), batch
	want, err := json.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	if got := appendPayload(nil, now, batch); string(got) != string(want) {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}
