package fsm

import "testing"

// TestCommands_EveryTypeDeclaresValidity walks the command table: every
// row states whether it narrows validity (an undeclared row fails here),
// and every command that can end, shorten or weaken a credential does.
// The revocation wait in cluster is derived from this column, so a row
// marked Keeps by mistake would be acknowledged before lease holders
// stopped accepting what it revoked.
func TestCommands_EveryTypeDeclaresValidity(t *testing.T) {
	// Why each narrows: logout and revoke by id; logoutall; a password
	// change or disable ends sessions (and any UpdateUser may); a deleted
	// user; a retired or revoked signing key; a revoked app password's
	// sessions; a deleted service client;
	// settings that shorten a lifetime or a JWT grace; a purge ends
	// sessions whose end a follower with a slow clock has not reached.
	narrowing := map[CmdType]bool{
		TypeRevokeSession: true, TypeRevokeUserSessions: true, TypeUpdateUser: true,
		TypeDeleteUser: true, TypeRetireKey: true, TypeDeleteClient: true,
		TypeSetSettings: true, TypePurgeExpired: true,
		TypeDeleteAppPassword: true, // ends the sessions made with it
	}
	rows := 0
	for typ := 0; typ < 256; typ++ {
		ct := CmdType(typ)
		sp := specOf(ct)
		if sp == nil {
			if !ct.Narrows() {
				t.Errorf("unknown type %d does not narrow: an entry this binary cannot read must wait", typ)
			}
			continue
		}
		rows++
		switch sp.validity {
		case Keeps, Narrows:
		default:
			t.Errorf("%s (type %d) declares no Validity: say in the command table whether it narrows", ct, typ)
			continue
		}
		if got := ct.Narrows(); got != narrowing[ct] {
			t.Errorf("%s (type %d): Narrows() = %v, want %v", ct, typ, got, narrowing[ct])
		}
		if got := EntryNarrows(MustEncode(sp.new())); got != narrowing[ct] {
			t.Errorf("%s: EntryNarrows = %v, want %v", ct, got, narrowing[ct])
		}
	}
	if rows != len(allCommands()) {
		t.Errorf("%d rows in the table, %d commands in allCommands", rows, len(allCommands()))
	}
	if EntryNarrows(nil) {
		t.Error("an empty entry narrows")
	}
}
