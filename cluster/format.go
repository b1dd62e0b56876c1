package cluster

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/fsm"
)

// The format gate (DESIGN rule 11). A new log or snapshot format may be
// written only once every member understands it, or an older member would
// read it differently and its state would diverge. The design is etcd's
// cluster version, kept small:
//
//   - each node announces the level its binary understands
//     (fsm.CurrentFormat) in its own fsm.Node record: the leader when it
//     takes office (becomeLeader), every other node on start and whenever
//     its record is stale (announce.go);
//   - the leader computes the cluster's level as the minimum over the
//     servers of the current Raft configuration, voters and non-voters
//     alike (both apply the log); a member without a record, or with a
//     record from a binary before levels, counts as fsm.FormatBase;
//   - propose, the one place every write reaches the log on the leader
//     (local, forwarded, batched), refuses an entry whose
//     fsm.EntryFormatNeeded is above that level with ErrUpgrading, before
//     anything is proposed: the refusal changes nothing. A follower does
//     not forward such an entry to a leader whose own record does not
//     claim the format (checkLeaderFormat): a leader on an older binary
//     knows no gate, and would apply the entry differently.
//
// Older binaries ignore unknown JSON fields, so a record or a snapshot
// holding a newer field still decodes on them; the gate only keeps them
// from missing a change they would not apply.

// ClusterFormat is the level writes are gated by, and the members below
// this binary's format (for messages): the replicated level
// (fsm.State.ClusterFormat), never above the lowest format a member of
// the current Raft configuration announces. Meaningful on the leader,
// whose configuration is the latest.
func (n *Node) ClusterFormat() (level int, behind []string, err error) {
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fsm.FormatBase, nil, fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	st := n.fsm.State()
	announced, behind, _ := clusterFormat(cf.Configuration().Servers, st, fsm.CurrentFormat)
	return gateLevel(st.ClusterFormat(), announced), behind, nil
}

// gateLevel is the level entries are gated by. Before the replicated
// level is first set (a cluster of binaries before it, or one that has
// not raised it yet) it is what those binaries used: the announcements'
// minimum, up to FormatOperator, the last level that needs no record.
// The announcements bound it in every case: a restored backup or a
// member that came back on an older binary never lets an entry through
// that a member cannot read.
func gateLevel(cf fsm.ClusterFormat, announced int) int {
	if !cf.Set {
		return min(announced, fsm.FormatOperator)
	}
	return min(announced, cf.Level)
}

// clusterFormat is the minimum of the servers' announced formats, and the
// ids of those below want.
func clusterFormat(servers []raft.Server, st *fsm.State, want int) (int, []string, error) {
	level := want
	var behind []string
	for _, s := range servers {
		f := fsm.FormatBase
		if meta, ok := st.Node(string(s.ID)); ok {
			f = meta.Format
		}
		if f < want {
			behind = append(behind, fmt.Sprintf("%s (format %d)", s.ID, f))
		}
		level = min(level, f)
	}
	sort.Strings(behind)
	return level, behind, nil
}

// checkFormat refuses an entry that needs a higher format than the
// cluster's level. It runs on the leader before the proposal. The entry
// that moves the level (fsm.SetClusterFormat) is checked against the
// members' announcements alone: every member must read it, and the level
// it sets.
func (n *Node) checkFormat(entry []byte) error {
	need := fsm.EntryFormatNeeded(entry)
	if need == fsm.FormatBase {
		return nil
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	st := n.fsm.State()
	setLevel := len(entry) > 0 && fsm.CmdType(entry[0]) == fsm.TypeSetClusterFormat
	if setLevel {
		if c, err := fsm.Decode(entry); err == nil {
			need = max(need, c.(*fsm.SetClusterFormat).Level)
		}
	}
	announced, behind, _ := clusterFormat(cf.Configuration().Servers, st, need)
	if announced < need {
		return fmt.Errorf("%w: this change needs log format %d on every member; not yet: %s "+
			"(upgrade or remove them; a member announces its format when it starts)",
			ErrUpgrading, need, strings.Join(behind, ", "))
	}
	if setLevel {
		return nil
	}
	if level := gateLevel(st.ClusterFormat(), announced); level < need {
		why := "the leader raises it within a second once every member announces it"
		if st.ClusterFormat().Downgrade {
			why = "an operator lowered it (sessiond cluster downgrade); 'sessiond cluster downgrade --cancel' raises it again"
		}
		return fmt.Errorf("%w: this change needs log format %d; the cluster's level is %d (%s)",
			ErrUpgrading, need, level, why)
	}
	return nil
}

// checkLeaderFormat runs on the node that takes a write, before each
// forward: an entry that needs a format the leader's own record does
// not claim is refused here. Only the leader's record is consulted: the
// rest is the leader's authoritative check, on its newer view (a
// follower's view of other members may lag by a round).
func (n *Node) checkLeaderFormat(entry []byte) error {
	need := fsm.EntryFormatNeeded(entry)
	if need == fsm.FormatBase || n.raft.State() == raft.Leader {
		return nil
	}
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return nil // no leader known: the forward fails and is retried, asking again
	}
	if meta, ok := n.fsm.State().Node(string(id)); ok && meta.Format >= need {
		return nil
	}
	return fmt.Errorf("%w: this change needs log format %d; the leader %s has not announced it (an older binary?)",
		ErrUpgrading, need, id)
}
