package auth

import (
	"math"
	"time"
)

// The registration budget: self-service sign-ups per client address,
// separate from the login limiter (issue 11: 40 registrations were
// accepted from one address in 4 s). Each account costs every replica
// memory and snapshot space for good, so the budget is charged for every
// attempt, accepted or not, before any hashing, and is far smaller than
// the login one: DefaultRegisterBurst in a row, then one every
// time.Hour/DefaultRegisterBurst (12 minutes). Like the login limiter it is
// per node and keys IPv6 clients by their /64.
const (
	DefaultRegisterBurst = 5
	DefaultRegisterRate  = float64(DefaultRegisterBurst) / 3600 // per second: 5 an hour
)

// DefaultRegisterLimiterConfig is 5 registrations per hour per address,
// burst 5, remembering at most 100000 addresses.
func DefaultRegisterLimiterConfig() AddrLimiterConfig {
	return AddrLimiterConfig{Rate: DefaultRegisterRate, Burst: DefaultRegisterBurst, MaxEntries: 100000}
}

// newRegisterLimiter builds the budget from cfg; a zero config (a
// ServiceConfig built by hand) means the defaults above, not the login
// limiter's.
func newRegisterLimiter(cfg AddrLimiterConfig) *AddrLimiter {
	if cfg == (AddrLimiterConfig{}) {
		cfg = DefaultRegisterLimiterConfig()
	}
	return NewAddrLimiter(cfg)
}

// Take charges addr one attempt at now if its bucket holds one, and
// reports whether it did; when it did not, retryAfter is the wait for the
// next. Unlike Allow-then-Fail, check and charge are one step, so N
// concurrent attempts from one address cannot all pass the check.
func (l *AddrLimiter) Take(addr string, now time.Time) (ok bool, retryAfter time.Duration) {
	key := limiterKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.entries[key]
	if !found {
		for l.order.Len() >= l.cfg.MaxEntries {
			l.remove(l.order.Back())
		}
		l.entries[key] = l.order.PushFront(&bucket{addr: key, tokens: float64(l.cfg.Burst) - 1, last: now})
		return true, 0
	}
	b := el.Value.(*bucket)
	tokens := l.refill(b, now)
	if now.After(b.last) {
		b.last = now
	}
	l.order.MoveToFront(el)
	if tokens < 1 {
		b.tokens = tokens
		wait := time.Duration((1 - tokens) / l.cfg.Rate * float64(time.Second))
		return false, max(wait, time.Nanosecond)
	}
	b.tokens = math.Max(0, tokens-1)
	return true, 0
}

// RegisterLimiter exposes the registration budget for metrics.
func (s *Service) RegisterLimiter() *AddrLimiter { return s.register }
