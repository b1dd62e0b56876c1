package api

import (
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// audit writes one structured line per login, logout and logoutall: who,
// which db and dialect, which node, from where, and the outcome — never a
// token, a password or a header.
func (s *Server) audit(r *http.Request, event, dialect string, u *fsm.User, err error) {
	attrs := []any{"event", event, "dialect", dialect, "client_addr", s.clientAddr(r)}
	if u != nil {
		attrs = append(attrs, "user_id", u.ID, "db", u.DB)
	}
	s.writeAudit(attrs, err)
}

// auditLogin writes a login's audit line, preceded by one
// "session_evicted" line per session the login ended to stay under the
// per-user cap: the user, and the ended session by its public id and kind
// (never its token or digest), so an owner or admin can tell a cap
// eviction from a logout.
func (s *Server) auditLogin(r *http.Request, dialect string, u *fsm.User, iss auth.Issued, err error) {
	for i := range iss.Evicted {
		ev := &iss.Evicted[i]
		attrs := []any{"event", "session_evicted", "reason", "session_cap", "dialect", dialect,
			"client_addr", s.clientAddr(r), "user_id", ev.UserID, "db", ev.DB,
			"session_id", auth.PublicID(ev), "session_kind", ev.Kind.String()}
		s.writeAudit(attrs, nil)
	}
	s.audit(r, "login", dialect, u, err)
}

// auditAdmin records an admin's change to a user, a key, a client or the
// settings; extra names what changed beyond the user id (the login of a
// new user, a key's kid).
func (s *Server) auditAdmin(r *http.Request, event string, p principal, target uint64, err error, extra ...any) {
	attrs := []any{"event", event, "client_addr", s.clientAddr(r), "admin_id", p.User.ID}
	if target != 0 {
		attrs = append(attrs, "user_id", target)
	}
	s.writeAudit(append(attrs, extra...), err)
}

// writeAudit writes one audit line in one shape, whoever calls it: the
// event, who acted (actor: "user:<id>", "cluster_key" or "anonymous"),
// what it acted on (target, when there is one), the caller's details,
// then node and result (the outcome: "ok" or the stable error code), each
// once. A "node" among attrs is dropped for the one added here.
func (s *Server) writeAudit(attrs []any, err error) {
	result := "ok"
	if err != nil {
		result = lookupError(err).code
	}
	line := make([]any, 0, len(attrs)+8)
	kv := make(map[string]any, len(attrs)/2)
	for i := 0; i+1 < len(attrs); i += 2 {
		k, _ := attrs[i].(string)
		if k == "node" {
			continue
		}
		kv[k] = attrs[i+1]
		line = append(line, k, attrs[i+1])
	}
	if _, ok := kv["actor"]; !ok {
		line = append(line, "actor", auditActor(kv))
	}
	if _, ok := kv["target"]; !ok {
		if t := auditTarget(kv); t != "" {
			line = append(line, "target", t)
		}
	}
	s.cfg.AuditLog.Info("audit", append(line, "node", s.node.ID(), "result", result)...)
}

// auditActor is who acted: the admin, the cluster key, the user itself
// (a login, a logout), or nobody known (a failed login).
func auditActor(kv map[string]any) string {
	if id, ok := kv["admin_id"]; ok {
		return fmt.Sprintf("user:%v", id)
	}
	if bg, _ := kv["break_glass"].(bool); bg {
		return "cluster_key"
	}
	if id, ok := kv["user_id"]; ok {
		return fmt.Sprintf("user:%v", id)
	}
	return "anonymous"
}

// auditTarget is what an admin or the cluster key acted on; a user's own
// login or logout has none beyond its actor.
func auditTarget(kv map[string]any) string {
	_, admin := kv["admin_id"]
	bg, _ := kv["break_glass"].(bool)
	switch {
	case kv["kid"] != nil:
		return fmt.Sprintf("key:%v", kv["kid"])
	case kv["client_id"] != nil:
		return fmt.Sprintf("client:%v", kv["client_id"])
	case kv["user_id"] != nil && (admin || bg):
		return fmt.Sprintf("user:%v", kv["user_id"])
	case kv["login"] != nil && (admin || bg):
		return fmt.Sprintf("login:%v", kv["login"])
	case kv["event"] == "settings_update":
		return "settings"
	}
	return ""
}
