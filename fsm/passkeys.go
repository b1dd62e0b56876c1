package fsm

import (
	"bytes"
	"errors"
	"slices"
)

// Passkeys (issue 26): a user's WebAuthn credentials. They live in their
// own record (recPasskeys), keyed by user id, beside Factors: a passkey
// is both a way to sign in without a password and a second factor, and
// keeping it apart leaves the TOTP record and its one-time logic alone.
//
// Only public material is stored: the credential id and its COSE public
// key (a passkey's private key never leaves the authenticator). What the
// log decides is the sign count: a use names the count the authenticator
// reported, and a count that does not move forward (for an authenticator
// that counts at all) is refused here, in log order, so two nodes that
// verified assertions of a cloned key at the same instant cannot both
// accept them.

// Command types of passkeys (portal: 48–51).
const (
	TypePutPasskey    CmdType = 48
	TypeRenamePasskey CmdType = 49
	TypeDeletePasskey CmdType = 50
	TypePasskeyUse    CmdType = 51
)

// recPasskeys is the snapshot record of one user's passkeys (record 14),
// written only for users that have any.
const recPasskeys byte = 14

// MaxPasskeys bounds a user's passkeys (each holds a public key of up to
// MaxPasskeyKeyLen bytes in every replica).
const MaxPasskeys = 20

// Bounds of a stored credential: WebAuthn allows credential ids of up to
// 1023 bytes; a COSE EC2 or RSA-2048 key is well under 512.
const (
	MaxPasskeyIDLen   = 1023
	MaxPasskeyKeyLen  = 2048
	MaxPasskeyNameLen = 64
)

// Passkey is one WebAuthn credential. Immutable once stored.
type Passkey struct {
	// ID is the credential id the authenticator chose (raw bytes).
	ID []byte `json:"id"`
	// PublicKey is the credential's COSE_Key, as attested.
	PublicKey []byte `json:"public_key"`
	// SignCount is the highest signature counter seen (0: the
	// authenticator does not count, as most synced passkeys).
	SignCount uint32 `json:"sign_count,omitempty"`
	AAGUID    []byte `json:"aaguid,omitempty"`
	// Transports are the authenticator's hints ("usb", "internal", ...).
	Transports []string `json:"transports,omitempty"`
	// Flags are the authenticator data flags at registration (backup
	// eligibility must not change later: go-webauthn checks it).
	Flags    uint8  `json:"flags,omitempty"`
	AttType  string `json:"att_type,omitempty"` // attestation type ("none")
	Name     string `json:"name"`
	Created  int64  `json:"created"`
	LastUsed int64  `json:"last_used,omitempty"`
}

// Passkeys is one user's credentials.
type Passkeys struct {
	UserID uint64    `json:"user_id"`
	Keys   []Passkey `json:"keys"`
}

// Find returns the credential with raw id, or nil.
func (p *Passkeys) Find(id []byte) *Passkey {
	if p == nil {
		return nil
	}
	for i := range p.Keys {
		if bytes.Equal(p.Keys[i].ID, id) {
			return &p.Keys[i]
		}
	}
	return nil
}

// PutPasskey adds a credential to a user (at most MaxPasskeys). A
// credential id already registered (to anyone) is refused, except a
// retry of the same credential for the same user, which succeeds again.
type PutPasskey struct {
	UserID  uint64  `json:"user_id"`
	Passkey Passkey `json:"passkey"`
}

// RenamePasskey changes a credential's name; Count 0 when it is not there.
type RenamePasskey struct {
	UserID uint64 `json:"user_id"`
	ID     []byte `json:"id"`
	Name   string `json:"name"`
}

// DeletePasskey removes a credential; Count 0 when it was not there.
type DeletePasskey struct {
	UserID uint64 `json:"user_id"`
	ID     []byte `json:"id"`
}

// PasskeyUse records a verified assertion: the credential's new sign
// count. ErrSignCount when the count did not move forward (a clone), and
// ErrNoPasskey when the credential was removed meanwhile.
type PasskeyUse struct {
	UserID    uint64 `json:"user_id"`
	ID        []byte `json:"id"`
	SignCount uint32 `json:"sign_count"`
	Now       int64  `json:"now"`
}

func (PutPasskey) Type() CmdType    { return TypePutPasskey }
func (RenamePasskey) Type() CmdType { return TypeRenamePasskey }
func (DeletePasskey) Type() CmdType { return TypeDeletePasskey }
func (PasskeyUse) Type() CmdType    { return TypePasskeyUse }

// Passkey failures of Apply.
var (
	// ErrPasskeyExists: the credential id is registered already.
	ErrPasskeyExists = errors.New("fsm: this passkey is registered already")
	// ErrNoPasskey: no such credential (removed, or never the user's).
	ErrNoPasskey = errors.New("fsm: no such passkey")
	// ErrSignCount: the authenticator's signature counter did not move
	// forward: the key may have been cloned.
	ErrSignCount = errors.New("fsm: passkey signature counter went backwards")
	// ErrPasskeyLimit: the user has MaxPasskeys already.
	ErrPasskeyLimit = errors.New("fsm: too many passkeys")
)

func init() {
	errCodes[ErrPasskeyExists] = "passkey_exists"
	errCodes[ErrNoPasskey] = "no_passkey"
	errCodes[ErrSignCount] = "passkey_sign_count"
	errCodes[ErrPasskeyLimit] = "passkey_limit"
}

// SignCountOK is WebAuthn §7.2 step 21 (go-webauthn's UpdateCounter): a
// new count must exceed the stored one unless both are zero (an
// authenticator that does not count).
func SignCountOK(stored, got uint32) bool {
	return got > stored || (got == 0 && stored == 0)
}

func validPasskey(p *Passkey) bool {
	return len(p.ID) > 0 && len(p.ID) <= MaxPasskeyIDLen && len(p.PublicKey) > 0 &&
		len(p.PublicKey) <= MaxPasskeyKeyLen && len(p.Name) <= MaxPasskeyNameLen
}

// passkeysFor returns a copy of uid's record to modify.
func (s *State) passkeysFor(uid uint64) Passkeys {
	if p, ok := s.passkeys[uid]; ok {
		return Passkeys{UserID: uid, Keys: slices.Clone(p.Keys)}
	}
	return Passkeys{UserID: uid}
}

func (s *State) putPasskeys(p Passkeys) {
	if len(p.Keys) == 0 {
		delete(s.passkeys, p.UserID)
		return
	}
	if s.passkeys == nil {
		s.passkeys = make(map[uint64]*Passkeys)
	}
	s.passkeys[p.UserID] = &p
}

func (s *State) applyPutPasskey(c *PutPasskey) Result {
	if _, ok := s.users[c.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	if !validPasskey(&c.Passkey) {
		return fail(ErrBadCommand)
	}
	for uid, ps := range s.passkeys {
		if ps.Find(c.Passkey.ID) != nil {
			if uid == c.UserID {
				return Result{UserID: c.UserID, Count: len(ps.Keys)} // a retry
			}
			return fail(ErrPasskeyExists)
		}
	}
	p := s.passkeysFor(c.UserID)
	if len(p.Keys) >= MaxPasskeys {
		return fail(ErrPasskeyLimit)
	}
	p.Keys = append(p.Keys, c.Passkey)
	s.putPasskeys(p)
	return Result{UserID: c.UserID, Count: len(p.Keys)}
}

func (s *State) applyRenamePasskey(c *RenamePasskey) Result {
	if len(c.Name) > MaxPasskeyNameLen {
		return fail(ErrBadCommand)
	}
	p := s.passkeysFor(c.UserID)
	i := slices.IndexFunc(p.Keys, func(k Passkey) bool { return bytes.Equal(k.ID, c.ID) })
	if i < 0 {
		return Result{UserID: c.UserID}
	}
	p.Keys[i].Name = c.Name
	s.putPasskeys(p)
	return Result{UserID: c.UserID, Count: 1}
}

func (s *State) applyDeletePasskey(c *DeletePasskey) Result {
	p := s.passkeysFor(c.UserID)
	i := slices.IndexFunc(p.Keys, func(k Passkey) bool { return bytes.Equal(k.ID, c.ID) })
	if i < 0 {
		return Result{UserID: c.UserID}
	}
	p.Keys = slices.Delete(p.Keys, i, i+1)
	s.putPasskeys(p)
	return Result{UserID: c.UserID, Count: 1}
}

// applyPasskeyUse moves the sign count forward, or refuses: of two
// assertions with the same count (a replay, or a clone used on another
// node at the same instant), only the first in the log is accepted.
func (s *State) applyPasskeyUse(c *PasskeyUse) Result {
	p := s.passkeysFor(c.UserID)
	i := slices.IndexFunc(p.Keys, func(k Passkey) bool { return bytes.Equal(k.ID, c.ID) })
	if i < 0 {
		return fail(ErrNoPasskey)
	}
	if !SignCountOK(p.Keys[i].SignCount, c.SignCount) {
		return fail(ErrSignCount)
	}
	p.Keys[i].SignCount, p.Keys[i].LastUsed = c.SignCount, c.Now
	s.putPasskeys(p)
	return Result{UserID: c.UserID, Count: 1}
}

// Passkeys returns uid's passkeys, or nil when it has none. The value
// must not be modified.
func (s *State) Passkeys(uid uint64) *Passkeys {
	s.mu.RLock()
	p := s.passkeys[uid]
	s.mu.RUnlock()
	return p
}
