package cluster

import (
	"errors"

	"github.com/sessiond/sessiond/fsm"
)

// withinWriteFormat returns cmd in the form the cluster can take now: a
// write whose nonce needs fsm.FormatV3 goes without it while the cluster
// writes below that level (fsm.WithinFormat), rather than being refused.
// The level is the replicated one once the state holds it, else the
// minimum the members announce (format.go). Only commands that need a
// level pay for the look-up.
func (n *Node) withinWriteFormat(cmd fsm.Command) fsm.Command {
	if fsm.FormatNeeded(cmd) < fsm.FormatV3 {
		return cmd
	}
	level := fsm.CurrentFormat
	if cf := n.fsm.State().ClusterFormat(); cf.Set {
		level = cf.Level
	} else if l, _, err := n.ClusterFormat(); err == nil {
		level = l
	}
	return fsm.WithinFormat(cmd, level)
}

// formatRefused reports a write refused for its format, by the leader's
// gate before the log or by the replicated level in the FSM: either way
// nothing changed, so a form that needs less may be sent instead.
func formatRefused(err error) bool {
	return errors.Is(err, ErrUpgrading) || errors.Is(err, fsm.ErrFormatGated)
}
