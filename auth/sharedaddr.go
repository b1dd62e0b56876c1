package auth

// A client address can stand for many clients: a trusted proxy's own
// address, when it forwarded none (a load balancer without
// X-Forwarded-For, finding N6). Such an address must never become an
// account's "known network": once the owner had logged in through the
// proxy, everyone behind it would be known, and the guess budget would
// bind nobody. The API tells the service which addresses these are
// (api.Server: the trusted proxies); the per-address limiter still counts
// them, as one bucket.

// SetSharedAddr names the addresses that stand for many clients; nil
// names none (the default).
func (s *Service) SetSharedAddr(shared func(addr string) bool) {
	if shared == nil {
		s.sharedAddr.Store(nil)
		return
	}
	s.sharedAddr.Store(&shared)
}

// knownKey is the key an address is known to an account by (its limiter
// network), or "" for an address that stands for many clients: such a
// client is a stranger to every account and is remembered by none.
func (s *Service) knownKey(addr string) string {
	if f := s.sharedAddr.Load(); f != nil && (*f)(addr) {
		return ""
	}
	return limiterKey(addr)
}
