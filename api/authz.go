package api

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/fsm"
)

// Forward auth (GET /v1/authz, any method): the endpoint nginx
// auth_request, Caddy forward_auth, Traefik forwardAuth and Envoy
// ext_authz call with a copy of each request's headers, so that an app
// behind the proxy is protected by the cluster without calling it itself.
// The token is found the way each dialect carries it and validated through
// the same functions the dialects use, at the node's consistency level; a
// 2xx lets the request through and the proxy copies the identity headers
// upstream. docs/deploy/README.md documents the headers, the rules file
// and the proxies' configurations.

// The identity headers of a 200. Values come from user-controlled fields
// (names, e-mails), so each goes through headerValue.
const (
	hdrUserID      = "X-Sessiond-User-Id"
	hdrLogin       = "X-Sessiond-Login"
	hdrEmail       = "X-Sessiond-Email"
	hdrName        = "X-Sessiond-Name"
	hdrDB          = "X-Sessiond-Db"
	hdrAdmin       = "X-Sessiond-Admin"
	hdrSessionID   = "X-Sessiond-Session-Id"
	hdrSessionKind = "X-Sessiond-Session-Kind"
	// Authelia's names, which many apps read (Grafana, Gitea, …).
	hdrRemoteUser   = "Remote-User"
	hdrRemoteEmail  = "Remote-Email"
	hdrRemoteName   = "Remote-Name"
	hdrRemoteGroups = "Remote-Groups"
)

// authzHeaders are the identity headers in the order authz fills them.
var authzHeaders = [...]string{hdrUserID, hdrLogin, hdrEmail, hdrName, hdrDB, hdrAdmin, hdrSessionID, hdrSessionKind,
	hdrRemoteUser, hdrRemoteEmail, hdrRemoteName, hdrRemoteGroups}

// authzModeAuthRequest is ?mode=auth_request: nginx's auth_request turns
// any status but 2xx, 401 and 403 into a 500, so for it the login redirect
// is a 401 carrying Location (nginx: auth_request_set + error_page 401).
const authzModeAuthRequest = "auth_request"

// authz is the forward-auth handler. It reads no body: the proxies send
// none, and a validation must not wait for one.
func (s *Server) authz(w http.ResponseWriter, r *http.Request) {
	p, err := s.authzPrincipal(r)
	if err == nil {
		err = s.authzRules(r, p)
	}
	noStore(w)
	if err != nil {
		s.authzRefuse(w, r, err)
		return
	}
	u, sess := p.User, p.Session
	h := w.Header()
	id := strconv.FormatUint(u.ID, 10)
	login, email, name := headerValue(u.Login), headerValue(authzEmail(u)), headerValue(displayName(u))
	groups, admin := "users", "false"
	if u.Admin {
		groups, admin = "admins", "true"
	}
	// One backing array for the twelve values: one allocation, not twelve
	// (each header gets a full-capacity slice, so nothing can append into
	// its neighbour's value).
	v := [...]string{id, login, email, name, headerValue(u.DB), admin, headerValue(auth.PublicID(sess)), sess.Kind.String(),
		login, email, name, groups}
	vals := v[:]
	for i, k := range authzHeaders {
		h[k] = vals[i : i+1 : i+1]
	}
	w.WriteHeader(http.StatusOK)
}

// authzPrincipal finds the caller's token as each dialect carries it
// (credential.go): Authorization Bearer (native, or an Odoo RESTful JWT),
// Authorization Token (knox), then the Odoo X-Openerp-Session-Id header
// or session_id cookie. An Authorization header of another scheme (Basic,
// meant for the app) is not a sessiond credential and is passed over; a
// sessiond scheme with a bad token is refused, never retried with the
// cookie.
func (s *Server) authzPrincipal(r *http.Request) (principal, error) {
	p, _, err := s.authenticate(r, authzCarriers, kindsAny)
	return p, err
}

// authzRefuse answers a refused forward-auth request: 503 with Retry-After
// when the node cannot tell (the proxy's upstream pool moves on to another
// node), 403 for a rule, 401 with WWW-Authenticate otherwise, or, when a
// login URL is configured and the original request wants HTML, a redirect
// to it carrying the original URL.
func (s *Server) authzRefuse(w http.ResponseWriter, r *http.Request, err error) {
	st := lookupError(err).status
	if errors.Is(err, auth.ErrNoSigningKey) {
		st = http.StatusServiceUnavailable
	}
	switch {
	case st == http.StatusServiceUnavailable:
		writeNativeError(w, err)
		return
	case st == http.StatusForbidden:
		writeNativeError(w, err)
		return
	}
	stepUp := errors.Is(err, ErrStepUp) // a rule's two_factor or max_age (authzstepup.go)
	if !errors.Is(err, ErrNoCredentials) && !stepUp {
		err = ErrInvalidToken // expired, revoked, unknown, malformed, inactive: one answer
	}
	if (s.cfg.AuthzLoginURL != "" || s.cfg.Portal.Prefix != "") && wantsHTML(r) {
		loc := s.loginRedirect(r)
		if stepUp {
			loc = withReauth(loc)
		}
		w.Header().Set("Location", loc)
		if r.URL.Query().Get("mode") != authzModeAuthRequest {
			w.WriteHeader(http.StatusFound)
			return
		}
	}
	writeNativeError(w, err)
}

// wantsHTML reports a browser navigation: the original request's Accept
// names text/html (proxies forward it with the other headers).
func wantsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		if strings.Contains(strings.ToLower(v), "text/html") {
			return true
		}
	}
	return false
}

// loginRedirect is the login URL (or the portal's) with the original
// URL as ?rd= when that URL can be believed (the caller is a trusted
// proxy) and names an allowed host; otherwise the bare login URL. So
// nobody can make the login page send a user on to a site of their
// choosing (api/portal.go, portalURLFor).
func (s *Server) loginRedirect(r *http.Request) string { return s.portalURLFor(r) }

// redirectHostAllowed: host[:port] is one of --authz-redirect-hosts (an
// entry with a port matches that port only), or, with the portal on and
// no external login URL, any host: the rd then goes to the portal on that
// very host (or its cookie domain's), which checks it again before it
// follows it (portalredirect.go).
func (s *Server) redirectHostAllowed(host string) bool {
	if s.cfg.Portal.Prefix != "" && s.cfg.AuthzLoginURL == "" && host != "" {
		return true
	}
	return s.redirectHostListed(host, "https") || s.redirectHostListed(host, "http")
}

// authzEmail is the user's e-mail, else a login that is an address, else
// "" (userEmail's rule, as a string); "" while the address is unverified
// (a self-registration's, finding N13): apps such as Grafana's auth proxy
// and Gitea link accounts by Remote-Email, and would log the registrant
// in as the address's owner.
func authzEmail(u *fsm.User) string {
	if u.EmailUnverified {
		return ""
	}
	if e, ok := userEmail(u).(string); ok {
		return e
	}
	return ""
}

// headerValue makes a user-controlled string safe as a header value:
// control characters (CR and LF above all, which would split the header)
// become spaces. The common case allocates nothing.
func headerValue(v string) string {
	if !strings.ContainsFunc(v, isCTL) {
		return v
	}
	return strings.Map(func(c rune) rune {
		if isCTL(c) {
			return ' '
		}
		return c
	}, v)
}

func isCTL(c rune) bool { return c < 0x20 || c == 0x7f }
