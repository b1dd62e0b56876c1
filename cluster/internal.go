package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

// KeyHeader used to carry the cluster key on internal calls. The key no
// longer travels (see package reqsign), and any value arriving in this
// header is refused; a verified call is marked in its request's context
// instead (KeyVerified).
const KeyHeader = "X-Sessiond-Cluster-Key"

const maxInternalBody = 1 << 20

// InternalHandler serves /internal/v1/*: the leader's side of forwarded
// writes, read indexes and membership changes. Every call needs the
// cluster key, proven by a request signature (reqverify.go).
func (n *Node) InternalHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /internal/v1/apply", n.handleApply)
	mux.HandleFunc("POST "+batchPath, n.handleApplyBatch)
	mux.HandleFunc("POST /internal/v1/readindex", n.handleReadIndex)
	mux.HandleFunc("POST /internal/v1/applied", n.handleApplied)
	mux.HandleFunc("POST "+confirmPath, n.handleConfirm)
	mux.HandleFunc("POST /internal/v1/join", n.handleJoin)
	mux.HandleFunc("POST /internal/v1/raftaddr", n.handleRaftAddr)
	mux.HandleFunc("POST /internal/v1/remove", n.handleRemove)
	mux.HandleFunc("POST "+removedPath, n.handleRemoved)
	mux.HandleFunc("POST /internal/v1/restore", n.handleRestore)
	mux.HandleFunc("POST /internal/v1/suffrage", n.handleSuffrage)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == reqsign.NodePath {
			// Unauthenticated, as /healthz: whoever knows a node by its
			// address learns the id to sign a call to it for.
			w.Header().Set(reqsign.NodeHeader, n.cfg.NodeID)
			writeInternalJSON(w, map[string]string{"node_id": n.cfg.NodeID})
			return
		}
		limit := int64(maxInternalBody)
		if r.URL.Path == "/internal/v1/restore" {
			limit = MaxBackupSize
		}
		n.guard.serve(w, r, limit, func(r *http.Request) { mux.ServeHTTP(w, r) })
	})
}

func (n *Node) handleApply(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	// Refuse what Apply could not decode: a bad entry in the log would stop
	// every replica.
	if _, err := fsm.Decode(data); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	if n.raft.State() != raft.Leader {
		writeInternalError(w, ErrNotLeader)
		return
	}
	res, err := n.applyLocal(r.Context(), data)
	if err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]any{"result": res})
}

// JoinRequest asks the cluster to add a member.
type JoinRequest struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIURL   string `json:"api_url"`
	// NonVoter keeps the member a non-voter; otherwise the leader
	// promotes it once it has caught up (promote.go).
	NonVoter bool `json:"non_voter,omitempty"`
	// Self and Format are set only by a node asking for itself over the
	// signed internal channel (JoinVia, announce.go): Self lets it
	// refresh its own API URL and format; an operator's join (the public
	// API, which never decodes these fields) can never change a known
	// member.
	Self   bool `json:"self,omitempty"`
	Format int  `json:"format,omitempty"`
}

func (n *Node) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req JoinRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	if err := n.join(r.Context(), req); err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]bool{"ok": true})
}

func (n *Node) handleRemove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	if err := n.Remove(r.Context(), req.ID); err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]bool{"ok": true})
}

type internalError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeInternalError(w http.ResponseWriter, err error) {
	var body internalError
	body.Error.Code, body.Error.Message = codeOf(err), err.Error()
	status := http.StatusServiceUnavailable
	switch {
	case errors.Is(err, ErrUnauthorized):
		status = http.StatusForbidden
	case errors.Is(err, ErrConfig):
		status = http.StatusBadRequest
	case errors.Is(err, ErrNotLeader):
		status = http.StatusMisdirectedRequest
	case errors.Is(err, ErrMemberExists):
		status = http.StatusConflict
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func writeInternalJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

// LeaderURL returns the API URL of the current leader, or "" when there is
// no leader or it has not published its address yet.
func (n *Node) LeaderURL() string {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return ""
	}
	if string(id) == n.cfg.NodeID {
		return n.cfg.APIURL
	}
	meta, ok := n.fsm.State().Node(string(id))
	if !ok {
		return ""
	}
	return meta.APIAddr
}

// callLeader POSTs body to path on the leader and decodes the answer into
// out, or returns the leader's error with its code preserved.
func (n *Node) callLeader(ctx context.Context, path string, body []byte, out any) error {
	addr, id := n.raft.LeaderWithID()
	if id == "" || addr == "" {
		return ErrNoLeader
	}
	return n.call(ctx, string(id), string(addr), path, body, out)
}

// call POSTs body to path on the member target at raftAddr, over the Raft
// port's authenticated channel (peerhttp.go), signed for that member alone.
func (n *Node) call(ctx context.Context, target, raftAddr, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, peerURL(raftAddr)+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrForward, err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	n.sign(req, target, body)
	resp, err := n.peers.Do(req)
	if err != nil {
		return peerError(ctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxInternalBody))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrForward, err)
	}
	if resp.StatusCode != http.StatusOK {
		if path == batchPath {
			return batchStatusError(resp.StatusCode, data)
		}
		return decodeInternalError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%w: %v", ErrForward, err)
	}
	return nil
}

// errNoRoute: the member answered 404 without an error body, the answer of
// a binary that predates the route (a rolling upgrade).
var errNoRoute = errors.New("cluster: route unknown to the member (an older binary)")

// decodeInternalError rebuilds a typed error from an internal error body.
func decodeInternalError(status int, data []byte) error {
	var e internalError
	if json.Unmarshal(data, &e) != nil || e.Error.Code == "" {
		if status == http.StatusNotFound { // a route an older binary does not serve
			return fmt.Errorf("%w: %w: status %d", ErrForward, errNoRoute, status)
		}
		return fmt.Errorf("%w: status %d", ErrForward, status)
	}
	return codeError(e.Error.Code, e.Error.Message)
}

func (n *Node) handleSuffrage(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID    string `json:"id"`
		Voter bool   `json:"voter"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeInternalError(w, fmt.Errorf("%w: %v", ErrConfig, err))
		return
	}
	if err := n.SetVoter(r.Context(), req.ID, req.Voter); err != nil {
		writeInternalError(w, err)
		return
	}
	writeInternalJSON(w, map[string]bool{"ok": true})
}
