package api

import (
	"net/http"
	"net/url"
	"strings"
)

// The original request behind a forward-auth call. Proxies report it in
// two families of headers:
//
//  1. X-Original-URL: the whole URL (nginx snippets in Authelia's style),
//     or only its path and query;
//  2. X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri (Caddy
//     forward_auth, Traefik forwardAuth, the shipped nginx.conf).
//
// That is the documented order, and rules and redirects read the request
// through the same function (forwardedRequest). Both families are read,
// and where both name a part (scheme, host or target) they must agree:
// nginx auth_request and Caddy forward_auth pass every client header
// through, so the family the proxy does not set is whatever the client
// sent, and reading one before the other (the old code read them in
// opposite orders for rules and redirects) let a client's header choose
// the rule. A header sent twice, or a list where one value belongs, is as
// ambiguous. Nothing is read unless the peer is a trusted proxy.

const (
	hdrOriginalURL    = "X-Original-URL"
	hdrForwardedProto = "X-Forwarded-Proto"
	hdrForwardedHost  = "X-Forwarded-Host"
	hdrForwardedURI   = "X-Forwarded-Uri"
)

// origRequest is the original request as a trusted proxy reports it; a
// part is "" when no header names it. target is the raw request target
// (path and query, exactly as the client sent it).
type origRequest struct {
	scheme, host, target string
}

// errAmbiguousOrigin refuses a forward-auth request whose original-URL
// headers contradict each other. A 403, not a 400: nginx's auth_request
// turns any other refusal into a 500.
func errAmbiguousOrigin(why string) error {
	return fieldError(ErrForbidden, "ambiguous original request: "+why)
}

// forwardedRequest reads the original request from a trusted proxy's
// headers. ok is false when the peer is not a trusted proxy or sent none
// of them; err is set when they are ambiguous.
func (s *Server) forwardedRequest(r *http.Request) (o origRequest, ok bool, err error) {
	if !s.fromTrustedProxy(r) {
		return origRequest{}, false, nil
	}
	h := r.Header
	for _, k := range [...]string{hdrOriginalURL, hdrForwardedProto, hdrForwardedHost, hdrForwardedURI} {
		if len(h.Values(k)) > 1 {
			return origRequest{}, false, errAmbiguousOrigin(k + " sent more than once")
		}
	}
	if raw := h.Get(hdrOriginalURL); raw != "" {
		if o, err = splitOriginalURL(raw); err != nil {
			return origRequest{}, false, err
		}
	}
	proto, host, uri := h.Get(hdrForwardedProto), h.Get(hdrForwardedHost), h.Get(hdrForwardedURI)
	if strings.Contains(proto, ",") || strings.Contains(host, ",") {
		return origRequest{}, false, errAmbiguousOrigin("X-Forwarded-Proto and X-Forwarded-Host take one value")
	}
	if uri != "" && !strings.HasPrefix(uri, "/") {
		return origRequest{}, false, errAmbiguousOrigin("X-Forwarded-Uri must be a path starting with /")
	}
	for _, p := range [...]struct {
		have *string
		fwd  string
		name string
		fold bool
	}{{&o.scheme, proto, hdrForwardedProto, true}, {&o.host, host, hdrForwardedHost, true}, {&o.target, uri, hdrForwardedURI, false}} {
		switch {
		case p.fwd == "":
		case *p.have == "":
			*p.have = p.fwd
		case p.fold && strings.EqualFold(*p.have, p.fwd), !p.fold && *p.have == p.fwd:
		default:
			return origRequest{}, false, errAmbiguousOrigin("X-Original-URL and " + p.name + " disagree")
		}
	}
	o.scheme = strings.ToLower(o.scheme)
	return o, o != origRequest{}, nil
}

// splitOriginalURL splits X-Original-URL, an absolute http(s) URL or a
// bare path-and-query, without decoding anything: the target stays as the
// client sent it, for pathViews to judge.
func splitOriginalURL(raw string) (origRequest, error) {
	if strings.HasPrefix(raw, "/") && !strings.HasPrefix(raw, "//") {
		return origRequest{target: raw}, nil
	}
	scheme, rest, found := strings.Cut(raw, "://")
	if !found || (!strings.EqualFold(scheme, "http") && !strings.EqualFold(scheme, "https")) {
		return origRequest{}, errAmbiguousOrigin("X-Original-URL is neither an absolute http(s) URL nor a path")
	}
	host, target := rest, "/"
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		host, target = rest[:i], rest[i:]
		if target[0] != '/' {
			target = "/" + target
		}
	}
	if host == "" || strings.ContainsAny(host, "@\\") {
		return origRequest{}, errAmbiguousOrigin("X-Original-URL has no plain host")
	}
	return origRequest{scheme: scheme, host: host, target: target}, nil
}

// originalURL is the URL the client asked the proxy for, for a login
// redirect's rd, or "" when it cannot be believed: not from a trusted
// proxy, ambiguous headers, a target pathViews refuses, not http(s), or a
// host outside Config.AuthzRedirectHosts.
func (s *Server) originalURL(r *http.Request) string {
	o, ok, err := s.forwardedRequest(r)
	if !ok || err != nil || o.host == "" {
		return ""
	}
	if o.scheme == "" {
		o.scheme = "https"
	}
	if o.target == "" {
		o.target = "/"
	}
	if _, err := pathViews(o.target); err != nil {
		return ""
	}
	raw := o.scheme + "://" + o.host + o.target
	if strings.ContainsFunc(raw, isCTL) {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || !s.redirectHostAllowed(u.Host) {
		return ""
	}
	return u.String()
}
