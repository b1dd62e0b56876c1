package api

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Where the portal may send a browser after sign-in or sign-out (the rd
// parameter). Open redirects are the classic hole of forward-auth portals
// (oauth2-proxy CVE-2020-5233, GHSA-j7px-6hwj-hpjg; go-oauth2 #298), so
// rd is judged on its bytes before it is parsed, and on the parsed URL
// after: TestRedirectTable walks the published bypass strings through
// sign-in and sign-out.
//
// An rd is followed only when all of these hold:
//   - it is printable ASCII without space or backslash, at most
//     maxRedirectLen bytes, and has no percent-encoded control character
//     or backslash, nor an encoded slash where a decoder might read an
//     authority ("/%2F/evil.com");
//   - it is a path ("/x", resolved against the host the portal was asked
//     on) or an absolute URL with no user-info and a plain host[:port];
//   - its scheme is https, or http when the portal itself was reached over
//     plain http (no downgrade from a TLS portal);
//   - its host is the portal's own host, a host under a configured cookie
//     domain, or one of --authz-redirect-hosts (an entry with a port
//     matches that port only; without, any port);
//   - it is not the portal itself, so no page nests another rd.
//
// Anything else is dropped, and the browser goes to the default redirect.

const maxRedirectLen = 2048

// redirectTarget is rd as an absolute URL to follow, or "" when it must
// not be followed.
func (s *Server) redirectTarget(r *http.Request, rd string) string {
	if rd == "" || len(rd) > maxRedirectLen || !plainRedirectBytes(rd) {
		return ""
	}
	portalHost, scheme := s.portalHost(r), s.portalScheme(r)
	if strings.HasPrefix(rd, "/") {
		if len(rd) > 1 && (rd[1] == '/' || rd[1] == '\\') {
			return "" // "//evil.com" is an authority, not a path
		}
		rd = scheme + "://" + portalHost + rd
	}
	u, err := url.Parse(rd)
	if err != nil || u.Opaque != "" || u.User != nil || u.Host == "" || !strings.HasPrefix(rd, u.Scheme+"://"+u.Host) {
		return ""
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && scheme == "http":
	default:
		return ""
	}
	host := strings.ToLower(u.Host)
	if !plainHost(host) || strings.HasPrefix(strings.ToLower(u.EscapedPath()), "/%2f") {
		return "" // "/%2F/evil.com" is "//evil.com" to whoever decodes it first
	}
	if !s.redirectHostOK(host, u.Scheme, portalHost) {
		return ""
	}
	if s.isPortalURL(u, host, portalHost) {
		return ""
	}
	return u.String()
}

// plainRedirectBytes refuses what browsers or proxies may read
// differently from url.Parse: controls, space, backslash, non-ASCII
// (full-width dots and slashes fold to ASCII in a browser), and the
// percent-encoded forms of controls, backslash and slash.
func plainRedirectBytes(rd string) bool {
	for i := 0; i < len(rd); i++ {
		c := rd[i]
		if c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
		if c == '%' {
			if i+2 >= len(rd) {
				return false
			}
			v, err := strconv.ParseUint(rd[i+1:i+3], 16, 8)
			if err != nil || v < 0x20 || v == 0x7f || v == '\\' { // encoded UTF-8 (%C3%A9) is fine
				return false
			}
		}
	}
	return true
}

// plainHost accepts a lower-case DNS name or IPv4 address, or a bracketed
// IPv6 address, with an optional numeric port.
func plainHost(host string) bool {
	name, port := host, ""
	if strings.HasPrefix(host, "[") {
		i := strings.IndexByte(host, ']')
		if i < 0 {
			return false
		}
		name, port = host[:i+1], strings.TrimPrefix(host[i+1:], ":")
		if host[i+1:] != "" && !strings.HasPrefix(host[i+1:], ":") {
			return false
		}
	} else if i := strings.LastIndexByte(host, ':'); i >= 0 {
		name, port = host[:i], host[i+1:]
		if port == "" {
			return false
		}
	}
	for i := 0; i < len(port); i++ {
		if port[i] < '0' || port[i] > '9' {
			return false
		}
	}
	if name == "" || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.Contains(name, "..") {
		return false
	}
	if strings.HasPrefix(name, "[") {
		return strings.Trim(name, "[]0123456789abcdef:.") == ""
	}
	return strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789.-") == ""
}

// redirectHostOK says whether host[:port] may be sent to.
func (s *Server) redirectHostOK(host, scheme, portalHost string) bool {
	full := withDefaultPort(host, scheme)
	if full == withDefaultPort(portalHost, scheme) {
		return true
	}
	name := hostOnly(host)
	for _, d := range s.cfg.Portal.Cookies {
		if d.withDefaults().covers(name) {
			return true
		}
	}
	return s.redirectHostListed(host, scheme)
}

// redirectHostListed matches host[:port] against --authz-redirect-hosts:
// an entry with a port must match host and port (a default port may be
// left out of the URL), an entry without matches the host on any port.
func (s *Server) redirectHostListed(host, scheme string) bool {
	if host == "" {
		return false
	}
	full, name := withDefaultPort(host, scheme), hostOnly(host)
	for _, h := range s.cfg.AuthzRedirectHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if n, port := splitHost(h); port != "" {
			if withDefaultPort(h, scheme) == full {
				return true
			}
		} else if n == name {
			return true
		}
	}
	return false
}

// splitHost splits host[:port] ("[v6]:port" too) without failing:
// a host without a port has port "".
func splitHost(h string) (name, port string) {
	if strings.HasPrefix(h, "[") {
		i := strings.IndexByte(h, ']')
		if i < 0 {
			return h, ""
		}
		return h[1:i], strings.TrimPrefix(h[i+1:], ":")
	}
	if strings.Count(h, ":") == 1 {
		i := strings.IndexByte(h, ':')
		return h[:i], h[i+1:]
	}
	return h, ""
}

// withDefaultPort is name:port with the scheme's port where none is
// given, so "app:443" and "app" compare equal for https.
func withDefaultPort(host, scheme string) string {
	name, port := splitHost(host)
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return name + ":" + port
}

// isPortalURL reports an rd that points at the portal itself: any URL
// carrying its own rd under the prefix, and on the portal's host every
// page but the account page. Following it would nest rd in rd, the loop
// the shipped nginx.conf used to make.
func (s *Server) isPortalURL(u *url.URL, host, portalHost string) bool {
	p := s.cfg.Portal.Prefix
	if p == "" || !strings.HasPrefix(u.Path+"/", p) {
		return false
	}
	if u.Query().Has("rd") {
		return true
	}
	return host == portalHost && u.Path != p+"account"
}

// rdOrigin is scheme://host of an absolute URL, for the CSP form-action.
func rdOrigin(target string) string {
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
