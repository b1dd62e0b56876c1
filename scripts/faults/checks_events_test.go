package faults

import (
	"strings"
	"testing"
)

// TestCheckEventStreams passes a history whose acknowledged logouts all
// have their events, in real-time order, on every node, and fails each
// planted fault: a missing event, a node with another stream, two
// non-overlapping logouts whose events are swapped.
func TestCheckEventStreams(t *testing.T) {
	h := History{Ops: []Op{
		{ID: 1, Kind: Login, Result: OK, Token: "ta", Session: "sa", Call: 0, Return: 1},
		{ID: 2, Kind: Login, Result: OK, Token: "tb", Session: "sb", Call: 0, Return: 1},
		{ID: 3, Kind: Logout, Result: OK, Token: "ta", Call: 10, Return: 20},
		{ID: 4, Kind: Logout, Result: OK, Token: "tb", Call: 30, Return: 40},
	}}
	good := []StreamEvent{
		{ID: "5.0", Type: "session.created", SessionID: "sa"},
		{ID: "6.0", Type: "session.created", SessionID: "sb"},
		{ID: "7.0", Type: "session.ended", Reason: "logout", SessionID: "sa"},
		{ID: "9.0", Type: "session.ended", Reason: "logout", SessionID: "sb"},
	}
	if v := CheckEventStreams(h, map[string][]StreamEvent{"n1": good, "n2": good}); v.Result != Pass || !strings.HasPrefix(v.Detail[0], "2 acknowledged") {
		t.Fatalf("clean: %+v", v)
	}
	missing := good[:3]
	swapped := []StreamEvent{good[0], good[1], {ID: "7.0", Type: "session.ended", Reason: "logout", SessionID: "sb"},
		{ID: "9.0", Type: "session.ended", Reason: "logout", SessionID: "sa"}}
	unordered := []StreamEvent{good[0], good[1], good[3], good[2]}
	for name, streams := range map[string]map[string][]StreamEvent{
		"missing event":   {"n1": missing, "n2": missing},
		"nodes differ":    {"n1": good, "n2": missing},
		"real-time order": {"n1": swapped, "n2": swapped},
		"ids not rising":  {"n1": unordered, "n2": unordered},
	} {
		if v := CheckEventStreams(h, streams); v.Result != Fail {
			t.Errorf("%s passed: %+v", name, v)
		}
	}
}
