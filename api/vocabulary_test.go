package api

import (
	"errors"
	"testing"

	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// One failure has one name from the FSM through the forwarding hop to the
// API: every fsm and cluster sentinel is answered with the code its own
// package gives it on the hop.
func TestErrorVocabulary_HopCodesAreAPICodes(t *testing.T) {
	fsmErrs := []error{fsm.ErrUserExists, fsm.ErrUserNotFound, fsm.ErrUserDisabled, fsm.ErrSessionNotFound,
		fsm.ErrSessionConflict, fsm.ErrSessionLimit, fsm.ErrStaleUser, fsm.ErrKeyNotFound, fsm.ErrKeyExists, fsm.ErrBadCommand}
	for _, e := range fsmErrs {
		if got, want := lookupError(e).code, fsm.ErrorCode(e); got != want || want == "" {
			t.Errorf("%v: API code %q, hop code %q", e, got, want)
		}
		// The hop carries a Result code; reading it back gives the sentinel.
		if back := (fsm.Result{Code: fsm.ErrorCode(e)}).Err(); !errors.Is(back, e) {
			t.Errorf("%v: code %q reads back as %v", e, fsm.ErrorCode(e), back)
		}
	}
	clusterErrs := []error{cluster.ErrConfig, cluster.ErrBadLevel, cluster.ErrNoLeader, cluster.ErrNotLeader,
		cluster.ErrTimeout, cluster.ErrShutdown, cluster.ErrUnauthorized, cluster.ErrForward, cluster.ErrNotCaughtUp,
		cluster.ErrUnknownNode, cluster.ErrBadBackup, cluster.ErrMemberExists, cluster.ErrUpgrading}
	for _, e := range clusterErrs {
		if got, want := lookupError(e).code, cluster.ErrorCode(e); got != want {
			t.Errorf("%v: API code %q, hop code %q", e, got, want)
		}
	}
	// A result code from a binary before the one vocabulary still reads.
	if !errors.Is(fsm.Result{Code: "stale_user"}.Err(), fsm.ErrStaleUser) {
		t.Error("legacy stale_user code not read")
	}
}

// Each code is in the table once with one status, so a client can rely on
// the code alone.
func TestErrorVocabulary_OneStatusPerCode(t *testing.T) {
	seen := map[string]int{}
	for _, row := range errorTable {
		if st, ok := seen[row.code]; ok && st != row.status {
			t.Errorf("code %q has statuses %d and %d", row.code, st, row.status)
		}
		seen[row.code] = row.status
	}
}
