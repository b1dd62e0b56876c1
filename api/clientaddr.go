package api

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// clientAddr is the caller's address for throttling and the audit log.
// X-Forwarded-For is believed only when the connection comes from a
// trusted proxy (Config.TrustedProxies), and then only up to the last hop
// that is not itself trusted: the rightmost untrusted address is the
// client, so a client cannot pick its own address by sending the header.
func (s *Server) clientAddr(r *http.Request) string {
	peer := remoteIP(r.RemoteAddr)
	if !s.trusted(peer) {
		return addrString(peer, r.RemoteAddr)
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			ip, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return addrString(peer, r.RemoteAddr) // a garbled chain: trust none of it
			}
			ip = ip.Unmap()
			if !s.trusted(ip) {
				return ip.String()
			}
			peer = ip
		}
	}
	return addrString(peer, r.RemoteAddr) // every hop is a trusted proxy
}

// proxyOwnAddr reports an address that is a trusted proxy's own.
// clientAddr answers one only when the proxy forwarded no client address,
// and then it stands for every client behind that proxy: the login
// service never makes it an account's known network
// (auth.Service.SetSharedAddr, finding N6).
func (s *Server) proxyOwnAddr(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	return err == nil && s.trusted(ip.Unmap())
}

// fromTrustedProxy reports whether the connection comes from a trusted
// proxy, whose X-Forwarded-* headers may then be believed.
func (s *Server) fromTrustedProxy(r *http.Request) bool {
	return s.trusted(remoteIP(r.RemoteAddr))
}

func (s *Server) trusted(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}

func addrString(ip netip.Addr, fallback string) string {
	if ip.IsValid() {
		return ip.String()
	}
	return fallback
}

// ParseTrustedProxies parses "CIDR,CIDR,…" (a bare address is a /32 or
// /128) for Config.TrustedProxies.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			ip, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fieldError(ErrBadField, "trusted proxy "+f+" is not an address or CIDR")
			}
			out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fieldError(ErrBadField, "trusted proxy "+f+" is not an address or CIDR")
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// urlSecretParams are query parameters that would carry a credential or a
// token. A URL ends up in proxy and access logs, browser history and
// Referer headers, so no endpoint takes one there; the seeds put them in
// bodies and headers. The one exception is the Odoo dialect's session_id
// param, which its seed names (and docs/OPERATIONS.md warns about).
var urlSecretParams = []string{"password", "token", "access_token", "refresh_token", "client_secret", "session_id"}

// errURLSecret refuses a credential in the URL.
var errURLSecret = fieldError(ErrBadField, "credentials and tokens must not be sent in the URL query (it ends up in logs): send them in the body or a header")

// urlSecret reports a request whose query string carries a credential.
//
// Forward auth is not checked: it reads no credential from its query
// (authzCarriers), and behind Envoy, whose ext_authz appends the app's own
// path and query to /v1/authz?p=, the query is the app's URL, where a
// password-reset link's ?token= is the app's business.
func urlSecret(r *http.Request) bool {
	if r.URL.RawQuery == "" || r.URL.Path == "/v1/authz" {
		return false
	}
	q := r.URL.Query()
	for _, name := range urlSecretParams {
		if name == odooSIDParam && strings.HasPrefix(r.URL.Path, "/session/") {
			continue
		}
		if _, ok := q[name]; ok {
			return true
		}
	}
	return false
}

// writeErrorFor answers a request refused before routing in the shape of
// the dialect its path belongs to, so each dialect's clients can read it.
func writeErrorFor(w http.ResponseWriter, r *http.Request, err error) {
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/session/"):
		writeOdooError(w, err)
	case strings.HasPrefix(p, "/api/"):
		writeJWTError(w, err)
	case strings.HasPrefix(p, "/auth/"):
		writeKnoxError(w, r, err)
	default:
		writeNativeError(w, err)
	}
}
