package api

import (
	"net/http"
	"net/url"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// App passwords on /v1 and the account page (auth/apppasswords.go): for
// clients of the seed dialects, which cannot carry a second factor.
// Making or revoking one needs a recent sign-in (stepUp).
func (s *Server) appPasswordRoutes() {
	s.handle("GET /v1/me/app-passwords", s.listAppPasswords)
	s.handle("POST /v1/me/app-passwords", s.createAppPassword)
	s.handle("DELETE /v1/me/app-passwords/{id}", s.deleteAppPassword)
	if p := s.cfg.Portal.Prefix; p != "" {
		s.page("POST "+p+"account/app-passwords", s.portalCreateAppPassword)
		s.page("POST "+p+"account/app-passwords/revoke", s.portalRevokeAppPassword)
	}
}

// appPasswordView shows an app password: never its secret or digest.
type appPasswordView struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Created any    `json:"created"`
}

func appPasswordsJSON(aps []fsm.AppPassword) []appPasswordView {
	out := make([]appPasswordView, 0, len(aps))
	for _, ap := range aps {
		out = append(out, appPasswordView{ID: ap.ID, Name: ap.Name, Created: unixOrNil(ap.Created)})
	}
	return out
}

func (s *Server) listAppPasswords(w http.ResponseWriter, r *http.Request) {
	p, err := s.nativeAuth(r)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"app_passwords": appPasswordsJSON(s.svc.AppPasswords(p.User.ID))})
}

type namedBody struct {
	Name string `json:"name"`
}

func (s *Server) createAppPassword(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	var in namedBody
	if err := decodeJSON(r, &in); err != nil {
		writeNativeError(w, err)
		return
	}
	iss, err := s.svc.CreateAppPassword(r.Context(), p.User, in.Name)
	s.audit(r, "app_password_create", "native", p.User, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	noStore(w)
	writeJSON(w, http.StatusCreated, map[string]any{"password": iss.Secret,
		"app_password": appPasswordView{ID: iss.ID, Name: iss.Name, Created: unixOrNil(iss.Created)}})
}

func (s *Server) deleteAppPassword(w http.ResponseWriter, r *http.Request) {
	p, ok := s.steppedUp(w, r)
	if !ok {
		return
	}
	ok, err := s.svc.RevokeAppPassword(r.Context(), p.User.ID, r.PathValue("id"))
	s.audit(r, "app_password_revoke", "native", p.User, err)
	switch {
	case err != nil:
		writeNativeError(w, err)
	case !ok:
		writeNativeError(w, ErrNotFound)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) portalCreateAppPassword(w http.ResponseWriter, r *http.Request) {
	f, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	if s.svc.EnrolOnly(p.User, p.Session) { // enrol.go: /v1 refuses it the same way
		s.showAccount(w, r, http.StatusForbidden, p, pageData{Error: "Set up two-step sign-in first, and sign in with it: the operator requires it for this account."})
		return
	}
	iss, err := s.svc.CreateAppPassword(r.Context(), p.User, f["name"])
	s.audit(r, "app_password_create", portalDialect, p.User, err)
	switch {
	case err == nil:
		s.showAccount(w, r, http.StatusOK, p, pageData{Notice: "App password " + iss.Name + " made. Copy it now: it is shown only once.", newAppPassword: iss.Secret})
	case lookupError(err).status < 500:
		s.showAccount(w, r, http.StatusBadRequest, p, pageData{Error: "The app password is not made: " + err.Error()})
	default:
		s.portalFailure(w, err)
	}
}

func (s *Server) portalRevokeAppPassword(w http.ResponseWriter, r *http.Request) {
	f, p, ok := s.accountAction(w, r)
	if !ok {
		return
	}
	found, err := s.svc.RevokeAppPassword(r.Context(), p.User.ID, f["id"])
	s.audit(r, "app_password_revoke", portalDialect, p.User, err)
	if err != nil {
		s.portalFailure(w, err)
		return
	}
	if !found {
		s.showAccount(w, r, http.StatusNotFound, p, pageData{Error: "No such app password."})
		return
	}
	portalHeaders(w, "")
	http.Redirect(w, r, s.cfg.Portal.Prefix+"account?done="+url.QueryEscape("app_password"), http.StatusSeeOther)
}

func init() {
	accountNotices["app_password"] = "The app password is revoked."
	errorTable = append(errorTable, struct {
		err error
		apiError
	}{auth.ErrBadAppPasswordName, apiError{400, "invalid_field"}})
}
