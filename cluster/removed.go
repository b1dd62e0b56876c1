package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"
)

// A member removed while it runs is no longer sent the log, so nothing in
// Raft tells it: it would keep answering from a state that stops moving
// and call elections nobody answers, and say nothing. So the leader that
// removed it tells it over the signed internal channel, once, right after
// the removal commits (best effort: a dead node is the usual case). The
// node then logs it once at error level with what to do, and answers not
// ready, so a load balancer takes it out.

const removedPath = "/internal/v1/removed"

// removedNotice is what the leader sends.
type removedNotice struct {
	ID    string `json:"id"`    // the member removed: must be the receiver
	By    string `json:"by"`    // the leader that removed it
	Index uint64 `json:"index"` // the configuration entry that removed it
}

// Removed reports whether this node was told it is no longer a member,
// and has not been made one again since: a node whose log has gone past
// the entry that removed it, under a configuration that lists it, was
// added back (a join) and takes part again.
func (n *Node) Removed() bool {
	r := n.removed.Load()
	if r == nil {
		return false
	}
	if _, member := n.memberRaftAddr(n.cfg.NodeID); member && n.raft.LastIndex() > r.Index {
		if n.removed.CompareAndSwap(r, nil) {
			n.membershipLog().Info("this node is a member of the cluster again", "removed_at", r.Index)
		}
		return false
	}
	return true
}

// notifyRemoved tells the member id, reachable at raftAddr, that the
// configuration entry at index removed it. It runs on its own goroutine
// and gives up after a few seconds.
func (n *Node) notifyRemoved(id, raftAddr string, index uint64) {
	body, _ := json.Marshal(removedNotice{ID: id, By: n.cfg.NodeID, Index: index})
	n.goAttach(func() {
		ctx, cancel := context.WithTimeout(n.stopCtx, 3*time.Second)
		defer cancel()
		if err := n.call(ctx, id, raftAddr, removedPath, body, nil); err != nil {
			n.membershipLog().Info("could not tell the removed member it was removed (it may be down)", "node_id", id, "err", err)
		}
	})
}

func (n *Node) handleRemoved(w http.ResponseWriter, r *http.Request) {
	var req removedNotice
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	if req.ID != n.cfg.NodeID {
		writeInternalError(w, fmt.Errorf("%w: notice for %q reached %q", ErrConfig, req.ID, n.cfg.NodeID))
		return
	}
	if n.removed.CompareAndSwap(nil, &req) {
		n.membershipLog().Error("this node was removed from the cluster and no longer takes part: it answers not ready. "+
			"Stop it; to make it a member again, empty its data dir and start it with --join",
			"removed_by", req.By, "index", req.Index)
	}
	writeInternalJSON(w, map[string]bool{"ok": true})
}
