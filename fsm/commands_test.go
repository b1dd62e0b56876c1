package fsm

import "testing"

// TestCmdType_String pins every command's name: they are the values of the
// "command" label of sessiond_fsm_apply_duration_seconds, so a rename
// breaks dashboards and alerts.
func TestCmdType_String(t *testing.T) {
	want := map[CmdType]string{
		TypeCreateUser: "create_user", TypeUpdateUser: "update_user", TypeDeleteUser: "delete_user",
		TypeCreateSession: "create_session", TypeRevokeSession: "revoke_session",
		TypeRevokeUserSessions: "revoke_user_sessions", TypePurgeExpired: "purge_expired",
		TypeRefreshSessions: "refresh_sessions", TypeLoginFailed: "login_failed",
		TypeResetFailures: "reset_failures", TypeSetSettings: "set_settings", TypePutNode: "put_node",
		TypeRemoveNode: "remove_node", TypePutKey: "put_key", TypeRetireKey: "retire_key",
		TypeCreateDB: "create_db", TypeResealKey: "reseal_key",
		TypePutClient: "put_client", TypeDeleteClient: "delete_client",
		TypeTOTPEnrol: "totp_enrol", TypeTOTPConfirm: "totp_confirm", TypeFactorUse: "factor_use",
		TypeSetRecoveryCodes: "set_recovery_codes", TypeResetFactors: "reset_factors",
		TypePutChallenge: "put_challenge", TypeTakeChallenge: "take_challenge",
		TypePutAppPassword: "put_app_password", TypeDeleteAppPassword: "delete_app_password",
		TypePutWebhook: "put_webhook", TypeDeleteWebhook: "delete_webhook", TypeAdvanceWebhooks: "advance_webhooks",
		TypeSetClusterFormat: "set_cluster_format", TypeResealValue: "reseal_value",
		TypePutPasskey: "put_passkey", TypeRenamePasskey: "rename_passkey",
		TypeDeletePasskey: "delete_passkey", TypePasskeyUse: "passkey_use",
	}
	for typ := 0; typ < 256; typ++ {
		ct := CmdType(typ)
		name, known := want[ct]
		if !known {
			name = "other"
		}
		if got := ct.String(); got != name {
			t.Errorf("CmdType(%d).String() = %q, want %q", typ, got, name)
		}
	}
}

// TestCommands_TableMatchesTypes checks each row of the registry against
// the command it makes: a row filed under the wrong number would decode
// entries into the wrong struct.
func TestCommands_TableMatchesTypes(t *testing.T) {
	n := 0
	for typ := 0; typ < 256; typ++ {
		c := newCommand(CmdType(typ))
		if c == nil {
			continue
		}
		n++
		if c.Type() != CmdType(typ) {
			t.Errorf("commands[%d] makes %T, whose Type is %d", typ, c, c.Type())
		}
	}
	if n != len(allCommands()) {
		t.Errorf("%d registered types, %d in allCommands", n, len(allCommands()))
	}
}

// TestApply_WrongGoType keeps the old type switch's answer for a command
// of a known Type that is not the pointer Decode makes: refused, and the
// index still moves.
func TestApply_WrongGoType(t *testing.T) {
	s := newState()
	if res := s.apply(CreateDB{Name: "x"}, 3); res.Code != "bad_command" {
		t.Fatalf("apply(value) = %+v, want bad_command", res)
	}
	if s.index != 3 {
		t.Errorf("index = %d, want 3", s.index)
	}
	if len(s.dbs) != 0 {
		t.Errorf("dbs = %v, want none", s.dbs)
	}
}
