package api

import (
	"net/http"

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
