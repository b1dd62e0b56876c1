package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// The replicated cluster level (fsm/clusterformat.go) moves here:
//
//   - up: the leader raises it (fsm.SetClusterFormat) to the lowest
//     format the members of the configuration announce, once that is at
//     least fsm.FormatV3 (the first level with a record) and above the
//     current level, when it takes office and then every announceEvery
//     (formatLoop), unless an operator pinned it with a downgrade;
//   - down: Downgrade, on an operator's `sessiond cluster downgrade --to
//     N`, refused while the state holds data a level-N binary would drop.
//     Every member then takes a Raft snapshot past the downgrade entry
//     (formatLoop), so that an older binary started on its data dir
//     restores that snapshot and never replays the newer entries before
//     it: `sessiond status` shows each member's snapshot index.

// raiseFormat proposes the next level when every member supports it. It
// runs on the leader; a refusal (a member announced less meanwhile) is
// retried at the next tick.
func (n *Node) raiseFormat(ctx context.Context) {
	st := n.fsm.State()
	cur := st.ClusterFormat()
	if cur.Downgrade {
		return
	}
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	announced, _, _ := clusterFormat(cf.Configuration().Servers, st, fsm.CurrentFormat)
	if announced < fsm.FormatV3 || (cur.Set && cur.Level >= announced) {
		return
	}
	if _, err := n.Apply(ctx, &fsm.SetClusterFormat{Level: announced}); err != nil && !n.closing.Load() {
		n.membershipLog().Warn("raising the cluster's log format failed; retrying", "to", announced, "err", err)
	}
}

// formatLoop raises the level on the leader, and on every node takes the
// snapshot a downgrade asks for.
func (n *Node) formatLoop() {
	var snapped uint64 // the downgrade index this node has snapshotted past
	n.every(announceEvery, func() {
		if n.raft.State() == raft.Leader && n.readyTerm.Load() == n.raft.CurrentTerm() {
			ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
			n.raiseFormat(ctx)
			cancel()
		}
		cf := n.fsm.State().ClusterFormat()
		if !cf.Downgrade || cf.Index <= snapped || n.lastSnapshotIndex() >= cf.Index {
			return
		}
		err := n.raft.Snapshot().Error()
		if err == nil || errors.Is(err, raft.ErrNothingNewToSnapshot) {
			snapped = cf.Index
			return
		}
		n.membershipLog().Warn("snapshot after a downgrade failed; retrying", "err", err)
	})
}

// lastSnapshotIndex is the index of this node's newest Raft snapshot.
func (n *Node) lastSnapshotIndex() uint64 {
	i, _ := strconv.ParseUint(n.raft.Stats()["last_snapshot_index"], 10, 64)
	return i
}

// Downgrade lowers the cluster's level to level and pins it there (the
// leader no longer raises it), or with cancel lifts the pin and raises it
// to what every member supports. Any node accepts it; the write goes
// through the leader like any other. It returns the level now in force.
func (n *Node) Downgrade(ctx context.Context, level int, cancel bool) (fsm.ClusterFormat, error) {
	st := n.fsm.State()
	cmd := &fsm.SetClusterFormat{Level: level, Downgrade: true}
	if cancel {
		cmd = &fsm.SetClusterFormat{Level: fsm.CurrentFormat}
	} else {
		if level < fsm.MinDowngrade || level > fsm.CurrentFormat {
			return st.ClusterFormat(), fmt.Errorf("%w: log format %d: a downgrade goes to %d (0.3.0) up to %d (this binary); "+
				"older releases cannot be rolled back to (docs/COMPATIBILITY.md)", ErrConfig, level, fsm.MinDowngrade, fsm.CurrentFormat)
		}
		if need, what := st.StateFormatNeeded(); need > level {
			return st.ClusterFormat(), fmt.Errorf("%w: it needs log format %d: %s", fsm.ErrFormatInUse, need, what)
		}
	}
	res, err := n.Apply(ctx, cmd)
	if errors.Is(err, fsm.ErrFormatInUse) {
		_, what := n.fsm.State().StateFormatNeeded()
		err = fmt.Errorf("%w: %s", err, what)
	}
	if err != nil {
		return n.fsm.State().ClusterFormat(), err
	}
	n.waitApplied(ctx, res.Index)
	return n.fsm.State().ClusterFormat(), nil
}

// waitApplied waits (bounded by ctx) until this node has applied index,
// so that the answer reads the level just written.
func (n *Node) waitApplied(ctx context.Context, index uint64) {
	for n.fsm.AppliedIndex() < index && n.pause(ctx) {
	}
}

// FormatStatus is the cluster version part of GET /v1/cluster: what this
// binary understands, the replicated level and this node's newest
// snapshot (which must be past a downgrade before an older binary runs
// on its data dir).
type FormatStatus struct {
	Format         int    `json:"format"`           // the log format this binary understands and announces
	SnapshotFormat int    `json:"snapshot_format"`  // the snapshot version it writes
	ClusterLevel   int    `json:"cluster_level"`    // the level writes are gated by, as this node sees it
	LevelSet       bool   `json:"level_set"`        // false: derived from the announcements (no record yet)
	Downgraded     bool   `json:"downgraded"`       // pinned by `sessiond cluster downgrade`
	LevelIndex     uint64 `json:"level_index"`      // the entry that set it
	SnapshotIndex  uint64 `json:"snapshot_index"`   // this node's newest Raft snapshot
	MemberFormats  []int  `json:"member_formats"`   // each member's announced format, in Members' order
	NeedsFormat    int    `json:"state_needs"`      // the lowest level the state can be downgraded to
	NeedsWhat      string `json:"state_needs_what"` // what holds it
}

// formatStatus fills FormatStatus for Status, given the configuration's
// members in the order Status lists them.
func (n *Node) formatStatus(members []Member) FormatStatus {
	st := n.fsm.State()
	cf := st.ClusterFormat()
	fs := FormatStatus{Format: n.format(), SnapshotFormat: fsm.SnapshotVersion, LevelSet: cf.Set,
		Downgraded: cf.Downgrade, LevelIndex: cf.Index, SnapshotIndex: n.lastSnapshotIndex()}
	announced := fsm.CurrentFormat
	for _, m := range members {
		f := fsm.FormatBase
		if meta, ok := st.Node(m.ID); ok {
			f = meta.Format
		}
		fs.MemberFormats = append(fs.MemberFormats, f)
		announced = min(announced, f)
	}
	fs.ClusterLevel = gateLevel(cf, announced)
	fs.NeedsFormat, fs.NeedsWhat = st.StateFormatNeeded()
	return fs
}

// checkJoinFormat refuses a new member whose binary could not read the
// log: once the replicated level has been set, the log may hold
// SetClusterFormat entries (FormatV3) and entries up to the level, and a
// new member replays the log from its start. A member already in the
// configuration may come back on an older binary after a downgrade (its
// data dir holds a snapshot past the downgrade), and an operator's join
// names no format (the node announces it itself when it starts).
func (n *Node) checkJoinFormat(req JoinRequest, known bool) error {
	cf := n.fsm.State().ClusterFormat()
	if known || !req.Self || !cf.Set {
		return nil
	}
	if need := max(cf.Level, fsm.FormatV3); req.Format < need {
		return fmt.Errorf("%w: node %s runs a binary of log format %d; this cluster's log needs format %d "+
			"(its level, set at index %d): join with a newer binary (docs/COMPATIBILITY.md)",
			ErrConfig, req.ID, req.Format, need, cf.Index)
	}
	return nil
}
