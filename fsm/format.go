package fsm

import "bytes"

// Format levels: what a binary understands of the log and snapshots.
//
// A field or command that an older binary would read differently (or
// drop, and so diverge) may be written only once every member of the
// cluster understands it. Each node publishes the level it understands in
// its own Node record (Node.Format); the leader takes the minimum over the
// current Raft configuration (cluster/format.go) and refuses a command
// whose FormatNeeded is higher. Numbers are append-only, like command
// types: a level, once released, keeps its meaning.
const (
	// FormatBase is every binary before levels existed: no Node.Format.
	FormatBase = 0
	// FormatOperator adds User.Operator (CreateUser.Operator,
	// UpdateUser.Operator): an older binary would drop the role, and its
	// state would differ from the others'.
	FormatOperator = 1
	// FormatV3 is the third wave's log: the command types and fields of
	// typeFormat below (idempotent writes, portal sessions, second
	// factors, events and webhooks, the cluster version). A binary before
	// it stops at an unknown type, so none may enter the log until every
	// member announces it.
	FormatV3 = 2

	// CurrentFormat is the level this binary understands and announces.
	CurrentFormat = FormatV3
)

// typeFormat is the level a whole command type needs: a binary below it
// does not know the type at all. One line per type added after
// FormatOperator; a type absent here needs FormatBase (or only the
// per-field levels of FormatNeeded).
var typeFormat = map[CmdType]int{
	// Second factors (totp).
	TypeTOTPEnrol: FormatV3, TypeTOTPConfirm: FormatV3, TypeFactorUse: FormatV3,
	TypeSetRecoveryCodes: FormatV3, TypeResetFactors: FormatV3,
	TypePutChallenge: FormatV3, TypeTakeChallenge: FormatV3,
	TypePutAppPassword: FormatV3, TypeDeleteAppPassword: FormatV3,
	// Events and webhooks (45–54).
	TypePutWebhook:      FormatV3,
	TypeDeleteWebhook:   FormatV3,
	TypeAdvanceWebhooks: FormatV3,
	// Passkeys (portal: 48–51).
	TypePutPasskey: FormatV3, TypeRenamePasskey: FormatV3, TypeDeletePasskey: FormatV3, TypePasskeyUse: FormatV3,
	// The cluster version (ver).
	TypeSetClusterFormat: FormatV3,
	// Sealed values after a seal rotation (reseal.go).
	TypeResealValue: FormatV3,
}

// FormatNeeded is the level every member must understand before cmd may
// enter the log. Most commands need none; keep this next to the command
// table so a new field that needs a level is declared where it is added.
func FormatNeeded(cmd Command) int {
	if lv, ok := typeFormat[cmd.Type()]; ok {
		return lv
	}
	if ff, ok := cmd.(FieldFormatter); ok {
		return ff.FieldFormat()
	}
	switch c := cmd.(type) {
	case *CreateUser:
		if c.EmailUnverified { // fwd: emailverify.go
			return FormatV3
		}
		if c.Operator {
			return FormatOperator
		}
	case *UpdateUser:
		if c.EmailUnverified != nil || c.Nonce != "" { // fwd: emailverify.go; idem: once.go
			return FormatV3
		}
		if c.Operator != nil {
			return FormatOperator
		}
	case *SetSettings:
		if c.Settings.DialectPasswordWith2FA || c.Settings.Require2FAAdmins || c.Settings.Require2FADBs != "" { // totp: an older binary would drop them
			return FormatV3
		}
	case *CreateSession:
		if c.Session.AuthTime != 0 || c.Session.AMR != 0 || c.SingleFactor || c.AppPassword != "" || c.Once { // totp: how the session was made; once.go
			return FormatV3
		}
	case *RevokeUserSessions:
		if c.Nonce != "" || c.At != 0 {
			return FormatV3
		}
	case *LoginFailed:
		if c.Nonce != "" {
			return FormatV3
		}
	}
	return FormatBase
}

// EntryFormatNeeded is FormatNeeded for an encoded entry. Only the types
// that can need a level are decoded, so the hot path (sessions) pays one
// byte comparison. An entry that does not decode needs no level here:
// Apply's own checks refuse it.
func EntryFormatNeeded(entry []byte) int {
	if len(entry) == 0 {
		return FormatBase
	}
	if lv, ok := typeFormat[CmdType(entry[0])]; ok {
		return lv
	}
	if usesFormat(CmdType(entry[0])) {
		cmd, err := Decode(entry)
		if err != nil || cmd == nil {
			return FormatBase
		}
		return FormatNeeded(cmd)
	}
	switch CmdType(entry[0]) {
	case TypeSetSettings:
	case TypeCreateSession:
		// A login's entry is decoded only when it can hold a FormatV3
		// field: the bytes name it (json's key), and logins without one
		// pay a substring search, not a decode.
		if !bytes.Contains(entry, []byte(`"auth_time"`)) && !bytes.Contains(entry, []byte(`"amr"`)) && !bytes.Contains(entry, []byte(`"single_factor"`)) && !bytes.Contains(entry, []byte(`"app_password"`)) && !bytes.Contains(entry, []byte(`"once"`)) {
			return FormatBase
		}
	case TypeCreateUser, TypeUpdateUser, TypeRevokeUserSessions, TypeLoginFailed:
	default:
		return FormatBase
	}
	cmd, err := Decode(entry)
	if err != nil || cmd == nil {
		return FormatBase
	}
	return FormatNeeded(cmd)
}

// FieldFormatter is the hook for a command whose fields need a level: its
// FieldFormat reports the level of the fields it sets. A command type that
// implements it declares its fields' levels next to its struct instead of
// in FormatNeeded's switch, and EntryFormatNeeded decodes its entries
// (usesFormat, a table built once). A whole new type needs only its line
// in typeFormat; persisted state an older binary would drop registers a
// check with FormatUses (clusterformat.go), which a downgrade consults.
type FieldFormatter interface{ FieldFormat() int }

// usesFormat reports whether type t implements FieldFormatter.
func usesFormat(t CmdType) bool { return fieldFormatters[t] }

var fieldFormatters = func() (out [256]bool) {
	for t := range out {
		if c := newCommand(CmdType(t)); c != nil {
			_, out[t] = c.(FieldFormatter)
		}
	}
	return out
}()
