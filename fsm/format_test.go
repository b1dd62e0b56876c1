package fsm

import (
	"encoding/json"
	"testing"
)

// Which commands need a format level: only those that set the operator
// role, whatever else they carry; sessions and the rest need none.
func TestFormat_NeededPerCommand(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		cmd  Command
		want int
	}{
		{&CreateUser{DB: "d", Login: "a", PasswordHash: "h", Admin: true}, FormatBase},
		{&CreateUser{DB: "d", Login: "a", PasswordHash: "h", Operator: true}, FormatOperator},
		{&UpdateUser{UserID: 1, Admin: &yes}, FormatBase},
		{&UpdateUser{UserID: 1, Operator: &no}, FormatOperator}, // taking it back is a change too
		{&CreateSession{Session: Session{ID: "s"}}, FormatBase},
		{&PutNode{Node: Node{ID: "n", Format: CurrentFormat, Promote: true}}, FormatBase},
	} {
		entry, err := Encode(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatNeeded(c.cmd); got != c.want {
			t.Errorf("%T %+v: FormatNeeded %d, want %d", c.cmd, c.cmd, got, c.want)
		}
		if got := EntryFormatNeeded(entry); got != c.want {
			t.Errorf("%T %+v: EntryFormatNeeded %d, want %d", c.cmd, c.cmd, got, c.want)
		}
	}
	if EntryFormatNeeded(nil) != FormatBase || EntryFormatNeeded([]byte{byte(TypeUpdateUser), '{'}) != FormatBase {
		t.Error("an empty or undecodable entry must need no level (Apply refuses it)")
	}
}

// What an older binary does with a newer record: its User and Node have
// no operator, format or promote field, and decoding skips them instead
// of failing, so a snapshot or entry from a newer member never stops it.
func TestFormat_OlderShapesDecodeNewerRecords(t *testing.T) {
	u, _ := json.Marshal(&User{ID: 1, DB: "d", Login: "a", Admin: true, Operator: true})
	var oldUser struct {
		ID    uint64 `json:"id"`
		Admin bool   `json:"admin"`
	}
	if err := json.Unmarshal(u, &oldUser); err != nil || oldUser.ID != 1 || !oldUser.Admin {
		t.Fatalf("older user shape: %v %+v", err, oldUser)
	}
	n, _ := json.Marshal(&Node{ID: "n1", RaftAddr: "r", APIAddr: "a", Format: CurrentFormat, Promote: true})
	var oldNode struct {
		ID      string `json:"id"`
		APIAddr string `json:"api_addr"`
	}
	if err := json.Unmarshal(n, &oldNode); err != nil || oldNode.APIAddr != "a" {
		t.Fatalf("older node shape: %v %+v", err, oldNode)
	}
	// And this binary reads an older record as format 0, no operator.
	var fromOld Node
	if err := json.Unmarshal([]byte(`{"id":"n1","raft_addr":"r","api_addr":"a"}`), &fromOld); err != nil || fromOld.Format != FormatBase || fromOld.Promote {
		t.Fatalf("older record: %v %+v", err, fromOld)
	}
}
