package auth

import (
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/fsm"
)

// budgetSpent reports whether the account's guess budget is spent at now
// for a client from network client: its replicated failures reached the
// threshold (fsm keeps the deadline in LockedUntil) and the client's
// network never logged in to the account. A known network is never
// refused because of failures others made.
func budgetSpent(u *fsm.User, client string, now time.Time) bool {
	return u.LockedUntil > now.UnixNano() && (client == "" || !u.Knows(client))
}

// guessCounters count password checks by outcome, for the operator: a
// rising "spent" is an account under a guessing attack that is being
// contained.
type guessCounters struct {
	ok, wrong, unknown, spent, throttled atomic.Uint64
}

// PasswordChecks are the login attempts this node answered since start,
// by outcome: ok, wrong (a real check that failed), unknown (no such
// login), budget_spent (refused unchecked: the account's guess budget is
// spent and the client is not known to it), throttled (the per-address
// limit, before any hashing).
func (s *Service) PasswordChecks() map[string]uint64 {
	g := &s.guesses
	return map[string]uint64{
		"ok": g.ok.Load(), "wrong": g.wrong.Load(), "unknown": g.unknown.Load(),
		"budget_spent": g.spent.Load(), "throttled": g.throttled.Load(),
	}
}
