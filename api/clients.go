package api

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Service clients: the callers of POST /v1/introspect (introspect.go).
// An admin manages its own db's clients, the operator every client,
// the cluster-wide ones included (roles.go); a client's secret is shown
// once, in the answer that creates it.
func (s *Server) clientRoutes() {
	s.handle("POST /v1/clients", s.admin(s.createClient))
	s.handle("GET /v1/clients", s.admin(s.listClients))
	s.handle("DELETE /v1/clients/{id}", s.admin(s.deleteClient))
}

// clientJSON shows a client without its secret's digest.
func clientJSON(c fsm.Client) map[string]any {
	var db any
	if c.DB != "" {
		db = c.DB
	}
	return map[string]any{"id": c.ID, "name": c.Name, "db": db, "created": unixOrNil(c.Created)}
}

// createClient: {"name"?, "db"?} → 201 {"id", "secret", "name", "db",
// "created"}. Without db, the operator's client is cluster-wide (it may
// introspect the tokens of every db) and an admin's is bound to its db.
func (s *Server) createClient(w http.ResponseWriter, r *http.Request, p principal) {
	var in struct {
		Name string `json:"name"`
		DB   string `json:"db"`
		// BackchannelLogoutURI registers OpenID Connect Back-Channel
		// Logout for the client (events.go, docs/EVENTS.md).
		BackchannelLogoutURI string `json:"backchannel_logout_uri"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	db, err := scopeDB(p, in.DB)
	if err == nil && in.BackchannelLogoutURI != "" {
		err = s.checkWebhookURL(r, in.BackchannelLogoutURI)
	}
	if err != nil {
		writeNativeError(w, err)
		return
	}
	c, secret, err := s.svc.CreateClient(r.Context(), in.Name, db)
	if errors.Is(err, auth.ErrBadClientName) {
		err = fieldError(ErrBadField, "name is longer than 128 bytes")
	}
	if err != nil {
		s.auditAdmin(r, "client_create", p, 0, err, "name", in.Name)
		writeNativeError(w, err)
		return
	}
	s.auditAdmin(r, "client_create", p, 0, nil, "client_id", c.ID, "name", in.Name)
	if in.BackchannelLogoutURI != "" {
		err = s.svc.SetBackchannelLogout(r.Context(), c.ID, in.BackchannelLogoutURI)
		s.auditAdmin(r, "client_backchannel_logout", p, 0, err, "client_id", c.ID)
		if err != nil { // the client exists without it: delete it and retry
			writeNativeError(w, err)
			return
		}
	}
	s.log.Info("service client created", "client_id", c.ID, "db", c.DB)
	out := clientJSON(c)
	if in.BackchannelLogoutURI != "" {
		out["backchannel_logout_uri"] = in.BackchannelLogoutURI
	}
	out["secret"] = secret
	noStore(w)
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) listClients(w http.ResponseWriter, r *http.Request, p principal) {
	out := []map[string]any{}
	for _, c := range s.svc.Clients() {
		if isOperator(p) || (c.DB != "" && canManageDB(p, c.DB)) {
			out = append(out, clientJSON(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"clients": out})
}

func (s *Server) deleteClient(w http.ResponseWriter, r *http.Request, p principal) {
	id := r.PathValue("id")
	if !auth.ValidTokenSyntax(id, auth.IDLen) {
		writeNativeError(w, fieldError(ErrBadField, "client id must be 32 hex characters"))
		return
	}
	if !isOperator(p) {
		mine := false
		for _, c := range s.svc.Clients() {
			mine = mine || (c.ID == id && c.DB != "" && canManageDB(p, c.DB))
		}
		if !mine { // another db's, cluster-wide, or none: the same answer
			writeNativeError(w, ErrForbidden)
			return
		}
	}
	found, err := s.svc.DeleteClient(r.Context(), id)
	s.auditAdmin(r, "client_delete", p, 0, err, "client_id", id)
	switch {
	case err != nil:
		writeNativeError(w, err)
	case !found:
		writeNativeError(w, ErrNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}
