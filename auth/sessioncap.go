package auth

import (
	"context"
	"errors"
	"sort"

	"github.com/sessiond/sessiond/fsm"
)

// capTries bounds how often CreateSession makes room and tries again when
// the leader still finds the user at the cap: logins of one user racing
// on several nodes, or a node whose state lags the leader's.
const capTries = 3

// knoxLimitReached reports whether knox's own TOKEN_LIMIT_PER_USER
// (Settings.TokenLimitPerUser) refuses a knox login of uid at now, counted
// as fsm counts it. That refusal is knox's contract when an operator sets
// the limit, so it is never turned into an eviction.
func knoxLimitReached(st *fsm.State, kind fsm.Kind, uid uint64, now int64) bool {
	lim := st.Settings().TokenLimitPerUser
	if lim <= 0 || kind != fsm.KindKnox {
		return false
	}
	n := 0
	for _, sess := range st.UserSessions(uid) {
		if sess.Kind == fsm.KindKnox && !sess.Expired(now) {
			n++
		}
	}
	return n >= lim
}

// leastRecentlyUsed returns the sessions of uid to end so that one more
// fits under the per-user cap (Settings.MaxSessionsPerUser) at now: the
// unexpired ones used longest ago, by LastRefresh, then Created, then ID
// (so every node picks alike from the same state). Expired sessions do
// not count against the cap (fsm counts alike) and are left to the purge.
func leastRecentlyUsed(st *fsm.State, uid uint64, now int64) []*fsm.Session {
	max := st.Settings().MaxSessionsPerUser
	if max <= 0 {
		return nil
	}
	var live []*fsm.Session
	for _, sess := range st.UserSessions(uid) {
		if !sess.Expired(now) {
			live = append(live, sess)
		}
	}
	if len(live) < max {
		return nil
	}
	sort.Slice(live, func(i, j int) bool {
		a, b := live[i], live[j]
		if a.LastRefresh != b.LastRefresh {
			return a.LastRefresh < b.LastRefresh
		}
		if a.Created != b.Created {
			return a.Created < b.Created
		}
		return a.ID < b.ID
	})
	return live[:len(live)-max+1]
}

// makeRoom ends, through the log, the sessions that stand between uid and
// one more session under the per-user cap, and returns them (for the
// caller's audit line). At the cap the least recently used session ends
// instead of the login being refused: a client that never logs out, or a
// thief with the password, must not lock the owner out of every dialect.
// Each end is an ordinary RevokeSession by digest, bound to the user, so
// a session already gone (ended meanwhile) is no error, and nothing new
// enters the log. Knox's own limit is left to refuse.
func (s *Service) makeRoom(ctx context.Context, kind fsm.Kind, uid uint64, now int64) ([]fsm.Session, error) {
	st := s.node.State()
	if knoxLimitReached(st, kind, uid, now) {
		return nil, nil
	}
	victims := leastRecentlyUsed(st, uid, now)
	if len(victims) > 0 {
		// Ending a session is final: choose from the leader's view, not
		// a lagging one (only logins at the cap pay this read index).
		if err := s.node.Sync(ctx); err != nil {
			return nil, err
		}
		if st = s.node.State(); knoxLimitReached(st, kind, uid, now) {
			return nil, nil
		}
		victims = leastRecentlyUsed(st, uid, now)
	}
	var ended []fsm.Session
	for _, sess := range victims {
		d := sess.Digest
		res, err := s.node.Apply(ctx, &fsm.RevokeSession{Digest: &d, UserID: uid})
		if err != nil {
			return ended, err
		}
		if res.Count > 0 {
			ended = append(ended, *sess)
		}
	}
	return ended, nil
}

// createCapped commits cmd, making room under the per-user cap first. A
// refusal at the cap (another login took the room, or this node's state
// lagged) is followed by a catch-up with the leader and another try, at
// most capTries times; knox's own limit is returned as is.
func (s *Service) createCapped(ctx context.Context, cmd *fsm.CreateSession) ([]fsm.Session, error) {
	in := cmd.Session
	var evicted []fsm.Session
	for try := 1; ; try++ {
		ended, err := s.makeRoom(ctx, in.Kind, in.UserID, in.Created)
		evicted = append(evicted, ended...)
		if err != nil {
			return evicted, err
		}
		_, err = s.node.Apply(ctx, cmd)
		if !errors.Is(err, fsm.ErrSessionLimit) || try == capTries ||
			knoxLimitReached(s.node.State(), in.Kind, in.UserID, in.Created) {
			return evicted, err
		}
		if err := s.node.Sync(ctx); err != nil {
			return evicted, err
		}
	}
}
