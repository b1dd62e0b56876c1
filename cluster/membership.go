package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/wire"
)

// Join adds a member on an operator's behalf (POST /v1/cluster/join). It
// never changes a known member: an id or a Raft address the cluster has
// already is ErrMemberExists, and nothing changes. A new member enters as
// a non-voter, so a member that never answers cannot cost the cluster its
// quorum; unless req.NonVoter, the leader promotes it to voter once it has
// caught up (promote.go). Any node accepts it and forwards to the leader.
func (n *Node) Join(ctx context.Context, req JoinRequest) error {
	req.Self, req.Format = false, fsm.FormatBase // only a node itself says these (JoinVia)
	return n.join(ctx, req)
}

// join is Join, and also the self-join a node sends over the signed
// internal channel (req.Self), which may refresh its own API URL and
// format but never its Raft address.
func (n *Node) join(ctx context.Context, req JoinRequest) error {
	if req.ID == "" || req.RaftAddr == "" || req.APIURL == "" {
		return fmt.Errorf("%w: join needs id, raft_addr and api_url", ErrConfig)
	}
	if n.raft.State() != raft.Leader {
		body, _ := json.Marshal(req)
		return n.retryLeader(ctx, func(ctx context.Context) error {
			if n.raft.State() == raft.Leader {
				return n.joinLocal(ctx, req)
			}
			return n.callLeader(ctx, "/internal/v1/join", body, nil)
		})
	}
	return n.joinLocal(ctx, req)
}

func (n *Node) joinLocal(ctx context.Context, req JoinRequest) error {
	// The leader's own rule applies to the members it admits.
	if err := CheckAPIURL(req.APIURL, n.cfg.AllowPlainAPIURL); err != nil {
		return err
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	}
	known := false
	for _, s := range cf.Configuration().Servers {
		sameID, sameAddr := string(s.ID) == req.ID, string(s.Address) == req.RaftAddr
		switch {
		case sameID && !sameAddr:
			// Re-pointing the member would orphan the node that runs
			// under this id; replacing a dead node is a remove first.
			return fmt.Errorf("%w: node id %q is already a member at raft address %s, not %s: "+
				"give this node another id, or remove the old member first (sessiond node remove %s)",
				ErrMemberExists, req.ID, s.Address, req.RaftAddr, req.ID)
		case sameAddr && !sameID:
			return fmt.Errorf("%w: raft address %s belongs to member %q; remove it first (sessiond node remove %s)",
				ErrMemberExists, req.RaftAddr, s.ID, s.ID)
		case sameID && !req.Self:
			return fmt.Errorf("%w: node %q is a member already; a member's addresses change only when "+
				"the node itself announces them (restart it), or remove it first (sessiond node remove %s)",
				ErrMemberExists, req.ID, req.ID)
		}
		known = known || sameID
	}
	if err := n.checkJoinFormat(req, known); err != nil {
		return err
	}
	meta, hasMeta := n.fsm.State().Node(req.ID)
	want := fsm.Node{ID: req.ID, RaftAddr: req.RaftAddr, APIAddr: req.APIURL, Format: req.Format, Promote: !req.NonVoter}
	if known {
		want.Promote = meta.Promote // a restart does not undo an operator's demotion
	}
	if !hasMeta || meta != want {
		// The record first: the promoter never sees a non-voter whose
		// wish it does not know.
		if _, err := n.Apply(ctx, &fsm.PutNode{Node: want}); err != nil {
			return err
		}
	}
	if known {
		return nil
	}
	f := n.raft.AddNonvoter(raft.ServerID(req.ID), raft.ServerAddress(req.RaftAddr), 0, n.cfg.ApplyTimeout)
	if err := f.Error(); err != nil {
		return fmt.Errorf("%w: add server: %v", ErrNotLeader, err)
	}
	return nil
}

// Remove takes a member out of the cluster (for example a dead node) and
// forgets its addresses. Removing an unknown ID is an error.
func (n *Node) Remove(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("%w: remove needs an id", ErrConfig)
	}
	body, _ := json.Marshal(map[string]string{"id": id})
	return n.viaLeader(ctx, "/internal/v1/remove", body, func(ctx context.Context, servers []raft.Server) error {
		found := false
		for _, s := range servers {
			found = found || string(s.ID) == id
		}
		if !found {
			if _, ok := n.fsm.State().Node(id); !ok {
				return fmt.Errorf("%w: %s", ErrUnknownNode, id)
			}
		} else if onlyVoter(servers, id) {
			return fmt.Errorf("%w: %s", ErrOnlyVoter, id)
		} else {
			addr, _ := n.memberRaftAddr(id)
			f := n.raft.RemoveServer(raft.ServerID(id), 0, n.cfg.ApplyTimeout)
			if err := f.Error(); err != nil {
				return fmt.Errorf("%w: remove server: %v", ErrNotLeader, err)
			}
			if id != n.cfg.NodeID {
				n.notifyRemoved(id, addr, f.Index())
			}
		}
		_, err := n.Apply(ctx, &fsm.RemoveNode{ID: id})
		return err
	})
}

// viaLeader is the shape of a membership change through any node: a
// follower sends body to the leader's path, the leader runs change on its
// current Raft configuration; either is retried across leader changes.
func (n *Node) viaLeader(ctx context.Context, path string, body []byte, change func(ctx context.Context, servers []raft.Server) error) error {
	return n.retryLeader(ctx, func(ctx context.Context) error {
		if n.raft.State() != raft.Leader {
			return n.callLeader(ctx, path, body, nil)
		}
		cf := n.raft.GetConfiguration()
		if err := cf.Error(); err != nil {
			return fmt.Errorf("%w: %v", ErrNotLeader, err)
		}
		return change(ctx, cf.Configuration().Servers)
	})
}

// retryLeader runs fn until it succeeds, fails for good, or ctx ends.
func (n *Node) retryLeader(ctx context.Context, fn func(context.Context) error) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.ApplyTimeout)
		defer cancel()
	}
	for {
		err := fn(ctx)
		if err == nil || !retryable(err) {
			return err
		}
		if !n.pause(ctx) {
			return n.deadlineError(err)
		}
	}
}

// JoinVia asks the node at baseURL (any member) to add this node. It is
// what `sessiond --join` does at start-up. An unreachable seed and a
// cluster still electing a leader are retried until ctx ends; an answer
// that cannot change by waiting (a refused key, an id taken at another
// address) fails at once.
func (n *Node) JoinVia(ctx context.Context, baseURL string, nonVoter bool) error {
	body, _ := json.Marshal(JoinRequest{ID: n.cfg.NodeID, RaftAddr: n.RaftAddr(), APIURL: n.cfg.APIURL,
		NonVoter: nonVoter, Self: true, Format: n.format()})
	for {
		err := n.joinOnce(ctx, baseURL, body)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errUnreachable) && !retryable(err) && !isTimeout(err) {
			return err
		}
		t := time.NewTimer(200 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			if errors.Is(err, errUnreachable) {
				return fmt.Errorf("%w: cannot reach %s (is a member running there?): %v", ErrTimeout, baseURL, err)
			}
			return fmt.Errorf("%w: join via %s: %w", ErrTimeout, baseURL, err)
		case <-t.C:
		}
	}
}

// errUnreachable: no HTTP answer at all from the seed.
var errUnreachable = errors.New("no answer")

// joinOnce is one join: it asks the seed at baseURL for its Raft address,
// then sends the join over the Raft port's authenticated channel
// (peerhttp.go), so the request and the answer are protected like every
// call between members. The seed's API answer is only a pointer: a false
// one leads to a peer that cannot pass the handshake (an error) or to
// another member (which forwards to the leader). It tells no answer, a
// refused key and a refusal apart, so that JoinVia knows which to retry.
func (n *Node) joinOnce(ctx context.Context, baseURL string, body []byte) error {
	var seed struct {
		RaftAddr string `json:"raft_addr"`
		NodeID   string `json:"node_id"`
	}
	if err := n.apiCall(ctx, baseURL, "/internal/v1/raftaddr", nil, &seed); err != nil {
		return err
	}
	if seed.RaftAddr == "" {
		return fmt.Errorf("%w: %s gave no raft address", ErrConfig, baseURL)
	}
	err := n.call(ctx, seed.NodeID, seed.RaftAddr, "/internal/v1/join", body, nil)
	if errors.Is(err, ErrForward) {
		// No answer, or a peer that failed the handshake: retried.
		return fmt.Errorf("%w: raft address %s: %w", errUnreachable, seed.RaftAddr, err)
	}
	return err
}

// apiCall POSTs a signed call to a member's API URL: only joinOnce's
// question, which carries nothing secret.
func (n *Node) apiCall(ctx context.Context, baseURL, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	// The seed is known by address only: ask it which node it is, and
	// sign for that node alone. Without a cluster key nothing is signed
	// (mutual TLS authenticates the call), so nothing is asked.
	var target string
	if n.guard.key != nil {
		if target, err = reqsign.NodeID(ctx, n.client, baseURL); err != nil {
			return fmt.Errorf("%w: %v", errUnreachable, err)
		}
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	n.sign(req, target, body)
	resp, err := n.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errUnreachable, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxInternalBody))
	switch {
	case resp.StatusCode == http.StatusOK:
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrForward, baseURL, err)
		}
		return nil
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: %s refused this node's cluster key (status %d): every node needs the same key",
			ErrUnauthorized, baseURL, resp.StatusCode)
	case resp.StatusCode == http.StatusNotFound:
		return fmt.Errorf("%w: %s has no join endpoint: is it a sessiond API URL of this release?", ErrConfig, baseURL)
	}
	return decodeInternalError(resp.StatusCode, data)
}

// handleRaftAddr tells a joining node where this member's Raft port is and
// which node it is: the join that follows is signed for that node alone.
func (n *Node) handleRaftAddr(w http.ResponseWriter, _ *http.Request) {
	writeInternalJSON(w, map[string]string{"raft_addr": n.RaftAddr(), "node_id": n.cfg.NodeID})
}

func isTimeout(err error) bool { return err != nil && codeOf(err) == "timeout" }

// Member is one server of the Raft configuration with its published
// addresses.
type Member = wire.Member

// Status is what `sessiond status` and GET /v1/cluster show: the shape the
// api client reads, plus this node's binary version.
type Status struct {
	wire.ClusterStatus
	Version string `json:"version,omitempty"` // this node's binary
	// Formats is the cluster version as this node sees it
	// (clusterversion.go); absent from binaries before it.
	Formats *FormatStatus `json:"formats,omitempty"`
}

// Status reports this node's view of the cluster. withHash adds the state
// hash (costly on large states: it serialises everything).
func (n *Node) Status(withHash bool) Status {
	_, leaderID := n.raft.LeaderWithID()
	st := Status{ClusterStatus: wire.ClusterStatus{
		NodeID: n.cfg.NodeID, State: n.raft.State().String(), Leader: string(leaderID),
		LeaderURL: n.LeaderURL(), Term: n.raft.CurrentTerm(), CommitIndex: n.raft.CommitIndex(),
		AppliedIndex: n.fsm.AppliedIndex(), LastIndex: n.raft.LastIndex(),
		LeaseValid: n.LeaseValid(), Ready: n.Ready(),
	}, Version: n.cfg.Version}
	st.Users, st.Sessions = n.fsm.State().Counts()
	if lc := n.raft.LastContact(); !lc.IsZero() {
		st.LastContact = lc.UTC().Format(time.RFC3339Nano)
	}
	if withHash {
		st.StateHash, st.AppliedIndex = n.fsm.StateHash()
	}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			m := Member{ID: string(s.ID), RaftAddr: string(s.Address), Suffrage: s.Suffrage.String(), Leader: s.ID == leaderID}
			if meta, ok := n.fsm.State().Node(string(s.ID)); ok {
				m.APIURL = meta.APIAddr
			}
			st.Members = append(st.Members, m)
		}
	}
	fs := n.formatStatus(st.Members)
	st.Formats = &fs
	return st
}

// Ready reports whether a load balancer should send this node traffic: it
// knows a leader, has caught up (holds a read lease, or applied a read
// index and hears from the leader: an unused lease lapses, protocol.go),
// is not shutting down and was not removed from the cluster (removed.go).
func (n *Node) Ready() bool {
	if n.closing.Load() || n.Removed() {
		return false
	}
	_, id := n.raft.LeaderWithID()
	return id != "" && (n.LeaseValid() || n.inTouch())
}

// WaitReady blocks until Ready or ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	for !n.Ready() {
		n.refreshLease(ctx)
		if n.Ready() {
			return nil
		}
		if !n.pause(ctx) {
			return fmt.Errorf("%w: not ready", ErrTimeout)
		}
	}
	return nil
}

// SetVoter promotes a non-voter to voter (voter=true) or demotes a voter to
// non-voter. Any node accepts it and forwards to the leader.
func (n *Node) SetVoter(ctx context.Context, id string, voter bool) error {
	body, _ := json.Marshal(map[string]any{"id": id, "voter": voter})
	return n.viaLeader(ctx, "/internal/v1/suffrage", body, func(ctx context.Context, servers []raft.Server) error {
		for _, s := range servers {
			if string(s.ID) != id {
				continue
			}
			if !voter && onlyVoter(servers, id) {
				return fmt.Errorf("%w: %s", ErrOnlyVoter, id)
			}
			var f raft.IndexFuture
			switch {
			case voter && s.Suffrage != raft.Voter:
				f = n.raft.AddVoter(s.ID, s.Address, 0, n.cfg.ApplyTimeout)
			case !voter && s.Suffrage == raft.Voter:
				f = n.raft.DemoteVoter(s.ID, 0, n.cfg.ApplyTimeout)
			}
			if !voter {
				// The promoter must not undo an operator's demotion.
				if meta, ok := n.fsm.State().Node(id); ok && meta.Promote {
					meta.Promote = false
					if _, err := n.Apply(ctx, &fsm.PutNode{Node: meta}); err != nil {
						return err
					}
				}
			}
			if f == nil {
				return nil
			}
			if err := f.Error(); err != nil {
				return fmt.Errorf("%w: change suffrage: %v", ErrNotLeader, err)
			}
			return nil
		}
		return fmt.Errorf("%w: %s", ErrUnknownNode, id)
	})
}

// onlyVoter reports whether id is a voter and no other server is: taking
// it away would leave no quorum, which Raft would only find out by timing
// out. Refused at once instead.
func onlyVoter(servers []raft.Server, id string) bool {
	voters, it := 0, false
	for _, s := range servers {
		if s.Suffrage == raft.Voter {
			voters++
			it = it || string(s.ID) == id
		}
	}
	return it && voters == 1
}
