package api

import (
	"net/http"
	"slices"
	"strings"
)

// Cross-site request forgery. A web page can make its visitors' browsers
// send a form or a no-cors fetch to sessiond, carrying their cookies
// (the Odoo dialect's session_id, the portal's) and reaching login
// (login CSRF: the victim is signed in as the attacker), logout, register
// and every other state-changing route. Go's http.CrossOriginProtection
// tells such requests apart by the headers browsers add and pages cannot
// forge: Sec-Fetch-Site (cross-site) or, from older browsers, an Origin
// whose host is not the request's Host. Requests with neither header come
// from programs (curl, SDKs, the Go client), not from a browser tricked
// by a third site, and pass. Safe methods (GET, HEAD, OPTIONS) always
// pass; they change nothing.
//
// Handler applies the check to every request before routing, so no route
// can be added without it, except the two that are not browser-reachable
// in this sense: /v1/authz (proxies copy the client's Origin and
// Sec-Fetch-Site into the forward-auth call for every request to the
// app) and /internal/ (node to node).

// errCrossOrigin refuses a cross-site browser request.
var errCrossOrigin = fieldError(ErrForbidden, "cross-origin request refused: this route accepts requests only from its own site's pages or from non-browser clients")

// crossOriginExempt reports a path the check does not cover (see above).
func crossOriginExempt(path string) bool {
	return path == "/v1/authz" || strings.HasPrefix(path, "/internal/")
}

// newCrossOrigin builds the node's protections: one for every route, and
// one for the JWT dialect that also trusts the origins configured for its
// CORS (Config.JWTCORSOrigins); nil when "*" is configured, the seed's
// behaviour, where any page may call it.
func newCrossOrigin(cfg Config) (all, jwt *http.CrossOriginProtection, err error) {
	all = http.NewCrossOriginProtection()
	if slices.Contains(cfg.JWTCORSOrigins, "*") {
		return all, nil, nil
	}
	jwt = http.NewCrossOriginProtection()
	for _, o := range cfg.JWTCORSOrigins {
		if err := jwt.AddTrustedOrigin(o); err != nil {
			return nil, nil, fieldError(ErrBadField, "JWT CORS origin "+o+": "+err.Error())
		}
	}
	return all, jwt, nil
}

// CrossOriginCheck returns errCrossOrigin for a cross-site browser
// request to a state-changing route, nil otherwise. Handler calls it for
// every request; a handler that renders its own refusal (an HTML page)
// can call it first and get the same verdict.
func (s *Server) CrossOriginCheck(r *http.Request) error {
	if crossOriginExempt(r.URL.Path) {
		return nil
	}
	cop := s.cop
	if strings.HasPrefix(r.URL.Path, "/api/") {
		if s.copJWT == nil {
			return nil
		}
		cop = s.copJWT
	}
	if cop.Check(r) != nil {
		return errCrossOrigin
	}
	return nil
}
