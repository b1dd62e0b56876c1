// Package webhook delivers the replicated event log (fsm/events.go) to
// subscribers: signed Standard Webhooks POSTs and OpenID Connect
// Back-Channel Logout tokens. The leader runs it; each subscription's
// cursor is replicated (fsm.AdvanceWebhooks), so a new leader resumes
// where the last committed cursor says, repeating at most what the old
// leader delivered after its last commit and skipping nothing.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// MaxURLLen bounds a target URL.
const MaxURLLen = 2048

// ErrBadURL is a target that is not an absolute http(s) URL of sane size.
var ErrBadURL = errors.New("webhook: url must be an absolute http or https URL of at most 2048 bytes, without user info or fragment")

// ErrPrivateTarget is a target on a loopback, private, link-local or
// otherwise internal address, refused unless the operator allowed them
// (--webhook-allow-private): a webhook must not become a way to make the
// cluster call its own network (SSRF).
var ErrPrivateTarget = errors.New("webhook: url resolves to a private, loopback or link-local address (allowed only with --webhook-allow-private)")

// CheckURL validates a target when it is registered: syntax, and, unless
// allowPrivate, every address its host resolves to. Delivery checks the
// address again at connect time (a name may resolve differently later).
func CheckURL(ctx context.Context, raw string, allowPrivate bool) error {
	if len(raw) > MaxURLLen {
		return ErrBadURL
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Fragment != "" || u.Opaque != "" {
		return ErrBadURL
	}
	if allowPrivate {
		return nil
	}
	host := u.Hostname()
	if ip, err := netip.ParseAddr(host); err == nil {
		if internal(ip) {
			return ErrPrivateTarget
		}
		return nil
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return ErrPrivateTarget
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("%w: host %q does not resolve", ErrBadURL, host)
	}
	for _, a := range addrs {
		if internal(a) {
			return ErrPrivateTarget
		}
	}
	return nil
}

// internal reports the addresses a webhook may not reach by default.
func internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsUnspecified() || ip.IsMulticast() || ip.IsInterfaceLocalMulticast() ||
		netip.MustParsePrefix("100.64.0.0/10").Contains(ip) || // carrier-grade NAT
		netip.MustParsePrefix("192.0.0.0/24").Contains(ip) ||
		netip.MustParsePrefix("64:ff9b::/96").Contains(ip) // NAT64 reaches IPv4 internals
}

// dialControl refuses, at connect time, an internal address: the check
// that counts, since DNS may answer differently at delivery than at
// registration (rebinding).
func dialControl(allowPrivate bool) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if internal(ap.Addr()) {
			return ErrPrivateTarget
		}
		return nil
	}
}
