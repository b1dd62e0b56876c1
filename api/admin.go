package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

func (s *Server) adminRoutes() {
	s.handle("POST /v1/users", s.admin(s.createUser))
	s.handle("GET /v1/users", s.admin(s.listUsers))
	s.handle("GET /v1/users/{id}", s.admin(s.getUser))
	s.handle("PATCH /v1/users/{id}", s.admin(s.patchUser))
	s.handle("DELETE /v1/users/{id}", s.admin(s.deleteUser))
	s.handle("GET /v1/users/{id}/sessions", s.admin(s.userSessions))
	s.handle("DELETE /v1/users/{id}/sessions", s.admin(s.revokeUserSessions))
	s.handle("GET /v1/settings", s.operator(s.getSettings))
	s.handle("PATCH /v1/settings", s.operator(s.patchSettings))
	s.handle("GET /v1/cluster", s.operatorOrKey(s.clusterStatus))
	s.handle("POST /v1/cluster/join", s.operatorOrKey(s.clusterJoin))
	s.handle("DELETE /v1/cluster/nodes/{id}", s.operatorOrKey(s.clusterRemove))
	s.handle("POST /v1/cluster/nodes/{id}/promote", s.operatorOrKey(s.clusterSuffrage(true)))
	s.handle("POST /v1/cluster/nodes/{id}/demote", s.operatorOrKey(s.clusterSuffrage(false)))
	s.handle("GET /v1/cluster/snapshot", s.operatorOrKey(s.clusterBackup))
	s.handle("POST /v1/cluster/unlock", s.clusterUnlock)
	s.handle("POST /v1/cluster/operator", s.operatorOrKey(s.clusterOperator))
	s.handle("POST /v1/cluster/restore", s.operatorOrKey(s.clusterRestore))
	s.handle("POST /v1/cluster/restore/check", s.operatorOrKey(s.clusterRestoreCheck))
	// First run under systemd: the cluster key names the first admin of a
	// cluster bootstrapped without one (firstadmin.go).
	s.handle("POST /v1/cluster/first-admin", s.clusterFirstAdmin)
}

// clusterBackup streams a consistent snapshot (version header, checksum).
func (s *Server) clusterBackup(w http.ResponseWriter, r *http.Request) {
	// The headers are set first but sent only with the first byte: a
	// failed read barrier still answers with a JSON error.
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="sessiond.snap"`)
	w.Header().Set("Cache-Control", "no-store")
	if _, err := s.node.Backup(r.Context(), w); err != nil {
		if rw, ok := w.(*respWriter); ok && !rw.wrote {
			w.Header().Del("Content-Disposition")
			writeNativeError(w, err)
			return
		}
		s.log.Warn("backup stream failed", "err", err)
	}
}

// admin wraps a handler that needs an admin's Bearer token.
func (s *Server) admin(h func(http.ResponseWriter, *http.Request, principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.adminAuth(r)
		if err != nil {
			writeNativeError(w, err)
			return
		}
		h(w, r, p)
	}
}

type createUserBody struct {
	DB           string `json:"db"`
	Login        string `json:"login"`
	Password     string `json:"password"`
	PasswordHash string `json:"password_hash"`
	Email        string `json:"email"`
	Name         string `json:"name"`
	CompanyID    uint64 `json:"company_id"`
	CompanyName  string `json:"company_name"`
	Admin        bool   `json:"admin"`
	Operator     bool   `json:"operator"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, p principal) {
	var in createUserBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Login == "" || (in.Password == "") == (in.PasswordHash == "") {
		writeNativeError(w, fieldError(ErrMissingField, "login and exactly one of password or password_hash are required"))
		return
	}
	if len(in.Email) > 254 || len(in.Name) > 256 || len(in.CompanyName) > 256 {
		writeNativeError(w, fieldError(ErrBadField, "email, name or company_name too long"))
		return
	}
	db, err := scopeDB(p, in.DB)
	if err != nil || (in.Operator && !isOperator(p)) {
		writeNativeError(w, ErrForbidden)
		return
	}
	id, err := s.svc.CreateUser(r.Context(), auth.NewUser{
		DB: db, Operator: in.Operator, Login: in.Login, Password: in.Password, PasswordHash: in.PasswordHash,
		Email: in.Email, Name: in.Name, CompanyID: in.CompanyID, CompanyName: in.CompanyName, Admin: in.Admin,
	})
	s.auditAdmin(r, "user_create", p, id, err, "login", in.Login, "db", db)
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

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, p principal) {
	db, err := scopeDB(p, r.URL.Query().Get("db"))
	if err != nil {
		writeNativeError(w, err)
		return
	}
	out := []*userView{}
	for _, u := range s.svc.Users(db) {
		out = append(out, userJSON(u))
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
}

// pathUser parses {id} and finds the user, who must be in a db the
// caller manages; change also refuses an operator to a non-operator
// (canChangeUser).
func (s *Server) pathUser(r *http.Request, p principal, change bool) (*fsm.User, error) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		return nil, fieldError(ErrBadField, "user id must be a positive integer")
	}
	u, ok := s.svc.User(id)
	switch {
	case !ok && isOperator(p):
		return nil, fsm.ErrUserNotFound
	case !ok, !canManageDB(p, u.DB), change && !canChangeUser(p, u):
		// A tenant's admin learns nothing of other dbs' user ids.
		return nil, ErrForbidden
	}
	return u, nil
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, false)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u))
}

type patchUserBody struct {
	Name     *string `json:"name"`
	Email    *string `json:"email"`
	Password *string `json:"password"`
	Admin    *bool   `json:"admin"`
	Operator *bool   `json:"operator"`
	Disabled *bool   `json:"disabled"`
	Unlock   bool    `json:"unlock"`
	// EmailVerified: an admin vouches for (or withdraws) the address;
	// until then forward auth does not pass a self-registered one on.
	EmailVerified *bool `json:"email_verified"`
}

// patchUser changes a user. A new password or disabling ends every session
// of the user in the same command.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, true)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	var in patchUserBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if in.Operator != nil && !isOperator(p) {
		writeNativeError(w, ErrForbidden) // only an operator makes or unmakes one
		return
	}
	u, err = s.svc.UpdateUser(r.Context(), u.ID, auth.UserChanges{
		Name: in.Name, Email: in.Email, Password: in.Password, Admin: in.Admin, Disabled: in.Disabled,
		Operator: in.Operator, Unlock: in.Unlock, EmailVerified: in.EmailVerified,
	})
	if err != nil {
		writeNativeError(w, err)
		return
	}
	s.auditAdmin(r, "user_update", p, u.ID, nil)
	writeJSON(w, http.StatusOK, userJSON(u))
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, true)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	err = s.svc.DeleteUser(r.Context(), u.ID)
	s.auditAdmin(r, "user_delete", p, u.ID, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) userSessions(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, false)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": s.sessionList(u.ID, "")})
}

func (s *Server) revokeUserSessions(w http.ResponseWriter, r *http.Request, p principal) {
	u, err := s.pathUser(r, p, true)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	err = s.svc.RevokeAll(r.Context(), u.ID, "")
	s.auditAdmin(r, "user_revoke_sessions", p, u.ID, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// settingsJSON shows settings with durations in seconds.
type settingsJSON struct {
	SignupEnabled     *bool `json:"signup_enabled,omitempty"`
	TokenLimitPerUser *int  `json:"token_limit_per_user,omitempty"`
	// MaxSessions is the cap on one user's unexpired sessions of every
	// kind (fsm.Settings.MaxSessionsPerUser; 0 = unlimited).
	MaxSessions       *int   `json:"max_sessions_per_user,omitempty"`
	LockoutThreshold  *int   `json:"lockout_threshold,omitempty"`
	LockoutSeconds    *int64 `json:"lockout_seconds,omitempty"`
	OdooTTLSeconds    *int64 `json:"odoo_ttl_seconds,omitempty"`
	OdooIdleSeconds   *int64 `json:"odoo_idle_seconds,omitempty"`
	JWTTTLSeconds     *int64 `json:"jwt_ttl_seconds,omitempty"`
	KnoxTTLSeconds    *int64 `json:"knox_ttl_seconds,omitempty"`
	NativeTTLSeconds  *int64 `json:"native_ttl_seconds,omitempty"`
	NativeIdleSeconds *int64 `json:"native_idle_seconds,omitempty"`
	dialectSettingsJSON
}

// durFields pairs each JSON seconds field with the settings field it sets.
func durFields(in *settingsJSON, st *fsm.Settings) []struct {
	json **int64
	dst  *int64
} {
	return []struct {
		json **int64
		dst  *int64
	}{
		{&in.LockoutSeconds, &st.LockoutDuration}, {&in.OdooTTLSeconds, &st.OdooTTL},
		{&in.OdooIdleSeconds, &st.OdooIdle}, {&in.JWTTTLSeconds, &st.JWTTTL},
		{&in.KnoxTTLSeconds, &st.KnoxTTL}, {&in.NativeTTLSeconds, &st.NativeTTL},
		{&in.NativeIdleSeconds, &st.NativeIdle},
	}
}

func toSettingsJSON(st fsm.Settings) settingsJSON {
	out := settingsJSON{SignupEnabled: &st.SignupEnabled, TokenLimitPerUser: &st.TokenLimitPerUser,
		MaxSessions: &st.MaxSessionsPerUser, LockoutThreshold: &st.LockoutThreshold}
	for _, f := range durFields(&out, &st) {
		v := *f.dst / int64(time.Second)
		*f.json = &v
	}
	out.dialectSettingsJSON = toDialectSettings(st)
	return out
}

func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, _ principal) {
	writeJSON(w, http.StatusOK, toSettingsJSON(s.svc.Settings()))
}

func (s *Server) patchSettings(w http.ResponseWriter, r *http.Request, p principal) {
	var in settingsJSON
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	st := s.svc.Settings()
	if in.SignupEnabled != nil {
		st.SignupEnabled = *in.SignupEnabled
	}
	if v := in.TokenLimitPerUser; v != nil {
		if *v < 0 {
			writeNativeError(w, fieldError(ErrBadField, "token_limit_per_user must be >= 0"))
			return
		}
		st.TokenLimitPerUser = *v
	}
	if v := in.MaxSessions; v != nil {
		if *v < 0 {
			writeNativeError(w, fieldError(ErrBadField, "max_sessions_per_user must be >= 0 (0 = unlimited)"))
			return
		}
		st.MaxSessionsPerUser = *v
	}
	if v := in.LockoutThreshold; v != nil {
		if *v < 0 {
			writeNativeError(w, fieldError(ErrBadField, "lockout_threshold must be >= 0"))
			return
		}
		st.LockoutThreshold = *v
	}
	for _, f := range durFields(&in, &st) {
		if *f.json != nil {
			if **f.json < 0 || **f.json > 10*365*24*3600 {
				writeNativeError(w, fieldError(ErrBadField, "durations must be between 0 and 10 years in seconds"))
				return
			}
			*f.dst = **f.json * int64(time.Second)
		}
	}
	if err := in.dialectSettingsJSON.apply(&st, s.svc); err != nil {
		writeNativeError(w, err)
		return
	}
	st, err := s.svc.SetSettings(r.Context(), st)
	s.auditAdmin(r, "settings_update", p, 0, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(st))
}

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	withHash, err := boolParam(r, "hash")
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s.node.Status(withHash))
}

// clusterJoin adds a new member as a non-voter (promoted once caught up
// unless non_voter); a known id or Raft address is 409 member_exists and
// changes nothing (cluster.Node.Join).
func (s *Server) clusterJoin(w http.ResponseWriter, r *http.Request) {
	var in struct { // not cluster.JoinRequest: its self-join fields are no caller's to set
		ID       string `json:"id"`
		RaftAddr string `json:"raft_addr"`
		APIURL   string `json:"api_url"`
		NonVoter bool   `json:"non_voter"`
	}
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	if err := s.node.Join(r.Context(), cluster.JoinRequest{ID: in.ID, RaftAddr: in.RaftAddr, APIURL: in.APIURL, NonVoter: in.NonVoter}); err != nil {
		writeNativeError(w, err)
		return
	}
	s.log.Info("node joined", "node_id", in.ID, "raft_addr", in.RaftAddr)
	writeJSON(w, http.StatusOK, s.node.Status(false))
}

func (s *Server) clusterRemove(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := s.node.Remove(r.Context(), id); err != nil {
		writeNativeError(w, err)
		return
	}
	s.log.Info("node removed", "node_id", id)
	w.WriteHeader(http.StatusNoContent)
}

// clusterSuffrage promotes a non-voter or demotes a voter.
func (s *Server) clusterSuffrage(voter bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		if err := s.node.SetVoter(r.Context(), id, voter); err != nil {
			writeNativeError(w, err)
			return
		}
		s.log.Info("node suffrage changed", "node_id", id, "voter", voter)
		writeJSON(w, http.StatusOK, s.node.Status(false))
	}
}
