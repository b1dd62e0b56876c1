package api

import (
	"net/http"
	"strings"
)

// cookieSecure reports whether a cookie set in answer to r must be
// Secure: the request reached this node over TLS, or came through a
// trusted proxy (Config.TrustedProxies) that says the client's side was
// HTTPS (X-Forwarded-Proto: https, one value). A client's own
// X-Forwarded-Proto counts for nothing. Every cookie setter uses it, so a
// session cookie issued behind a TLS-terminating proxy never travels over
// plain HTTP later; a node reached over plain HTTP directly (a laptop,
// loopback) still gets a cookie the browser will send back.
func (s *Server) cookieSecure(r *http.Request) bool {
	if r.TLS != nil || s.cfg.TLS {
		return true
	}
	if !s.fromTrustedProxy(r) {
		return false
	}
	v := r.Header.Values(hdrForwardedProto)
	return len(v) == 1 && strings.EqualFold(strings.TrimSpace(v[0]), "https")
}
