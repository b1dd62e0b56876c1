package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond/fsm"
)

// exitUnreadable is the status of a node that met a log entry its binary
// cannot read (sysexits' EX_CONFIG): restarting the same binary would
// meet the same entry, so the systemd unit lists it in
// RestartPreventExitStatus= and the node stays down, saying why, instead
// of a panic loop.
const exitUnreadable = 78

// stopUnreadable is the FSM's OnUnreadable hook: it logs which binary met
// what, prints the same to stderr and exits with exitUnreadable. It runs
// on Raft's apply goroutine, where nothing else may happen first: an
// entry skipped would make this replica diverge.
func stopUnreadable(log *slog.Logger, b buildInfo) func(error) {
	return func(err error) {
		msg := fmt.Sprintf("sessiond %s (commit %s) stops: %v", b.Version, b.Commit, err)
		log.Error("stopping: a log entry this binary cannot read", "version", b.Version, "commit", b.Commit,
			"log_format", fsm.CurrentFormat, "snapshot_version", fsm.SnapshotVersion, "err", err, "exit_code", exitUnreadable)
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(exitUnreadable)
	}
}
