package api

import (
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The account page ({prefix}account): every session and token of the
// signed-in user, of every dialect, with the current one marked, and the
// ways to end them. Last seen is the session's LastRefresh, which the idle
// refresh already moves at most once per RefreshEvery (auth.Validate):
// showing it costs no write per request. A session id that is not one of
// the user's own is a 404, so the page cannot probe other accounts.

// sessionRow is one line of the sessions table.
type sessionRow struct {
	ID, Device, Kind           string
	Created, LastSeen, Expires string
	From                       string
	Current                    bool
	created                    int64
}

// accountNotices are the messages a redirect back to the account page
// may ask for (?done=…): fixed texts, so nothing in the URL is shown.
var accountNotices = map[string]string{
	"session":  "That device is signed out.",
	"others":   "Every other device is signed out.",
	"password": "Your password is changed, and every other device is signed out.",
	// Passkeys (portalpasskeys.go).
	"passkey":         "Your passkey is added.",
	"passkey-renamed": "The passkey is renamed.",
	"passkey-removed": "The passkey is removed.",
}

// portalAccount shows the account page; a browser without a session is
// sent to sign in and brought back.
func (s *Server) portalAccount(w http.ResponseWriter, r *http.Request) {
	done, err := query(r, "done")
	if err != nil {
		s.renderError(w, http.StatusBadRequest, err.Error())
		return
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if !ok {
		portalHeaders(w, "")
		http.Redirect(w, r, s.cfg.Portal.Prefix+"?rd="+url.QueryEscape(s.cfg.Portal.Prefix+"account"), http.StatusSeeOther)
		return
	}
	// What the person did a moment ago went through whichever node the
	// balancer picked (a key begun, a passkey added): catch up before
	// showing it (a read index, no write; without a leader, after at most
	// two seconds, the page shows this node's view).
	s.svc.CatchUpBriefly(r.Context())
	s.showAccount(w, r, http.StatusOK, p, pageData{Notice: accountNotices[done]})
}

func (s *Server) showAccount(w http.ResponseWriter, r *http.Request, status int, p principal, d pageData) {
	d.Title, d.User = "Your account", p.User.Login
	d.Factor = s.factorSection(p.User, d.codes, d.newAppPassword)
	if _, err := s.relyingParty(r); err == nil {
		d.PasskeyOK = true
		keys := s.svc.Passkeys(p.User.ID)
		for i := range keys {
			d.Passkeys = append(d.Passkeys, passkeyJSON(&keys[i]))
		}
	}
	for _, sess := range s.svc.LiveSessions(p.User.ID) {
		d.Sessions = append(d.Sessions, sessionRowOf(sess, sess.ID == p.Session.ID))
	}
	slices.SortStableFunc(d.Sessions, func(a, b sessionRow) int {
		switch {
		case a.Current != b.Current:
			if a.Current {
				return -1
			}
			return 1
		case a.created > b.created:
			return -1
		case a.created < b.created:
			return 1
		}
		return 0
	})
	s.render(w, status, "account.html", d)
}

func sessionRowOf(sess *fsm.Session, current bool) sessionRow {
	kind := sess.Kind.String()
	if sess.Kind == fsm.KindNative && sess.Name == portalSessionName {
		kind = "browser"
	} else if sess.Name != "" {
		kind += " (" + sess.Name + ")"
	}
	return sessionRow{ID: auth.PublicID(sess), Device: deviceLabel(sess.UserAgent), Kind: kind,
		Created: portalTime(sess.Created, "unknown"), LastSeen: portalTime(sess.LastRefresh, "unknown"),
		Expires: portalTime(sess.ExpiresAt, "never"), From: sess.ClientAddr, Current: current, created: sess.Created}
}

// portalAccountSignOut ends one session (scope=session, id=…), every
// other one (scope=others: never the current), or all of them
// (scope=all, this browser too).
func (s *Server) portalAccountSignOut(w http.ResponseWriter, r *http.Request) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if !ok {
		s.renderError(w, http.StatusUnauthorized, "You are not signed in.")
		return
	}
	back := s.cfg.Portal.Prefix + "account?done="
	switch f["scope"] {
	case "session":
		id := f["id"]
		if !auth.ValidTokenSyntax(id, auth.IDLen) {
			s.renderError(w, http.StatusBadRequest, "The session id must be 32 hex characters.")
			return
		}
		if !s.ownsSession(p.User.ID, id) {
			s.renderError(w, http.StatusNotFound, "You have no such session.")
			return
		}
		if id == auth.PublicID(p.Session) {
			s.signOutHere(w, r, p)
			return
		}
		err := s.svc.RevokeByID(r.Context(), p.User.ID, id)
		s.metrics.logout(portalDialect, "logout", err)
		s.audit(r, "logout", portalDialect, p.User, err)
		if err != nil {
			s.accountFailure(w, err)
			return
		}
		s.redirectOn(w, r, "", back+"session")
	case "others":
		if err := s.revokeAll(r, portalDialect, p, true); err != nil {
			s.accountFailure(w, err)
			return
		}
		s.redirectOn(w, r, "", back+"others")
	case "all":
		if err := s.revokeAll(r, portalDialect, p, false); err != nil {
			s.accountFailure(w, err)
			return
		}
		http.SetCookie(w, s.portalCookie(r, s.cookieDomainFor(r), "", false))
		s.redirectOn(w, r, "", s.cfg.Portal.Prefix+"signedout")
	default:
		s.renderError(w, http.StatusBadRequest, "scope must be session, others or all.")
	}
}

// ownsSession reports whether the user has a live session with public id
// id (from the local state: a session this node has not seen yet cannot
// be shown on the page either).
func (s *Server) ownsSession(uid uint64, id string) bool {
	for _, sess := range s.svc.LiveSessions(uid) {
		if auth.PublicID(sess) == id {
			return true
		}
	}
	return false
}

// signOutHere ends the current session and clears its cookie.
func (s *Server) signOutHere(w http.ResponseWriter, r *http.Request, p principal) {
	if err := s.revokeSession(r, portalDialect, p); err != nil {
		s.accountFailure(w, err)
		return
	}
	http.SetCookie(w, s.portalCookie(r, s.cookieDomainFor(r), "", false))
	s.redirectOn(w, r, "", s.cfg.Portal.Prefix+"signedout")
}

// accountFailure shows an account action's error: a session gone since
// the page was drawn is a 404, anything else the node's failure.
func (s *Server) accountFailure(w http.ResponseWriter, err error) {
	if errors.Is(err, fsm.ErrSessionNotFound) {
		s.renderError(w, http.StatusNotFound, "You have no such session.")
		return
	}
	s.portalFailure(w, err)
}

// portalChangePassword checks the current password, sets the new one
// (which ends every session of the user at one index, the replicated
// rule), then signs this browser in again so only the other devices are
// signed out.
func (s *Server) portalChangePassword(w http.ResponseWriter, r *http.Request) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if !ok {
		s.renderError(w, http.StatusUnauthorized, "You are not signed in.")
		return
	}
	if s.portalStepUp(w, r, p) { // a sign-in older than the step-up age signs in again first
		return
	}
	current, next, confirm := f["current"], f["new"], f["confirm"]
	fail := func(status int, msg string) { s.showAccount(w, r, status, p, pageData{Error: msg}) }
	switch {
	case current == "" || next == "" || confirm == "":
		fail(http.StatusBadRequest, "Enter your current password and the new one twice.")
		return
	case next != confirm:
		fail(http.StatusBadRequest, "The two new passwords differ.")
		return
	}
	u, err := s.svc.Authenticate(r.Context(), auth.Credentials{DB: p.User.DB, Login: p.User.Login, Password: current, ClientAddr: s.clientAddr(r)})
	if err == nil && u.ID != p.User.ID {
		err = auth.ErrBadCredentials
	}
	if err != nil {
		st, msg := signInFailure(err)
		if st == http.StatusUnauthorized {
			st, msg = http.StatusForbidden, "The current password is wrong."
		}
		fail(st, msg)
		return
	}
	if err := s.svc.SetPassword(r.Context(), p.User.ID, next); err != nil {
		if st := lookupError(err).status; st == http.StatusBadRequest || st == http.StatusUnprocessableEntity {
			fail(st, "The new password is not accepted: "+err.Error())
			return
		}
		s.portalFailure(w, err)
		return
	}
	s.audit(r, "password_change", portalDialect, p.User, nil)
	// Every session ended with the change; this browser signs in again
	// once this node has applied it (the user's version moved), keeping
	// how it had proved who it is (a second factor stays satisfied).
	if err := s.svc.CatchUp(r.Context()); err != nil {
		s.portalFailure(w, err)
		return
	}
	fresh, ok := s.svc.User(p.User.ID)
	if !ok {
		s.renderError(w, http.StatusNotFound, "Your account is gone.")
		return
	}
	s.finishSignIn(w, r, &pendingLogin{User: fresh, AMR: p.Session.AMR, after: s.cfg.Portal.Prefix + "account?done=password",
		Remember: p.Session.ExpiresAt-p.Session.Created > int64(s.cookieDomainFor(r).Expiration)})
}
