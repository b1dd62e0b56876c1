package api

import (
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// audit writes one structured line per login, logout and logoutall: who,
// which db and dialect, which node, from where, and the outcome — never a
// token, a password or a header.
func (s *Server) audit(r *http.Request, event, dialect string, u *fsm.User, err error) {
	attrs := []any{"event", event, "dialect", dialect, "node", s.node.ID(), "client_addr", s.clientAddr(r)}
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
		attrs := []any{"event", "session_evicted", "reason", "session_cap", "dialect", dialect, "node", s.node.ID(),
			"client_addr", s.clientAddr(r), "user_id", ev.UserID, "db", ev.DB,
			"session_id", auth.PublicID(ev), "session_kind", ev.Kind.String()}
		s.writeAudit(attrs, nil)
	}
	s.audit(r, "login", dialect, u, err)
}

// auditAdmin records an admin's change to a user or the settings.
func (s *Server) auditAdmin(r *http.Request, event string, p principal, target uint64, err error) {
	attrs := []any{"event", event, "node", s.node.ID(), "client_addr", s.clientAddr(r), "admin_id", p.User.ID}
	if target != 0 {
		attrs = append(attrs, "user_id", target)
	}
	s.writeAudit(attrs, err)
}

// writeAudit ends an audit line with its outcome (the stable error code,
// or "ok") and writes it: every audit line says how it ended the same way.
func (s *Server) writeAudit(attrs []any, err error) {
	result := "ok"
	if err != nil {
		result = lookupError(err).code
	}
	s.cfg.AuditLog.Info("audit", append(attrs, "result", result)...)
}
