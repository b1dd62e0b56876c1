package api

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// The login portal: the pages a person with a browser signs in and out
// on, and sees and ends their sessions on. Every node serves it under
// Config.Portal.Prefix (default /auth/), which the shipped proxy configs
// route to sessiond without auth_request; forward auth sends a browser
// without a session here with rd (authzRefuse), and reads the cookie the
// portal sets (credential.go). docs/deploy/README.md shows it for each
// proxy.
//
//	GET  {prefix}                  sign in, or "already signed in"
//	POST {prefix}signin            login, password, rd, db, remember_me
//	GET  {prefix}signout           asks; POST {prefix}signout signs out
//	GET  {prefix}signedout         the signed-out page
//	GET  {prefix}account           sessions and devices (portalaccount.go)
//	POST {prefix}account/signout   scope=session&id=… | others | all
//	POST {prefix}account/password  current, new, confirm
//	GET  {prefix}portal.css
//
// The knox dialect's POST /auth/login/ and friends sit under the default
// prefix too; the portal's names never collide with them.

// PortalConfig configures the portal (cmd/sessiond/portalflags.go).
type PortalConfig struct {
	// Prefix is the path the pages live under, starting and ending with
	// "/"; "" serves no portal.
	Prefix string
	// Cookies are the cookie domains; a request whose host none covers
	// gets a host-only cookie with Default's lifetimes.
	Cookies []CookieDomain
	Default CookieDomain
	// TemplateDir overrides the embedded pages by file name.
	TemplateDir string
}

// DefaultPortalPrefix is where the portal is served unless configured.
const DefaultPortalPrefix = "/auth/"

// portalDialect labels the portal's logins and logouts in metrics and
// the audit log.
const portalDialect = "portal"

// portalSessionName names portal sessions in listings.
const portalSessionName = "portal"

// pendingLogin is a sign-in whose password is verified and whose session
// does not exist yet. A second step (TOTP, passkeys) registered with
// addPortalStep gets it before any session is made, and calls
// finishSignIn once it is satisfied.
type pendingLogin struct {
	User     *fsm.User
	RD       string // as submitted; re-validated when followed
	Remember bool
	// after is a portal page to go to when RD is not followed, before the
	// domain's default redirect (the account page after a password change).
	after string
	// AMR is how the user proved who they are (0 = the password alone).
	AMR fsm.AMR
}

// portalStep runs after the password is verified; it returns true when it
// answered the request itself (showed its own page), false to let the
// sign-in go on.
type portalStep func(w http.ResponseWriter, r *http.Request, p *pendingLogin) (answered bool)

// addPortalStep appends a step between the password and the session.
func (s *Server) addPortalStep(st portalStep) { s.portalSteps = append(s.portalSteps, st) }

// page registers a portal route: instrumented like the API's routes, but
// not in the OpenAPI table (HTML pages, not the JSON API). Handler's
// cross-origin check (crossorigin.go) covers the POST routes: a form
// posted from another site (login CSRF included) is refused, with an HTML
// page (writeCrossOriginRefusal).
func (s *Server) page(pattern string, h http.HandlerFunc) {
	s.mux.Handle(pattern, s.instrument(pattern, h))
	if s.pagePattern == nil {
		s.pagePattern = map[string]bool{}
	}
	s.pagePattern[pattern] = true
}

// writeCrossOriginRefusal answers a cross-site request refused before routing: an HTML page on
// the portal's routes, the dialect's error elsewhere (writeErrorFor).
func (s *Server) writeCrossOriginRefusal(w http.ResponseWriter, r *http.Request, err error) {
	if _, pattern := s.mux.Handler(r); s.pagePattern[pattern] {
		s.renderError(w, lookupError(err).status, "This form was sent from another site, so it was refused. Open the page here and try again.")
		return
	}
	writeErrorFor(w, r, err)
}

func (s *Server) portalRoutes() error {
	p := s.cfg.Portal.Prefix
	if p == "" {
		return nil
	}
	if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{}* ") {
		return fmt.Errorf("portal prefix %q must start and end with / and hold no pattern characters", p)
	}
	pages, err := loadPortalPages(s.cfg.Portal.TemplateDir)
	if err != nil {
		return err
	}
	s.portal = pages
	s.page("GET "+p+"{$}", s.portalHome)
	s.page("POST "+p+"signin", s.portalSignIn)
	s.page("GET "+p+"signout", s.portalSignOutPage)
	s.page("POST "+p+"signout", s.portalSignOut)
	s.page("GET "+p+"signedout", s.portalSignedOut)
	s.page("GET "+p+"account", s.portalAccount)
	s.page("POST "+p+"account/signout", s.portalAccountSignOut)
	s.page("POST "+p+"account/password", s.portalChangePassword)
	s.page("GET "+p+"portal.css", s.serveCSS)
	s.portal2FARoutes()
	s.portalPasskeyRoutes() // passkeys (portalpasskeys.go)
	return nil
}

// portalPrincipal validates the request's portal cookie. No cookie is
// ErrNoCredentials.
func (s *Server) portalPrincipal(r *http.Request) (principal, error) {
	tok := s.portalToken(r)
	if tok == "" {
		return principal{}, ErrNoCredentials
	}
	return s.validateCredential(r, portalCredential(tok), kindsPortal)
}

// portalCredential is a portal cookie's token as a credential: a native
// session's 64 hex.
func portalCredential(tok string) credential {
	return credential{dialect: portalDialect, tok: tok, n: auth.TokenLen, kinds: kindsPortal}
}

var kindsPortal = kindsOf(fsm.KindNative)

// signedIn is portalPrincipal for a page: ok false when there is no valid
// session; an error page has been written when the node could not tell.
func (s *Server) signedIn(w http.ResponseWriter, r *http.Request) (p principal, ok, answered bool) {
	p, err := s.portalPrincipal(r)
	switch {
	case err == nil:
		return p, true, false
	case errors.Is(err, ErrNoCredentials), errors.Is(err, auth.ErrInvalidToken):
		return principal{}, false, false
	}
	s.portalFailure(w, err)
	return principal{}, false, true
}

// portalFailure shows an error that is not the user's: no leader, a
// timeout, a full pool.
func (s *Server) portalFailure(w http.ResponseWriter, err error) {
	st := lookupError(err).status
	if st < 500 {
		st = http.StatusServiceUnavailable
	}
	if ra := retryAfter(err); ra > 0 {
		w.Header().Set("Retry-After", fmt.Sprint(ra))
	}
	s.renderError(w, st, "The service cannot answer right now. Try again in a moment.")
}

// query reads a query parameter that may appear at most once.
func query(r *http.Request, name string) (string, error) {
	v := r.URL.Query()[name]
	switch {
	case len(v) > 1:
		return "", fmt.Errorf("%s is given more than once", name)
	case len(v) == 1 && len(v[0]) > maxRedirectLen:
		return "", fmt.Errorf("%s is too long", name)
	case len(v) == 1:
		return v[0], nil
	}
	return "", nil
}

// portalForm reads a urlencoded form body: any other content type is a
// 415, a body over the limit a 413, a field sent twice a 400. Only the
// body counts; the query string is not merged in.
func (s *Server) portalForm(w http.ResponseWriter, r *http.Request) (map[string]string, bool) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		s.renderError(w, http.StatusUnsupportedMediaType, "This page takes a form (application/x-www-form-urlencoded).")
		return nil, false
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			s.renderError(w, http.StatusRequestEntityTooLarge, "The form is too large.")
		} else {
			s.renderError(w, http.StatusBadRequest, "The form could not be read.")
		}
		return nil, false
	}
	out := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) != 1 {
			s.renderError(w, http.StatusBadRequest, "The field "+strconvQuote(k)+" is given more than once.")
			return nil, false
		}
		out[k] = v[0]
	}
	return out, true
}

// strconvQuote quotes a field name for a message, cut short.
func strconvQuote(k string) string {
	if len(k) > 40 {
		k = k[:40] + "…"
	}
	return fmt.Sprintf("%q", k)
}

// portalHome is the sign-in page, or for a signed-in browser the page it
// was sent here from (a valid rd) or the "already signed in" page.
func (s *Server) portalHome(w http.ResponseWriter, r *http.Request) {
	rd, err := query(r, "rd")
	if err != nil {
		s.renderError(w, http.StatusBadRequest, err.Error())
		return
	}
	target := s.redirectTarget(r, rd)
	if target == "" {
		rd = ""
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if reauth, _ := query(r, "reauth"); ok && reauth != "" {
		// Forward auth or the account page asks for a fresher sign-in
		// (a rule's max_age or two_factor, the step-up age): the form
		// again, whose new session replaces this one.
		s.showSignIn(w, r, http.StatusOK, pageData{RD: rd, Login: p.User.Login, DB: p.User.DB,
			Notice: "Sign in again to continue."})
		return
	}
	if ok {
		if target != "" {
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		s.render(w, http.StatusOK, "signedin.html", pageData{Title: "Already signed in", User: p.User.Login,
			Continue: s.cookieDomainFor(r).DefaultRedirect})
		return
	}
	s.showSignIn(w, r, http.StatusOK, pageData{RD: rd})
}

// showSignIn renders the sign-in form; a database menu appears only where
// several databases exist.
func (s *Server) showSignIn(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	d.Title = "Sign in"
	if dbs := s.svc.State().DBs(); len(dbs) > 1 {
		d.DBs = dbs
	}
	d.formActionHost = rdOrigin(s.redirectTarget(r, d.RD))
	if d.formActionHost == "" {
		d.formActionHost = rdOrigin(s.cookieDomainFor(r).DefaultRedirect)
	}
	_, err := s.relyingParty(r)
	d.PasskeyOK = err == nil // the passwordless button (portalpasskeys.go)
	s.render(w, status, "signin.html", d)
}

// portalSignIn checks the password, runs the second steps, then signs in.
func (s *Server) portalSignIn(w http.ResponseWriter, r *http.Request) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return
	}
	rd, login, password, db := f["rd"], f["login"], f["password"], f["db"]
	if len(rd) > maxRedirectLen {
		rd = ""
	}
	back := pageData{RD: rd, Login: clipForm(login), DB: clipForm(db)}
	if login == "" || password == "" {
		back.Error = "Enter your login and password."
		s.showSignIn(w, r, http.StatusBadRequest, back)
		return
	}
	remember, err := formBool(f["remember_me"])
	if err != nil {
		back.Error = err.Error()
		s.showSignIn(w, r, http.StatusBadRequest, back)
		return
	}
	u, err := s.svc.Authenticate(r.Context(), auth.Credentials{DB: db, Login: login, Password: password, ClientAddr: s.clientAddr(r)})
	if err != nil {
		s.metrics.login(portalDialect, err)
		s.audit(r, "login", portalDialect, nil, err)
		status, msg := signInFailure(err)
		if ra := retryAfter(err); ra > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(ra))
		}
		back.Error = msg
		s.showSignIn(w, r, status, back)
		return
	}
	pending := &pendingLogin{User: u, RD: rd, Remember: remember}
	for _, step := range s.portalSteps {
		if step(w, r, pending) {
			return
		}
	}
	s.finishSignIn(w, r, pending)
}

// signInFailure is the status and the message a person sees for a failed
// password check: one message for every wrong credential (no oracle for
// which logins exist).
func signInFailure(err error) (int, string) {
	switch {
	case isCredentialFailure(err), isUnusableCredential(err), errors.Is(err, auth.ErrUnknownDB), errors.Is(err, auth.ErrDBRequired):
		return http.StatusUnauthorized, "The login or password is wrong."
	case errors.Is(err, auth.ErrThrottled):
		return http.StatusTooManyRequests, "Too many attempts. Wait a little and try again."
	}
	st := lookupError(err).status
	if st < 500 {
		st = http.StatusServiceUnavailable
	}
	return st, "The service cannot sign you in right now. Try again in a moment."
}

// finishSignIn makes the session of a verified sign-in, sets its cookie,
// ends the session the browser held before (as Odoo rotates on login),
// and sends the browser on: to rd when it may be followed, else the
// domain's default redirect, else the account page.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, p *pendingLogin) {
	d := s.cookieDomainFor(r)
	ttl, idle := d.Expiration, d.Inactivity
	if p.Remember {
		// Idle = TTL keeps last-seen updated (the idle refresh) without
		// an inactivity limit shorter than remember-me.
		ttl, idle = d.RememberMe, d.RememberMe
	}
	addr := s.clientAddr(r)
	iss, err := s.svc.CreateSession(r.Context(), p.User, auth.SessionOptions{Kind: fsm.KindNative, TTL: ttl, Idle: idle,
		Name: portalSessionName, UserAgent: r.UserAgent(), ClientAddr: addr, AMR: p.AMR})
	s.auditLogin(r, portalDialect, p.User, iss, err)
	s.metrics.login(portalDialect, err)
	if err != nil {
		status, msg := signInFailure(err)
		s.showSignIn(w, r, status, pageData{RD: p.RD, Login: p.User.Login, Error: msg})
		return
	}
	s.endReplacedPortalSession(r)
	http.SetCookie(w, s.portalCookie(r, d, iss.Token, p.Remember))
	s.redirectOn(w, r, p.RD, p.after, d.DefaultRedirect, s.cfg.Portal.Prefix+"account")
}

// endReplacedPortalSession ends the session of the cookie a new sign-in
// replaces (a browser signing in again, or as someone else).
func (s *Server) endReplacedPortalSession(r *http.Request) {
	if old := s.portalToken(r); auth.ValidTokenSyntax(old, auth.TokenLen) {
		if sess, ok := s.svc.Session(auth.DigestToken(old)); ok && sess.UserID != 0 {
			if err := s.revokeToken(r, portalDialect, old); err != nil {
				s.log.Warn("ending the replaced portal session failed", "err", err)
			}
		}
	}
}

// redirectOn answers 303 to rd when it may be followed, else to the
// first non-empty fallback.
func (s *Server) redirectOn(w http.ResponseWriter, r *http.Request, rd string, fallbacks ...string) {
	target := s.redirectTarget(r, rd)
	for _, f := range fallbacks {
		if target == "" {
			target = f
		}
	}
	portalHeaders(w, "")
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// formBool reads a checkbox: absent or "" is false, "on", "true" or "1"
// true.
func formBool(v string) (bool, error) {
	switch v {
	case "":
		return false, nil
	case "on", "true", "1":
		return true, nil
	}
	return false, errors.New("remember_me must be on or absent")
}

// clipForm keeps a submitted value short enough to show back.
func clipForm(v string) string {
	if len(v) > 256 {
		return ""
	}
	return v
}

// portalSignOutPage asks before signing out (a GET changes nothing, so
// no link on another site can sign anyone out); signed out already, it
// goes to the signed-out page.
func (s *Server) portalSignOutPage(w http.ResponseWriter, r *http.Request) {
	rd, err := query(r, "rd")
	if err != nil {
		s.renderError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.redirectTarget(r, rd) == "" {
		rd = ""
	}
	p, ok, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if !ok {
		s.redirectOn(w, r, rd, s.cfg.Portal.Prefix+"signedout")
		return
	}
	s.render(w, http.StatusOK, "signedin.html", pageData{Title: "Sign out?", User: p.User.Login, RD: rd,
		formActionHost: rdOrigin(s.redirectTarget(r, rd))})
}

// portalSignOut ends this browser's session, clears its cookie and goes
// to rd (when it may be followed) or the signed-out page. Idempotent.
func (s *Server) portalSignOut(w http.ResponseWriter, r *http.Request) {
	f, ok := s.portalForm(w, r)
	if !ok {
		return
	}
	p, signed, answered := s.signedIn(w, r)
	if answered {
		return
	}
	if signed {
		if err := s.revokeSession(r, portalDialect, p); err != nil {
			s.portalFailure(w, err)
			return
		}
	}
	http.SetCookie(w, s.portalCookie(r, s.cookieDomainFor(r), "", false))
	s.redirectOn(w, r, f["rd"], s.cfg.Portal.Prefix+"signedout")
}

func (s *Server) portalSignedOut(w http.ResponseWriter, r *http.Request) {
	s.render(w, http.StatusOK, "signedout.html", pageData{Title: "Signed out"})
}

// portalURLFor is where forward auth sends a browser without a session:
// the login URL when one is configured, else the cookie domain's portal
// URL, else the prefix on the original request's own host (absolute when
// the host is known, so a proxy need not rewrite it), with the original
// URL as rd when it can be believed. An original URL that is the login
// page or under the portal prefix is never wrapped in another rd (the
// loop the shipped nginx.conf used to make).
func (s *Server) portalURLFor(r *http.Request) string {
	orig := s.originalURL(r)
	u, err := url.Parse(orig)
	if orig == "" || err != nil {
		u, orig = &url.URL{}, ""
	}
	base := s.cfg.AuthzLoginURL
	if base == "" {
		base = s.cfg.Portal.Prefix
		if u.Host != "" {
			base = u.Scheme + "://" + u.Host + s.cfg.Portal.Prefix
			if d := s.cookieDomainForHost(u.Host); d.PortalURL != "" {
				base = d.PortalURL
			}
		}
	}
	if b, err := url.Parse(base); err == nil && (u.Path == b.Path || s.cfg.Portal.Prefix != "" && strings.HasPrefix(u.Path+"/", s.cfg.Portal.Prefix)) {
		orig = ""
	}
	if orig == "" {
		return base
	}
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "rd=" + url.QueryEscape(orig)
}

// portalTime formats a time for the pages; 0 is "never".
func portalTime(ns int64, never string) string {
	if ns == 0 {
		return never
	}
	return time.Unix(0, ns).UTC().Format("2006-01-02 15:04 UTC")
}
