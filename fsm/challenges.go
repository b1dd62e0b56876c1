package fsm

import "sort"

// Challenges are short-lived, single-use entries of a sign-in in
// progress (issue 26): a portal sign-in whose password is verified and
// whose second factor is not yet, or a WebAuthn ceremony between begin
// and finish. They live in the replicated state, not in a node's memory,
// so the step begun on one node finishes on any other; taking one goes
// through the log, so it finishes once: a replayed finish finds it gone.

// recChallenges is the snapshot record of one challenge (records 12–15
// are second factors').
const recChallenge byte = 13

// MaxChallengesPerUser bounds the challenges one user holds: a sign-in
// page reloaded in a loop must not grow every replica's state. At the
// bound the oldest goes.
const MaxChallengesPerUser = 8

// ChallengePasskeyLogin is the kind of a passwordless sign-in begun
// before anyone is known (a discoverable credential names its user only
// at the finish): its challenge has UserID 0, and such challenges share
// MaxAnonChallenges instead of a user's bound (passkeys.go).
const ChallengePasskeyLogin = "webauthn_login"

// MaxAnonChallenges bounds the challenges of no user: a flood of begins
// evicts the oldest, never grows the state past this.
const MaxAnonChallenges = 1024

// Challenge is one pending step. ID is the SHA-256 of the secret the
// browser (or client) holds; the secret itself is never stored.
type Challenge struct {
	ID      Digest `json:"id"`
	UserID  uint64 `json:"user_id"`
	Kind    string `json:"kind"`           // "portal_2fa", "webauthn_register", "webauthn_login"
	Data    []byte `json:"data,omitempty"` // the step's own state (rd, a ceremony's session data)
	Created int64  `json:"created"`
	Expires int64  `json:"expires"`
}

// PutChallenge stores a challenge, dropping the expired ones (at Created,
// the command's own clock) and the user's oldest beyond the bound.
type PutChallenge struct {
	Challenge Challenge `json:"challenge"`
}

// TakeChallenge removes a challenge that is live at Now: Count 1 when it
// was taken by this command, ErrChallengeGone when it was already taken,
// never existed or has expired.
type TakeChallenge struct {
	ID  Digest `json:"id"`
	Now int64  `json:"now"`
	// Nonce makes a node's retry answer as the take it repeats did
	// (once.go): without it, a finish whose first copy took the step
	// would be refused as challenge_gone.
	Nonce string `json:"nonce,omitempty"`
}

func (PutChallenge) Type() CmdType  { return TypePutChallenge }
func (TakeChallenge) Type() CmdType { return TypeTakeChallenge }

func (s *State) applyPutChallenge(c *PutChallenge) Result {
	ch := c.Challenge
	limit := MaxChallengesPerUser
	if ch.UserID == 0 && ch.Kind == ChallengePasskeyLogin {
		limit = MaxAnonChallenges
	} else if _, ok := s.users[ch.UserID]; !ok {
		return fail(ErrUserNotFound)
	}
	if ch.Expires <= ch.Created {
		return fail(ErrBadCommand)
	}
	if s.challenges == nil {
		s.challenges = make(map[Digest]*Challenge)
	}
	var mine []*Challenge
	for id, old := range s.challenges {
		switch {
		case old.Expires <= ch.Created:
			delete(s.challenges, id)
		case old.UserID == ch.UserID:
			mine = append(mine, old)
		}
	}
	if len(mine) >= limit {
		sort.Slice(mine, func(i, j int) bool {
			if mine[i].Created != mine[j].Created {
				return mine[i].Created < mine[j].Created
			}
			return string(mine[i].ID[:]) < string(mine[j].ID[:])
		})
		for _, old := range mine[:len(mine)-limit+1] {
			delete(s.challenges, old.ID)
		}
	}
	s.challenges[ch.ID] = &ch
	return Result{UserID: ch.UserID, Count: 1}
}

func (s *State) applyTakeChallenge(c *TakeChallenge) Result {
	ch, ok := s.challenges[c.ID]
	if !ok {
		return fail(ErrChallengeGone)
	}
	delete(s.challenges, c.ID)
	if ch.Expires <= c.Now {
		return fail(ErrChallengeGone)
	}
	return Result{UserID: ch.UserID, Count: 1}
}

// Challenge returns a live challenge by id (nil when absent); the value
// must not be modified.
func (s *State) Challenge(id Digest) *Challenge {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.challenges[id]
}
