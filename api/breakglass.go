package api

import (
	"net/http"

	"github.com/sessiond/sessiond/auth"
)

// The break-glass routes name a user by db and login and work with the
// cluster key (KeyGate), so an operator can act without logging in as
// anyone: unlock an account (the only admin's included), and name the
// operator of a cluster upgraded from a release without roles. Each call
// has its own audit line, saying whether the key was used.

// clusterUnlock ({"login", "db"?}) is open to cluster-key holders
// (`sessiond user unlock`), to the operator, and to an admin for its own
// db.
func (s *Server) clusterUnlock(w http.ResponseWriter, r *http.Request) {
	s.breakGlass(w, r, "user_unlock", false, func(in breakGlassBody) auth.UserChanges {
		return auth.UserChanges{Unlock: true}
	})
}

// clusterOperator ({"login", "db"?, "operator": true|false}) grants or
// takes back the operator role; operatorOrKey admits the operator and
// cluster-key holders (`sessiond user operator`).
func (s *Server) clusterOperator(w http.ResponseWriter, r *http.Request) {
	s.breakGlass(w, r, "user_operator", true, func(in breakGlassBody) auth.UserChanges {
		return auth.UserChanges{Operator: in.Operator}
	})
}

type breakGlassBody struct {
	DB       string `json:"db"`
	Login    string `json:"login"`
	Operator *bool  `json:"operator"`
}

// breakGlass authenticates (the key, or for unlock an admin of the db),
// reads the body, finds the user, applies change and writes the audit
// line and the answer.
func (s *Server) breakGlass(w http.ResponseWriter, r *http.Request, event string, operatorRoute bool,
	change func(breakGlassBody) auth.UserChanges) {
	in, p, err := s.breakGlassBody(r, operatorRoute)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	u, err := s.svc.FindUser(in.DB, in.Login)
	if err == nil {
		u, err = s.svc.UpdateUser(r.Context(), u.ID, change(in))
	}
	attrs := []any{"event", event, "client_addr", s.clientAddr(r),
		"break_glass", byKey(r)} // the cluster-key path, not an admin's token
	if p.User != nil {
		attrs = append(attrs, "admin_id", p.User.ID)
	}
	attrs = append(attrs, "login", in.Login)
	if u != nil {
		attrs = append(attrs, "user_id", u.ID, "db", u.DB)
	}
	if in.Operator != nil {
		attrs = append(attrs, "operator", *in.Operator)
	}
	s.writeAudit(attrs, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

// breakGlassBody admits the caller and reads its body; an admin's db is
// scoped to the dbs it manages (roles.go).
func (s *Server) breakGlassBody(r *http.Request, operatorRoute bool) (breakGlassBody, principal, error) {
	var in breakGlassBody
	var p principal
	var err error
	switch {
	case byKey(r):
		err = s.checkKey(r)
	default: // the operator route is behind operatorOrKey already; this names the actor
		p, err = s.adminAuth(r)
	}
	if err != nil {
		return in, p, err
	}
	if err := decodeJSON(r, &in); err != nil {
		return in, p, err
	}
	switch {
	case in.Login == "":
		return in, p, fieldError(ErrMissingField, "login is required")
	case operatorRoute && in.Operator == nil:
		return in, p, fieldError(ErrMissingField, "operator (true or false) is required")
	case !operatorRoute && in.Operator != nil:
		return in, p, fieldError(ErrBadField, "operator is not a field of unlock")
	}
	if p.User != nil {
		in.DB, err = scopeDB(p, in.DB)
	}
	return in, p, err
}
