package auth

import (
	"context"
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/sessiond/sessiond/fsm"
)

// Passkeys (fsm passkeys.go): the replicated side of WebAuthn. The
// ceremonies themselves (options, attestation and assertion checks) are
// the API's, with go-webauthn; what the cluster must agree on goes
// through here: which credentials a user has, and that each use moves a
// counting key's signature counter forward, in log order.

// Passkey errors.
var (
	// ErrBadPasskeyName: a name longer than 64 bytes or not text.
	ErrBadPasskeyName = errors.New("auth: a passkey name is at most 64 characters of text")
	// ErrPasskeyCloned: the key's signature counter did not move forward;
	// the key may have been copied. The sign-in is refused.
	ErrPasskeyCloned = errors.New("auth: this passkey's signature counter went backwards; it may have been copied")
	// ErrPasskeyUnknown: no such passkey (removed, or not the user's).
	ErrPasskeyUnknown = errors.New("auth: unknown passkey")
	// ErrPasskeyExists: the credential is registered already.
	ErrPasskeyExists = errors.New("auth: this passkey is registered already")
	// ErrPasskeyLimit: the account holds fsm.MaxPasskeys already.
	ErrPasskeyLimit = errors.New("auth: too many passkeys on this account")
)

// CheckPasskeyName trims a passkey's name and checks it ("" is allowed:
// the API names it).
func CheckPasskeyName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if len(name) > fsm.MaxPasskeyNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", ErrBadPasskeyName
	}
	return name, nil
}

// Passkeys lists uid's passkeys (public material only).
func (s *Service) Passkeys(uid uint64) []fsm.Passkey {
	if p := s.node.State().Passkeys(uid); p != nil {
		return p.Keys
	}
	return nil
}

// AddPasskey stores a verified credential for uid and returns the time
// it records as the key's creation.
func (s *Service) AddPasskey(ctx context.Context, uid uint64, pk fsm.Passkey) (int64, error) {
	pk.Created = s.cfg.Now().UnixNano()
	_, err := s.node.Apply(ctx, &fsm.PutPasskey{UserID: uid, Passkey: pk})
	return pk.Created, passkeyErr(err)
}

// RenamePasskey renames one of uid's passkeys; false when it is not there.
func (s *Service) RenamePasskey(ctx context.Context, uid uint64, id []byte, name string) (bool, error) {
	name, err := CheckPasskeyName(name)
	if err != nil {
		return false, err
	}
	res, err := s.node.Apply(ctx, &fsm.RenamePasskey{UserID: uid, ID: id, Name: name})
	return res.Count == 1, err
}

// RemovePasskey removes one of uid's passkeys; false when it was not there.
func (s *Service) RemovePasskey(ctx context.Context, uid uint64, id []byte) (bool, error) {
	res, err := s.node.Apply(ctx, &fsm.DeletePasskey{UserID: uid, ID: id})
	return res.Count == 1, err
}

// PasskeyOwner finds the live user uid and its credential id, catching
// up first when this node has not applied them (registered on another
// node a moment ago). A disabled or unknown user, or a credential that is
// not the user's, is ErrPasskeyUnknown.
func (s *Service) PasskeyOwner(ctx context.Context, uid uint64, id []byte) (*fsm.User, *fsm.Passkey, error) {
	find := func() (*fsm.User, *fsm.Passkey) {
		u, ok := s.node.State().User(uid)
		if !ok {
			return nil, nil
		}
		return u, s.node.State().Passkeys(uid).Find(id)
	}
	u, pk := find()
	if pk == nil {
		if err := s.node.Sync(ctx); err != nil {
			return nil, nil, err
		}
		u, pk = find()
	}
	if pk == nil || u.Disabled {
		return nil, nil, ErrPasskeyUnknown
	}
	return u, pk, nil
}

// PasskeyLogin makes a session for u from a verified assertion of its
// credential id: the use (the new sign count) goes through the log
// first, which refuses a count that did not move forward and a key
// removed meanwhile, on whichever node the assertion arrived.
func (s *Service) PasskeyLogin(ctx context.Context, u *fsm.User, id []byte, signCount uint32, o SessionOptions) (Issued, error) {
	if err := s.UsePasskey(ctx, u.ID, id, signCount); err != nil {
		return Issued{}, err
	}
	iss, err := s.CreateSession(ctx, u, o)
	if errors.Is(err, fsm.ErrStaleUser) {
		err = ErrPasskeyUnknown // disabled or its password changed meanwhile
	}
	return iss, err
}

// UsePasskey records a verified assertion of uid's credential id: the
// log refuses a sign count that did not move forward (ErrPasskeyCloned)
// and a key removed meanwhile (ErrPasskeyUnknown).
func (s *Service) UsePasskey(ctx context.Context, uid uint64, id []byte, signCount uint32) error {
	_, err := s.node.Apply(ctx, &fsm.PasskeyUse{UserID: uid, ID: id, SignCount: signCount, Now: s.cfg.Now().UnixNano()})
	return passkeyErr(err)
}

// passkeyErr maps the log's refusals to this package's errors.
func passkeyErr(err error) error {
	switch {
	case errors.Is(err, fsm.ErrSignCount):
		return ErrPasskeyCloned
	case errors.Is(err, fsm.ErrNoPasskey):
		return ErrPasskeyUnknown
	case errors.Is(err, fsm.ErrPasskeyExists):
		return ErrPasskeyExists
	case errors.Is(err, fsm.ErrPasskeyLimit):
		return ErrPasskeyLimit
	}
	return err
}
