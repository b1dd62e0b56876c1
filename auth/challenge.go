package auth

import (
	"context"
	"errors"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// ErrChallengeGone: a sign-in step that was finished already, expired,
// or never begun; start the sign-in again.
var ErrChallengeGone = errors.New("auth: this sign-in step is over; start again")

// BeginChallenge stores a single-use sign-in step for uid (fsm
// challenges.go) and returns the secret its holder presents to finish
// it; only the secret's digest enters the log.
func (s *Service) BeginChallenge(ctx context.Context, uid uint64, kind string, data []byte, ttl time.Duration) (string, error) {
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UnixNano()
	_, err = s.node.Apply(ctx, &fsm.PutChallenge{Challenge: fsm.Challenge{
		ID: fsm.Digest(DigestToken(tok)), UserID: uid, Kind: kind, Data: data, Created: now, Expires: now + int64(ttl)}})
	if err != nil {
		return "", err
	}
	return tok, nil
}

// PeekChallenge finds a live step of kind by its secret without taking
// it (a wrong code on the second step leaves it usable). A node that has
// not applied the step yet (begun on another node) catches up first.
func (s *Service) PeekChallenge(ctx context.Context, tok, kind string) (*fsm.Challenge, error) {
	if !ValidTokenSyntax(tok, TokenLen) {
		return nil, ErrChallengeGone
	}
	id := fsm.Digest(DigestToken(tok))
	ch := s.node.State().Challenge(id)
	if ch == nil {
		if err := s.node.Sync(ctx); err != nil {
			return nil, err
		}
		ch = s.node.State().Challenge(id)
	}
	if ch == nil || ch.Kind != kind || ch.Expires <= s.cfg.Now().UnixNano() {
		return nil, ErrChallengeGone
	}
	return ch, nil
}

// TakeChallenge ends a step through the log: of two finishes of one
// step, on any nodes, one succeeds.
func (s *Service) TakeChallenge(ctx context.Context, tok string) error {
	_, err := s.node.Apply(ctx, &fsm.TakeChallenge{ID: fsm.Digest(DigestToken(tok)), Now: s.cfg.Now().UnixNano(), Nonce: requestID()})
	if errors.Is(err, fsm.ErrChallengeGone) {
		return ErrChallengeGone
	}
	return err
}
