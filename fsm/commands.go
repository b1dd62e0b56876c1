package fsm

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// CmdType is the first byte of every log entry. Numbers are explicit and
// append-only: never renumber or reuse one, since old logs hold them.
type CmdType uint8

// IgnorableFlag marks a type that a binary which does not know it may skip
// (for example a hint or a metric), instead of stopping to avoid divergence.
const IgnorableFlag CmdType = 0x80

// Command types.
const (
	TypeCreateUser         CmdType = 1
	TypeUpdateUser         CmdType = 2
	TypeDeleteUser         CmdType = 3
	TypeCreateSession      CmdType = 4
	TypeRevokeSession      CmdType = 5
	TypeRevokeUserSessions CmdType = 6
	TypePurgeExpired       CmdType = 7
	TypeRefreshSessions    CmdType = 8
	TypeLoginFailed        CmdType = 9
	TypeResetFailures      CmdType = 10
	TypeSetSettings        CmdType = 11
	TypePutNode            CmdType = 12
	TypeRemoveNode         CmdType = 13
	TypePutKey             CmdType = 14
	TypeRetireKey          CmdType = 15
	TypeCreateDB           CmdType = 16
	TypeResealKey          CmdType = 17
	TypePutClient          CmdType = 24
	TypeDeleteClient       CmdType = 25

	// Second factors (totp: 35–44; factors.go).
	TypeTOTPEnrol         CmdType = 35
	TypeTOTPConfirm       CmdType = 36
	TypeFactorUse         CmdType = 37
	TypeSetRecoveryCodes  CmdType = 38
	TypeResetFactors      CmdType = 39
	TypePutChallenge      CmdType = 40
	TypeTakeChallenge     CmdType = 41
	TypePutAppPassword    CmdType = 42
	TypeDeleteAppPassword CmdType = 43
)

// Command is one change to the state. Payloads are JSON so that fields can
// be added without a format break (additive fields only; never change the
// meaning of an existing one).
type Command interface{ Type() CmdType }

// CreateUser adds an account. Nonce is the request's ID chosen before the
// log: a retry with the same nonce returns the existing user instead of
// failing, so a timed-out create cannot be applied twice with two outcomes.
type CreateUser struct {
	Nonce        string `json:"nonce"`
	DB           string `json:"db"`
	Login        string `json:"login"`
	Email        string `json:"email,omitempty"`
	Name         string `json:"name,omitempty"`
	CompanyID    uint64 `json:"company_id,omitempty"`
	CompanyName  string `json:"company_name,omitempty"`
	PasswordHash string `json:"password_hash"`
	Admin        bool   `json:"admin,omitempty"`
	Operator     bool   `json:"operator,omitempty"` // needs FormatOperator
	// EmailUnverified: a self-registration's address (User.EmailUnverified);
	// needs FormatV3.
	EmailUnverified bool  `json:"email_unverified,omitempty"`
	Now             int64 `json:"now"`
}

// UpdateUser changes the fields that are set. A new password hash bumps the
// user's version; a password change or disabling ends every session of the
// user at this index.
type UpdateUser struct {
	UserID       uint64  `json:"user_id"`
	Name         *string `json:"name,omitempty"`
	Email        *string `json:"email,omitempty"`
	PasswordHash *string `json:"password_hash,omitempty"`
	Admin        *bool   `json:"admin,omitempty"`
	Operator     *bool   `json:"operator,omitempty"` // needs FormatOperator
	Disabled     *bool   `json:"disabled,omitempty"`
	// EmailUnverified sets or clears User.EmailUnverified; needs FormatV3.
	EmailUnverified *bool `json:"email_unverified,omitempty"`
	Now             int64 `json:"now"`
	// Nonce is the request's ID chosen before the log: a retry carrying
	// a nonce the state remembers changes nothing (once.go). Needs
	// FormatV3; below it the command is sent without (WithinFormat).
	Nonce string `json:"nonce,omitempty"`
}

// DeleteUser removes an account and all its sessions.
type DeleteUser struct {
	UserID uint64 `json:"user_id"`
}

// CreateSession stores a login. UserVersion is the user's version when the
// password was verified: if the password changed in between, the login is
// refused with ErrStaleUser rather than outliving the change.
type CreateSession struct {
	Session     Session `json:"session"`
	UserVersion uint64  `json:"user_version"`
	// TrustAddr is the client's network (an IPv4 address, an IPv6 /64)
	// that just proved the password: the account remembers it as a known
	// client, whose logins its guess budget never refuses. Chosen by the
	// node before the log, like every other value.
	TrustAddr string `json:"trust_addr,omitempty"`
	// SingleFactor marks a password-only login the policy allows for an
	// account with a second factor (factors.go, needsSecondFactor).
	SingleFactor bool `json:"single_factor,omitempty"`
	// AppPassword is the id of the app password the login used
	// (apppasswords.go): the session is refused if it is revoked by then.
	AppPassword string `json:"app_password,omitempty"`
	// Once has the state remember the session's ID as applied (once.go),
	// so a retry of this entry that lands after the session ended (a
	// logoutall, an admin's revoke by id, on a leader that committed the
	// first copy and lost its leadership before answering) answers as the
	// first copy did instead of creating the session again. FormatV3.
	Once bool `json:"once,omitempty"`
}

// RevokeSession ends one session, found by digest or else by ID. A non-zero
// UserID restricts it to that user's sessions (a user deleting their own).
// Revoking a session that is already gone succeeds with Count 0.
type RevokeSession struct {
	Digest *Digest `json:"digest,omitempty"`
	ID     string  `json:"id,omitempty"`
	UserID uint64  `json:"user_id,omitempty"`
}

// RevokeUserSessions ends every session of a user (logoutall), except KeepID.
type RevokeUserSessions struct {
	UserID uint64 `json:"user_id"`
	KeepID string `json:"keep_id,omitempty"`
	// Nonce and At make a retry a no-op (once.go): without them a retry
	// across failover would also end sessions created after the first
	// attempt. At is when the node chose the nonce (Unix ns), which is
	// how long the state remembers it. Both need FormatV3.
	Nonce string `json:"nonce,omitempty"`
	At    int64  `json:"at,omitempty"`
}

// PurgeExpired deletes the listed sessions that are expired at Now. The
// leader picks the list; Apply re-checks each against Now so a refresh that
// raced the purge is never lost.
type PurgeExpired struct {
	Now     int64    `json:"now"`
	Digests []Digest `json:"digests"`
}

// Refresh moves one session's idle deadline.
type Refresh struct {
	Digest Digest `json:"digest"`
	At     int64  `json:"at"`
}

// RefreshSessions batches idle-expiry refreshes so that use never costs one
// write per request.
type RefreshSessions struct {
	Refreshes []Refresh `json:"refreshes"`
}

// LoginFailed records a failed password check; at Threshold failures within
// Window the account is locked until At+LockFor. The lock is replicated so a
// client cannot dodge it by switching nodes.
type LoginFailed struct {
	UserID    uint64 `json:"user_id"`
	At        int64  `json:"at"`
	Threshold int    `json:"threshold"`
	LockFor   int64  `json:"lock_for"`
	Window    int64  `json:"window"`
	// Nonce makes a retry a no-op (once.go), so one failure is counted
	// once. Needs FormatV3.
	Nonce string `json:"nonce,omitempty"`
}

// ResetFailures clears the failure count and any lock (successful login or
// an admin unlock).
type ResetFailures struct {
	UserID uint64 `json:"user_id"`
}

// SetSettings replaces the cluster settings.
type SetSettings struct {
	Settings Settings `json:"settings"`
}

// PutNode records (or updates) a member's addresses.
type PutNode struct {
	Node Node `json:"node"`
}

// RemoveNode forgets a member's addresses.
type RemoveNode struct {
	ID string `json:"id"`
}

// PutKey adds a JWT signing key; Activate makes it the signing key.
type PutKey struct {
	Key      SigningKey `json:"key"`
	Activate bool       `json:"activate,omitempty"`
}

// RetireKey stops a key from signing; it still verifies until its tokens
// expire.
type RetireKey struct {
	Kid string `json:"kid"`
	At  int64  `json:"at"`
	// Revoke also revokes the key: no token it signed verifies any more.
	Revoke bool `json:"revoke,omitempty"`
}

// CreateDB declares a database (tenant). Creating an existing one succeeds.
type CreateDB struct {
	Name string `json:"name"`
}

// ResealKey replaces a key's Secret with the same key material sealed
// anew (under a rotated seal secret, or sealed for the first time after an
// upgrade). The FSM cannot check that the material is the same — Secret
// is opaque here — so auth builds it; From is the SHA-256 of the Secret it
// replaces, so a reseal computed against a state that has since changed
// (a retry, a restore, a second leader's reseal) is a no-op.
type ResealKey struct {
	Kid    string `json:"kid"`
	From   Digest `json:"from"`
	Secret []byte `json:"secret"`
}

// Type implementations.
func (CreateUser) Type() CmdType         { return TypeCreateUser }
func (UpdateUser) Type() CmdType         { return TypeUpdateUser }
func (DeleteUser) Type() CmdType         { return TypeDeleteUser }
func (CreateSession) Type() CmdType      { return TypeCreateSession }
func (RevokeSession) Type() CmdType      { return TypeRevokeSession }
func (RevokeUserSessions) Type() CmdType { return TypeRevokeUserSessions }
func (PurgeExpired) Type() CmdType       { return TypePurgeExpired }
func (RefreshSessions) Type() CmdType    { return TypeRefreshSessions }
func (LoginFailed) Type() CmdType        { return TypeLoginFailed }
func (ResetFailures) Type() CmdType      { return TypeResetFailures }
func (SetSettings) Type() CmdType        { return TypeSetSettings }
func (PutNode) Type() CmdType            { return TypePutNode }
func (RemoveNode) Type() CmdType         { return TypeRemoveNode }
func (PutKey) Type() CmdType             { return TypePutKey }
func (RetireKey) Type() CmdType          { return TypeRetireKey }
func (CreateDB) Type() CmdType           { return TypeCreateDB }
func (ResealKey) Type() CmdType          { return TypeResealKey }

// cmdSpec is what the package knows about one command type besides its
// struct: the name it goes by in metrics and messages, what it does to
// credentials already issued, how to make a zero value to decode into,
// and how to apply it.
type cmdSpec struct {
	name     string
	validity Validity
	new      func() Command
	apply    func(s *State, c Command) Result
}

// Validity is what a command can do to credentials already issued. It is
// a column of the command table, not a list kept elsewhere, because the
// revocation wait (cluster/apply.go, cluster/leases.go) is derived from it: a command that
// narrows validity is acknowledged only once every node holding a read
// lease has applied it or that lease has lapsed. A list in another package
// went stale twice (key revoke and client delete were acknowledged before
// lease holders stopped accepting them). The zero value is "undeclared",
// which the table test refuses, so a new row must say which it is.
type Validity uint8

const (
	// The zero value is undeclared: TestCommands_EveryTypeDeclaresValidity
	// refuses a row that leaves it.
	_ Validity = iota
	// Keeps: the command never ends, shortens or weakens a credential
	// (it adds one, or changes nothing a validation reads).
	Keeps
	// Narrows: the command may end, shorten or weaken a credential
	// (a session, a user's standing, a signing key, a service client, a
	// lifetime setting).
	Narrows
)

// Narrows reports whether entries of type t may narrow validity. A type
// this binary does not know narrows: waiting for lease holders costs a
// round trip, not waiting could cost a revocation.
func (t CmdType) Narrows() bool {
	sp := specOf(t)
	return sp == nil || sp.validity != Keeps
}

// EntryNarrows is CmdType.Narrows for an encoded log entry (one byte read).
func EntryNarrows(entry []byte) bool {
	return len(entry) > 0 && CmdType(entry[0]).Narrows()
}

// commands is the one list of command types, indexed by type number
// (Consul's registry): Decode, CmdType.String and State.apply all read it,
// so a new command is one row here plus its struct, Type method and applyX.
// Keyed array elements make a duplicate type number a compile error. The
// names are metric label values: renaming one breaks dashboards.
var commands = [...]cmdSpec{
	TypeCreateUser:         spec("create_user", Keeps, (*State).applyCreateUser),
	TypeUpdateUser:         spec("update_user", Narrows, (*State).applyUpdateUser),
	TypeDeleteUser:         spec("delete_user", Narrows, (*State).applyDeleteUser),
	TypeCreateSession:      spec("create_session", Keeps, (*State).applyCreateSession),
	TypeRevokeSession:      spec("revoke_session", Narrows, (*State).applyRevokeSession),
	TypeRevokeUserSessions: spec("revoke_user_sessions", Narrows, (*State).applyRevokeUserSessions),
	TypePurgeExpired:       spec("purge_expired", Narrows, (*State).applyPurgeExpired),
	TypeRefreshSessions:    spec("refresh_sessions", Keeps, (*State).applyRefreshSessions),
	TypeLoginFailed:        spec("login_failed", Keeps, (*State).applyLoginFailed),
	TypeResetFailures:      spec("reset_failures", Keeps, (*State).applyResetFailures),
	TypeSetSettings:        spec("set_settings", Narrows, (*State).applySetSettings),
	TypePutNode:            spec("put_node", Keeps, (*State).applyPutNode),
	TypeRemoveNode:         spec("remove_node", Keeps, (*State).applyRemoveNode),
	TypePutKey:             spec("put_key", Keeps, (*State).applyPutKey),
	TypeRetireKey:          spec("retire_key", Narrows, (*State).applyRetireKey),
	TypeCreateDB:           spec("create_db", Keeps, (*State).applyCreateDB),
	TypeResealKey:          spec("reseal_key", Keeps, (*State).applyResealKey),
	TypePutClient:          spec("put_client", Keeps, (*State).applyPutClient),
	TypeDeleteClient:       spec("delete_client", Narrows, (*State).applyDeleteClient),

	// Second factors (factors.go). None narrows: a use is decided by the
	// log, not by a node's copy, and a reset asks less of a login.
	TypeTOTPEnrol:        spec("totp_enrol", Keeps, (*State).applyTOTPEnrol),
	TypeTOTPConfirm:      spec("totp_confirm", Keeps, (*State).applyTOTPConfirm),
	TypeFactorUse:        spec("factor_use", Keeps, (*State).applyFactorUse),
	TypeSetRecoveryCodes: spec("set_recovery_codes", Keeps, (*State).applySetRecoveryCodes),
	TypeResetFactors:     spec("reset_factors", Keeps, (*State).applyResetFactors),
	TypePutChallenge:     spec("put_challenge", Keeps, (*State).applyPutChallenge),
	TypeTakeChallenge:    spec("take_challenge", Keeps, (*State).applyTakeChallenge),
	// A revoked app password is refused when a login's session is
	// applied (appPasswordGone), not by a node's copy; its delete ends
	// the sessions made with it, so it narrows: acknowledged only once
	// read-lease holders stopped accepting them.
	TypePutAppPassword:    spec("put_app_password", Keeps, (*State).applyPutAppPassword),
	TypeDeleteAppPassword: spec("delete_app_password", Narrows, (*State).applyDeleteAppPassword),
	// Events and webhooks (events.go, webhooks.go): 45–54.
	TypePutWebhook:      spec("put_webhook", Keeps, (*State).applyPutWebhook),
	TypeDeleteWebhook:   spec("delete_webhook", Keeps, (*State).applyDeleteWebhook),
	TypeAdvanceWebhooks: spec("advance_webhooks", Keeps, (*State).applyAdvanceWebhooks),
	// Passkeys (passkeys.go): 48–51. None narrows: every sign-in with a
	// passkey applies a PasskeyUse, which the log refuses once the key is
	// removed (as appPasswordGone), so no node's copy decides.
	TypePutPasskey:    spec("put_passkey", Keeps, (*State).applyPutPasskey),
	TypeRenamePasskey: spec("rename_passkey", Keeps, (*State).applyRenamePasskey),
	TypeDeletePasskey: spec("delete_passkey", Keeps, (*State).applyDeletePasskey),
	TypePasskeyUse:    spec("passkey_use", Keeps, (*State).applyPasskeyUse),
	// The cluster version (clusterformat.go).
	TypeSetClusterFormat: spec("set_cluster_format", Keeps, (*State).applySetClusterFormat),
	// Sealed values after a seal rotation (reseal.go): the same secrets.
	TypeResealValue: spec("reseal_value", Keeps, (*State).applyResealValue),
}

// spec builds a row of commands from a typed applyX (and the command's
// Validity, which every row must state), so that each applyX
// takes its own command type and the one type assertion lives here. A
// command of the right Type but the wrong Go type (a value where Decode
// makes pointers) is refused with ErrBadCommand, as the type switch this
// table replaced did.
func spec[T any, P interface {
	*T
	Command
}](name string, v Validity, apply func(*State, P) Result) cmdSpec {
	return cmdSpec{
		name:     name,
		validity: v,
		new:      func() Command { return P(new(T)) },
		apply: func(s *State, c Command) Result {
			p, ok := c.(P)
			if !ok {
				return fail(ErrBadCommand)
			}
			return apply(s, p)
		},
	}
}

// specOf returns the row for t, or nil when t is not a known type.
func specOf(t CmdType) *cmdSpec {
	if int(t) >= len(commands) || commands[t].new == nil {
		return nil
	}
	return &commands[t]
}

// String is the command's snake_case name ("create_user"), used as the
// metrics label; a type this binary does not know is "other", the label
// such entries were always counted under.
func (t CmdType) String() string {
	if sp := specOf(t); sp != nil {
		return sp.name
	}
	return "other"
}

// newCommand returns a zero command of type t, or nil when t is unknown.
func newCommand(t CmdType) Command {
	if sp := specOf(t); sp != nil {
		return sp.new()
	}
	return nil
}

// Decoding errors.
var (
	ErrEmptyEntry  = errors.New("fsm: empty log entry")
	ErrUnknownType = errors.New("fsm: unknown command type")
	ErrBadPayload  = errors.New("fsm: undecodable payload")
)

// Encode renders a command as a log entry: [type byte][JSON payload].
func Encode(c Command) ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("fsm: encode %T: %w", c, err)
	}
	out := make([]byte, 0, len(b)+1)
	out = append(out, byte(c.Type()))
	return append(out, b...), nil
}

// MustEncode is Encode for commands built from trusted values, where a
// failure is a programming error.
func MustEncode(c Command) []byte {
	b, err := Encode(c)
	if err != nil {
		panic(err)
	}
	return b
}

// Decode parses a log entry. An unknown type with IgnorableFlag set returns
// (nil, nil): the caller skips it. Any other failure is an error.
func Decode(entry []byte) (Command, error) {
	if len(entry) == 0 {
		return nil, ErrEmptyEntry
	}
	t := CmdType(entry[0])
	c := newCommand(t)
	if c == nil {
		if t&IgnorableFlag != 0 {
			return nil, nil
		}
		return nil, fmt.Errorf("%w %d", ErrUnknownType, t)
	}
	if err := json.Unmarshal(entry[1:], c); err != nil {
		return nil, fmt.Errorf("%w (type %d): %v", ErrBadPayload, t, err)
	}
	return c, nil
}

// MarshalText renders a digest as hex, for JSON payloads.
func (d Digest) MarshalText() ([]byte, error) {
	out := make([]byte, hex.EncodedLen(len(d)))
	hex.Encode(out, d[:])
	return out, nil
}

// UnmarshalText parses a hex digest.
func (d *Digest) UnmarshalText(b []byte) error {
	if hex.DecodedLen(len(b)) != len(d) {
		return fmt.Errorf("fsm: digest must be %d hex characters", 2*len(d))
	}
	_, err := hex.Decode(d[:], b)
	return err
}
