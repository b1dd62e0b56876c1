package api

import (
	"net/http"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Passkeys on the portal's pages (issue 26): the account page lists,
// renames and removes keys with plain forms, and registers one with
// passkey.js (WebAuthn needs script); the sign-in page has a passwordless
// button. The script talks to the JSON routes below with the portal
// cookie; they share their ceremonies with /v1 (passkeys.go,
// passkeylogin.go). Cross-site posts are refused before routing
// (crossorigin.go), as for every page.

func (s *Server) portalPasskeyRoutes() {
	p := s.cfg.Portal.Prefix
	s.page("GET "+p+"passkey.js", s.servePasskeyJS)
	s.page("POST "+p+"account/passkeys/begin", s.passkeyRegisterBegin(s.portalSteppedUp))
	s.page("POST "+p+"account/passkeys/finish", s.passkeyRegisterFinish(s.portalSteppedUp))
	s.page("POST "+p+"account/passkeys/rename", s.portalPasskeyRename)
	s.page("POST "+p+"account/passkeys/remove", s.portalPasskeyRemove)
	s.page("POST "+p+"passkey/begin", s.passkeyLoginBegin)
	s.page("POST "+p+"passkey/finish", s.portalPasskeyLoginFinish)
	s.page("POST "+p+"signin/second/passkey/begin", s.portalSecondPasskeyBegin)
	s.page("POST "+p+"signin/second/passkey/finish", s.portalSecondPasskeyFinish)
}

// servePasskeyJS serves the pages' one script (the CSP allows 'self').
func (s *Server) servePasskeyJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(s.portal.js)
}

// portalSteppedUp is steppedUp for the script's calls: the portal
// cookie's session, recent enough to change a credential, or a JSON
// refusal (step_up_required sends the script to sign in again).
func (s *Server) portalSteppedUp(w http.ResponseWriter, r *http.Request) (principal, bool) {
	return s.steppedUpBy(w, r, s.portalPrincipal)
}

// portalPasskeyForm reads a rename or remove form: a recent sign-in and
// a passkey id (base64url).
func (s *Server) portalPasskeyForm(w http.ResponseWriter, r *http.Request) (map[string]string, principal, []byte, bool) {
	f, p, ok := s.accountAction(w, r)
	if !ok {
		return nil, p, nil, false
	}
	id, err := b64Passkey(f["id"])
	if err != nil {
		s.showAccount(w, r, http.StatusBadRequest, p, pageData{Error: "That is not one of your passkeys."})
		return nil, p, nil, false
	}
	return f, p, id, true
}

func (s *Server) portalPasskeyRename(w http.ResponseWriter, r *http.Request) {
	f, p, id, ok := s.portalPasskeyForm(w, r)
	if !ok {
		return
	}
	if f["name"] == "" {
		s.showAccount(w, r, http.StatusBadRequest, p, pageData{Error: "Give the passkey a name."})
		return
	}
	found, err := s.svc.RenamePasskey(r.Context(), p.User.ID, id, f["name"])
	s.passkeyFormDone(w, r, p, "passkey_rename", "passkey-renamed", found, err)
}

func (s *Server) portalPasskeyRemove(w http.ResponseWriter, r *http.Request) {
	_, p, id, ok := s.portalPasskeyForm(w, r)
	if !ok {
		return
	}
	found, err := s.svc.RemovePasskey(r.Context(), p.User.ID, id)
	s.passkeyFormDone(w, r, p, "passkey_remove", "passkey-removed", found, err)
}

func (s *Server) passkeyFormDone(w http.ResponseWriter, r *http.Request, p principal, event, done string, found bool, err error) {
	if err == nil && !found {
		err = ErrNotFound
	}
	s.audit(r, event, portalDialect, p.User, err)
	switch {
	case err == ErrNotFound:
		s.showAccount(w, r, http.StatusNotFound, p, pageData{Error: "That is not one of your passkeys."})
	case err != nil && lookupError(err).status == http.StatusBadRequest:
		s.showAccount(w, r, http.StatusBadRequest, p, pageData{Error: err.Error()})
	case err != nil:
		s.portalFailure(w, err)
	default:
		s.redirectOn(w, r, "", s.cfg.Portal.Prefix+"account?done="+done)
	}
}

// portalPasskeyLoginFinish signs the browser in with a passkey: the
// portal's cookie, as after a password (finishSignIn), and the place to
// go on to (rd when it may be followed) as JSON for the script.
func (s *Server) portalPasskeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	d := s.cookieDomainFor(r)
	iss, u, rd, err := s.passkeySignIn(r, auth.SessionOptions{Kind: fsm.KindNative, TTL: d.Expiration, Idle: d.Inactivity,
		Name: portalSessionName, UserAgent: r.UserAgent()})
	s.auditLogin(r, portalDialect, u, iss, err)
	s.metrics.login(portalDialect, err)
	if err != nil {
		writeNativeError(w, err)
		return
	}
	s.signedInJSON(w, r, d, iss.Token, false, rd, "")
}

// signedInJSON is finishSignIn's end for the script: the portal cookie
// (replacing the browser's previous session) and where to go on, as JSON.
func (s *Server) signedInJSON(w http.ResponseWriter, r *http.Request, d CookieDomain, tok string, remember bool, rd, after string) {
	s.endReplacedPortalSession(r)
	http.SetCookie(w, s.portalCookie(r, d, tok, remember))
	next := s.redirectTarget(r, rd)
	for _, f := range []string{after, d.DefaultRedirect, s.cfg.Portal.Prefix + "account"} {
		if next == "" {
			next = f
		}
	}
	noStore(w)
	writeJSON(w, http.StatusOK, map[string]string{"location": next})
}
