package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond/fsm"
)

// The cluster version's route (issue 25): the operator lowers the
// cluster's log format level before older binaries come back, or lifts
// that pin. cluster.Node.Downgrade does the work; *cluster.Node has it.
type downgrader interface {
	Downgrade(ctx context.Context, level int, cancel bool) (fsm.ClusterFormat, error)
}

func (s *Server) clusterVersionRoutes() {
	s.handle("POST /v1/cluster/format", s.operatorOrKey(s.clusterFormat))
}

// clusterFormat ({"level": N} or {"cancel": true}) answers the level now
// in force; 409 format_in_use names what the state holds that a level-N
// binary would drop.
func (s *Server) clusterFormat(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Level  *int `json:"level"`
		Cancel bool `json:"cancel"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if (in.Level == nil) == !in.Cancel {
		writeNativeError(w, fmt.Errorf("%w: give either level (to downgrade) or cancel (to lift a downgrade)", ErrBadField))
		return
	}
	d, ok := s.node.(downgrader)
	if !ok {
		writeNativeError(w, fmt.Errorf("%w: this node cannot change the cluster's level", ErrNotFound))
		return
	}
	level := 0
	if in.Level != nil {
		level = *in.Level
	}
	cf, err := d.Downgrade(r.Context(), level, in.Cancel)
	s.writeAudit([]any{"event", "cluster_format", "node", s.node.ID(), "client_addr", s.clientAddr(r),
		"level", level, "cancel", in.Cancel}, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cf)
}
