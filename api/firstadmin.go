package api

import (
	"net/http"

	"github.com/sessiond/sessiond/auth"
)

type firstAdminBody struct {
	DB       string `json:"db"`
	Login    string `json:"login"`
	Password string `json:"password"`
}

// clusterFirstAdmin ({"login", "password", "db"?}) creates the first
// admin (and operator) of a cluster that has none, for a cluster-key
// holder only: a node started by the systemd unit without an
// admin-password credential has no other way to one. Every call, refused
// or not, has its audit line (event first_admin, never the password).
func (s *Server) clusterFirstAdmin(w http.ResponseWriter, r *http.Request) {
	var in firstAdminBody
	err := ErrForbidden
	if byKey(r) {
		err = s.checkKey(r)
	}
	if err == nil {
		err = decodeJSON(r, &in)
	}
	if err == nil && (in.Login == "" || in.Password == "") {
		err = fieldError(ErrMissingField, "login and password are required")
	}
	var id uint64
	if err == nil {
		id, err = s.svc.CreateFirstAdmin(r.Context(), auth.NewUser{DB: in.DB, Login: in.Login, Password: in.Password, Name: "Administrator"})
	}
	attrs := []any{"event", "first_admin", "client_addr", s.clientAddr(r), "break_glass", byKey(r), "login", in.Login}
	if id != 0 {
		attrs = append(attrs, "user_id", id)
	}
	s.writeAudit(attrs, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	u, ok := s.svc.User(id)
	if !ok {
		writeNativeError(w, auth.ErrNotVisible)
		return
	}
	writeJSON(w, http.StatusCreated, userJSON(u))
}
