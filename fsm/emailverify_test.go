package fsm

import (
	"errors"
	"strings"
	"testing"
)

// User.EmailUnverified is written only at FormatV3 (an older binary would
// drop it and pass the address on), kept across updates that do not name
// it, cleared by one that does, and a downgrade below FormatV3 is refused
// while a user carries it.
func TestEmailUnverified_GatedAndKept(t *testing.T) {
	yes, no := true, false
	for _, c := range []struct {
		cmd  Command
		want int
	}{
		{&CreateUser{DB: "d", Login: "a@x.example", PasswordHash: "h", EmailUnverified: true}, FormatV3},
		{&CreateUser{DB: "d", Login: "a@x.example", PasswordHash: "h", EmailUnverified: true, Operator: true}, FormatV3},
		{&UpdateUser{UserID: 1, EmailUnverified: &no}, FormatV3},
		{&UpdateUser{UserID: 1, EmailUnverified: &yes}, FormatV3},
	} {
		entry, err := Encode(c.cmd)
		if err != nil {
			t.Fatal(err)
		}
		if FormatNeeded(c.cmd) != c.want || EntryFormatNeeded(entry) != c.want {
			t.Errorf("%+v: FormatNeeded %d, entry %d, want %d", c.cmd, FormatNeeded(c.cmd), EntryFormatNeeded(entry), c.want)
		}
	}

	a := &applier{t: t, f: New()}
	a.must(&SetClusterFormat{Level: FormatV3})
	nu := newUser("bob@nowhere.example")
	nu.Email, nu.EmailUnverified = "bob@nowhere.example", true
	uid := a.must(nu).UserID
	name := "Bob"
	a.must(&UpdateUser{UserID: uid, Name: &name})
	if u, _ := a.f.State().User(uid); !u.EmailUnverified {
		t.Fatal("an update that does not name the flag cleared it")
	}
	if lv, what := a.f.State().StateFormatNeeded(); lv != FormatV3 || !strings.Contains(what, "bob@nowhere.example") {
		t.Fatalf("StateFormatNeeded = %d %q", lv, what)
	}
	if err := a.apply(&SetClusterFormat{Level: FormatOperator, Downgrade: true}).Err(); !errors.Is(err, ErrFormatInUse) {
		t.Fatalf("downgrade below an unverified address: %v", err)
	}
	a.must(&UpdateUser{UserID: uid, EmailUnverified: &no})
	if u, _ := a.f.State().User(uid); u.EmailUnverified {
		t.Fatal("verifying did not clear the flag")
	}
	a.must(&SetClusterFormat{Level: FormatOperator, Downgrade: true}) // the lowest a downgrade goes (MinDowngrade)
	if err := a.apply(&UpdateUser{UserID: uid, EmailUnverified: &yes}).Err(); !errors.Is(err, ErrFormatGated) {
		t.Fatalf("the flag at level 1: %v", err)
	}
}
