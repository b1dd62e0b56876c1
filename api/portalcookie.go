package api

import (
	"net/http"
	"strings"
	"time"
)

// The login portal's cookies. A portal session is a native session like
// any other (listed, counted by logoutall, revocable, final on every node
// once revoked); its token travels in a cookie instead of an Authorization
// header, and forward auth reads that cookie (credential.go).
//
// The cookie is HttpOnly and SameSite=Lax always, Secure whenever the
// browser reached us over TLS (directly, or through a trusted proxy that
// says X-Forwarded-Proto: https). Its name carries the browser-enforced
// prefix that fits: __Host- for a host-only Secure cookie (no Domain, Path
// /), __Secure- for a Secure cookie with a Domain, the bare name over
// plain http. A prefixed cookie can only have been set over TLS, so it is
// read whatever the request's scheme; the bare name only on a plain-http
// request, so a cookie tossed from a sibling subdomain over http cannot
// stand in for the secure one.

const (
	portalCookieBare   = "sessiond"
	portalCookieHost   = "__Host-sessiond"
	portalCookieSecure = "__Secure-sessiond"
)

// CookieDomain is one entry of the portal's cookie list, in the shape
// Authelia's session.cookies has: one sign-in covers Domain and every
// subdomain of it.
type CookieDomain struct {
	// Domain is the cookie's Domain attribute ("example.com"); "" is the
	// host-only default entry.
	Domain string
	// PortalURL is where forward auth sends a browser without a session
	// for a host of this domain ("https://auth.example.com/auth/"); "" =
	// the portal prefix on the app's own host.
	PortalURL string
	// DefaultRedirect is where sign-in goes when no usable rd was given;
	// "" = the account page.
	DefaultRedirect string
	// Inactivity ends a session unused this long; Expiration ends it this
	// long after sign-in; RememberMe replaces both when the box is ticked
	// (and makes the cookie outlive the browser). 0 = the defaults below.
	Inactivity, Expiration, RememberMe time.Duration
}

// Defaults of a cookie domain's lifetimes (Authelia's are 5m/1h/1M; a
// working day is friendlier to people and still bounded).
const (
	DefaultPortalInactivity = 2 * time.Hour
	DefaultPortalExpiration = 12 * time.Hour
	DefaultPortalRememberMe = 30 * 24 * time.Hour
)

func (d CookieDomain) withDefaults() CookieDomain {
	if d.Inactivity <= 0 {
		d.Inactivity = DefaultPortalInactivity
	}
	if d.Expiration <= 0 {
		d.Expiration = DefaultPortalExpiration
	}
	if d.RememberMe <= 0 {
		d.RememberMe = DefaultPortalRememberMe
	}
	d.Domain = strings.ToLower(strings.TrimPrefix(d.Domain, "."))
	return d
}

// covers reports whether host (no port, lower case) is the domain or a
// subdomain of it. The dot is required: "evilexample.com" is not under
// "example.com" (go-oauth2 #298's suffix bug).
func (d CookieDomain) covers(host string) bool {
	return d.Domain != "" && (host == d.Domain || strings.HasSuffix(host, "."+d.Domain))
}

// cookieDomainFor is the entry whose domain covers the request's host,
// else the host-only default.
func (s *Server) cookieDomainFor(r *http.Request) CookieDomain {
	return s.cookieDomainForHost(s.portalHost(r))
}

// cookieDomainForHost is cookieDomainFor for a host[:port].
func (s *Server) cookieDomainForHost(host string) CookieDomain {
	name := hostOnly(strings.ToLower(host))
	for _, d := range s.cfg.Portal.Cookies {
		if d := d.withDefaults(); d.covers(name) {
			return d
		}
	}
	return s.cfg.Portal.Default.withDefaults()
}

// portalHost is the host (with port, lower case) the browser asked for:
// a trusted proxy's single X-Forwarded-Host, else the request's Host.
func (s *Server) portalHost(r *http.Request) string {
	if s.fromTrustedProxy(r) {
		if v := r.Header.Values(hdrForwardedHost); len(v) == 1 && v[0] != "" && !strings.Contains(v[0], ",") {
			return strings.ToLower(v[0])
		}
	}
	return strings.ToLower(r.Host)
}

// portalScheme is "https" or "http", as cookieSecure (cookiesecure.go) says.
func (s *Server) portalScheme(r *http.Request) string {
	if s.cookieSecure(r) {
		return "https"
	}
	return "http"
}

// hostOnly strips a port (and IPv6 brackets) from host.
func hostOnly(host string) string {
	name, _ := splitHost(host)
	return name
}

// portalCookie is the session cookie for d; tok "" clears it. remember
// makes it persistent (Max-Age); otherwise it ends with the browser.
func (s *Server) portalCookie(r *http.Request, d CookieDomain, tok string, remember bool) *http.Cookie {
	c := &http.Cookie{Name: portalCookieBare, Value: tok, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	if s.cookieSecure(r) {
		c.Secure = true
		c.Name = portalCookieHost
		if d.Domain != "" {
			c.Name, c.Domain = portalCookieSecure, d.Domain
		}
	} else if d.Domain != "" {
		c.Domain = d.Domain
	}
	switch {
	case tok == "":
		c.MaxAge = -1
	case remember:
		c.MaxAge = int(d.RememberMe / time.Second)
	}
	return c
}

// portalToken is the portal session token the request carries, or "".
// The prefixed names first; the bare name only over plain http.
func (s *Server) portalToken(r *http.Request) string {
	if r.Header.Get("Cookie") == "" {
		return ""
	}
	for _, name := range [...]string{portalCookieHost, portalCookieSecure} {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value
		}
	}
	if !s.cookieSecure(r) {
		if c, err := r.Cookie(portalCookieBare); err == nil && c.Value != "" {
			return c.Value
		}
	}
	return ""
}
