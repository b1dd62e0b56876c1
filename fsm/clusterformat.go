package fsm

import (
	"errors"
	"fmt"
)

// The cluster's format level as replicated state (etcd's cluster
// version). Each member announces the level its binary understands
// (Node.Format); the level the cluster writes at is a separate, replicated
// number that only the leader moves:
//
//   - up, on its own, once every member of the configuration announces
//     the new level (cluster/format.go's formatLoop);
//   - down, only on an operator's `sessiond cluster downgrade --to N`,
//     which refuses while the state holds something a level-N binary
//     would drop (StateFormatNeeded), and pins the level there until
//     `--cancel`, so that the leader does not raise it again while older
//     binaries come back.
//
// The record is carried in the snapshot's meta record (an older binary
// ignores the JSON key), and written only once set, so snapshots of states
// without it are byte-identical to those of binaries before it.

// TypeSetClusterFormat moves the cluster's level (ver's range 60–63).
const TypeSetClusterFormat CmdType = 60

// SetClusterFormat sets the level every entry after it is gated by.
type SetClusterFormat struct {
	Level int `json:"level"`
	// Downgrade marks a level an operator lowered: the leader does not
	// raise it again on its own until a SetClusterFormat without it
	// (`sessiond cluster downgrade --cancel`).
	Downgrade bool `json:"downgrade,omitempty"`
}

// Type implements Command.
func (SetClusterFormat) Type() CmdType { return TypeSetClusterFormat }

// ClusterFormat is the replicated level. The zero value (Set false) is a
// state written before the record existed: cluster/format.go then derives
// the level from the members' announcements, as binaries before it did.
type ClusterFormat struct {
	Set       bool   `json:"set"`
	Level     int    `json:"level"`
	Downgrade bool   `json:"downgrade,omitempty"`
	Index     uint64 `json:"index"` // the log index that set it
}

// ErrFormatInUse refuses a downgrade below what the state holds;
// ErrFormatGated refuses a command that needs a higher level than the
// cluster's (a race with a downgrade: the leader's own check comes first).
var (
	ErrFormatInUse = errors.New("fsm: the state holds data a binary of that log format would drop")
	ErrFormatGated = errors.New("fsm: the cluster's log format level does not allow this command")
)

// The codes live here rather than in errCodes' literal so that this file
// is the one place the cluster version touches.
func init() {
	errCodes[ErrFormatInUse] = "format_in_use"
	errCodes[ErrFormatGated] = "format_gated"
}

// ClusterFormat returns the replicated level.
func (s *State) ClusterFormat() ClusterFormat {
	if p := s.clusterFormat.Load(); p != nil {
		return *p
	}
	return ClusterFormat{}
}

// stateFormats is the list of checks behind StateFormatNeeded: each
// reports the level a part of the state needs to survive on a binary, and
// what holds it (for the downgrade's refusal), or FormatBase. A feature
// that adds persisted state an older binary would drop, and whose loss
// would matter (a weaker sign-in, a silent stop), adds one function here (or registers it with FormatUses);
// each runs under s.mu's read lock. State that may be lost (sign-in steps
// in progress, remembered request ids) needs none.
var stateFormats = []func(s *State) (int, string){
	func(s *State) (int, string) {
		for _, u := range s.users {
			if u.Operator {
				return FormatOperator, fmt.Sprintf("user %q has the operator role (take it back first: sessiond user operator --revoke %s)", u.Login, u.Login)
			}
		}
		return FormatBase, ""
	},
	// totp: an older binary would drop second factors, and their users
	// would sign in with a password alone.
	func(s *State) (int, string) {
		for _, f := range s.factors {
			if len(f.TOTP) > 0 || len(f.TOTPPending) > 0 || len(f.Recovery) > 0 {
				return FormatV3, fmt.Sprintf("user %d has a second factor (an older binary would drop it: reset it first)", f.UserID)
			}
			if len(f.AppPasswords) > 0 {
				// An older binary would drop them and forget which
				// sessions they made (Session.AppPassword): revoking
				// them all first ends those sessions.
				return FormatV3, fmt.Sprintf("user %d has app passwords (an older binary would drop them: revoke them first)", f.UserID)
			}
		}
		return FormatBase, ""
	},
	// events: an older binary would drop webhook subscriptions silently.
	func(s *State) (int, string) {
		for id := range s.webhooks {
			return FormatV3, fmt.Sprintf("webhook %s is subscribed (an older binary would drop it: delete it first)", id)
		}
		return FormatBase, ""
	},
}

// FormatUses registers a state check for StateFormatNeeded, from an init
// function next to the state it checks (emailverify.go does).
func FormatUses(check func(s *State) (int, string)) { stateFormats = append(stateFormats, check) }

// MinDowngrade is the lowest level a downgrade may set: 0.3.0 (format 1)
// is the oldest release a rollback can reach (docs/COMPATIBILITY.md), and
// its binaries write FormatOperator fields with no record to check, so a
// record below that would have newer members refuse what they apply.
const MinDowngrade = FormatOperator

// StateFormatNeeded is the highest level any part of the state needs, and
// what holds it: a downgrade below it would have older binaries drop data.
func (s *State) StateFormatNeeded() (int, string) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stateFormatNeededLocked()
}

func (s *State) stateFormatNeededLocked() (int, string) {
	level, what := FormatBase, ""
	for _, check := range stateFormats {
		if lv, w := check(s); lv > level {
			level, what = lv, w
		}
	}
	return level, what
}

// applySetClusterFormat stores the level. Lowering it is refused while
// the state needs more, deterministically on every replica.
func (s *State) applySetClusterFormat(c *SetClusterFormat) Result {
	if c.Level < MinDowngrade {
		return fail(ErrBadCommand)
	}
	if cur := s.ClusterFormat(); !cur.Set || c.Level < cur.Level {
		if need, _ := s.stateFormatNeededLocked(); need > c.Level {
			return fail(ErrFormatInUse)
		}
	}
	s.clusterFormat.Store(&ClusterFormat{Set: true, Level: c.Level, Downgrade: c.Downgrade, Index: s.index})
	return Result{}
}

// gated reports whether c needs more than the replicated level allows.
// SetClusterFormat is never gated here (it is how the level rises; the
// leader checks the members' announcements before it proposes one).
func (s *State) gated(c Command) bool {
	cf := s.clusterFormat.Load()
	if cf == nil || c.Type() == TypeSetClusterFormat {
		return false
	}
	return FormatNeeded(c) > cf.Level
}

// UnreadableError is what Apply meets in an entry this binary cannot
// read: a command type it does not know, written by a newer binary.
type UnreadableError struct {
	Index uint64
	Err   error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("log entry %d: %v: it was written by a newer sessiond than this binary, which reads log "+
		"format %d and snapshot version %d. Run a binary that understands it (docs/COMPATIBILITY.md); "+
		"to roll a cluster back, lower its level first (sessiond cluster downgrade, docs/OPERATIONS.md \"Rollback\")",
		e.Index, e.Err, CurrentFormat, SnapshotVersion)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// SnapshotVersion is the snapshot format version this binary writes (and
// the highest it reads).
const SnapshotVersion = snapVersion
