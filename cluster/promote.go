package cluster

import (
	"context"
	"log/slog"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// Two background loops keep the membership honest without an operator:
//
//   - announceLoop: every node keeps its own fsm.Node record (API URL,
//     format) current, through the signed self-join, so the format gate
//     (format.go) learns that a restarted, upgraded member understands a
//     new format, and a node that moved its API URL is found again.
//     It compares local state only: an idle cluster writes nothing.
//   - promoteLoop: the leader promotes a non-voter that asked to vote
//     (fsm.Node.Promote) once it has caught up, as etcd's learners and
//     Consul's autopilot do. A joining member therefore never counts
//     towards the quorum before it can vote usefully, and one that never
//     answers stays a harmless non-voter.

// Promotion bounds: a non-voter is promoted after promoteChecks probes in
// a row, promoteInterval apart, each finding it within promoteMaxLag
// entries of the leader's applied index.
const (
	promoteInterval = 250 * time.Millisecond
	promoteChecks   = 3
	promoteMaxLag   = 64
	probeTimeout    = time.Second
	announceEvery   = 500 * time.Millisecond
)

// format is the level this node announces.
func (n *Node) format() int {
	if n.cfg.claimFormat != nil {
		return *n.cfg.claimFormat
	}
	return fsm.CurrentFormat
}

// selfMeta is this node's record as it should be, keeping the Promote
// wish the cluster holds for it.
func (n *Node) selfMeta() fsm.Node {
	self := fsm.Node{ID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIAddr: n.cfg.APIURL, Format: n.format()}
	if meta, ok := n.fsm.State().Node(self.ID); ok {
		self.Promote = meta.Promote
	}
	return self
}

// announceLoop refreshes this node's own record while it is a member and
// the record is stale.
func (n *Node) announceLoop() {
	log, last := n.membershipLog(), ""
	n.every(announceEvery, func() {
		self := n.selfMeta()
		if meta, ok := n.fsm.State().Node(self.ID); ok && meta == self {
			return
		}
		if !n.isMember() || !n.readyTermOrFollower() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.ApplyTimeout)
		defer cancel()
		err := n.join(ctx, JoinRequest{ID: self.ID, RaftAddr: self.RaftAddr, APIURL: self.APIAddr,
			NonVoter: !self.Promote, Self: true, Format: self.Format})
		switch {
		case err == nil:
			last = ""
		case !n.closing.Load() && err.Error() != last: // once per distinct failure, not every tick
			last = err.Error()
			log.Warn("announcing this node's record failed", "err", err)
		}
	})
}

// membershipLog is the loops' logger: the node's log output, as slog.
func (n *Node) membershipLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(n.cfg.logOutput(), nil)).With("component", "membership", "node", n.cfg.NodeID)
}

// readyTermOrFollower: a leader announces only once its term is ready
// (becomeLeader puts its record then), a follower once it knows a leader.
func (n *Node) readyTermOrFollower() bool {
	if n.raft.State() == raft.Leader {
		return n.readyTerm.Load() == n.raft.CurrentTerm()
	}
	_, id := n.raft.LeaderWithID()
	return id != ""
}

// isMember reports whether this node is in its own view of the
// configuration.
func (n *Node) isMember() bool {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return false
	}
	for _, s := range cf.Configuration().Servers {
		if string(s.ID) == n.cfg.NodeID {
			return true
		}
	}
	return false
}

// promoteLoop runs on every node and acts while it leads. streak counts,
// per non-voter, the probes in a row that found it caught up; it starts
// over whenever this node is not the leader.
func (n *Node) promoteLoop() {
	streak, log := map[raft.ServerID]int{}, n.membershipLog()
	n.every(promoteInterval, func() {
		if n.raft.State() != raft.Leader || n.readyTerm.Load() != n.raft.CurrentTerm() {
			clear(streak)
			return
		}
		defer n.promoteRounds.Add(1)
		cf := n.raft.GetConfiguration()
		if cf.Error() != nil {
			return
		}
		seen := map[raft.ServerID]bool{}
		for _, s := range cf.Configuration().Servers {
			meta, ok := n.fsm.State().Node(string(s.ID))
			if s.Suffrage != raft.Nonvoter || !ok || !meta.Promote {
				continue
			}
			seen[s.ID] = true
			if !n.caughtUp(s, meta) {
				streak[s.ID] = 0
				continue
			}
			if streak[s.ID]++; streak[s.ID] < promoteChecks {
				continue
			}
			f := n.raft.AddVoter(s.ID, s.Address, cf.Index(), n.cfg.ApplyTimeout)
			if err := f.Error(); err != nil {
				log.Warn("promoting caught-up non-voter failed", "node_id", string(s.ID), "err", err)
				continue
			}
			log.Info("promoted caught-up non-voter to voter", "node_id", string(s.ID))
			delete(streak, s.ID)
			return // the configuration changed: the next tick reads it again
		}
		for id := range streak {
			if !seen[id] {
				delete(streak, id)
			}
		}
	})
}

// caughtUp asks the member, at its Raft address over the authenticated
// channel (peerhttp.go), for its applied index and compares it with the
// leader's. Only the member itself counts: the answer must name its id and
// Raft address, and it must have applied something. A member that does not
// answer is not caught up.
func (n *Node) caughtUp(s raft.Server, meta fsm.Node) bool {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var out appliedAnswer
	if err := n.call(ctx, string(s.ID), string(s.Address), "/internal/v1/applied?index=0", nil, &out); err != nil {
		return false
	}
	if out.NodeID != string(s.ID) || out.RaftAddr != string(s.Address) || out.Applied == 0 {
		return false
	}
	return out.Applied+promoteMaxLag >= n.fsm.AppliedIndex()
}
