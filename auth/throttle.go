package auth

import (
	"container/list"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"
)

// AddrLimiterConfig tunes the per-client-address limit on failed logins
// and registrations.
type AddrLimiterConfig struct {
	// Rate is how many failed attempts per second an address earns back.
	// Default 1.
	Rate float64
	// Burst is how many failures an address may make in a row from a full
	// bucket. Default 10.
	Burst int
	// MaxEntries bounds memory: when a new address would exceed it, the
	// address whose last failure is oldest is forgotten. Default 100000.
	MaxEntries int
}

// DefaultAddrLimiterConfig returns Rate 1/s, Burst 10, MaxEntries 100000.
func DefaultAddrLimiterConfig() AddrLimiterConfig {
	return AddrLimiterConfig{Rate: 1, Burst: 10, MaxEntries: 100000}
}

// Validate wants a positive finite Rate, Burst and MaxEntries.
func (c AddrLimiterConfig) Validate() error {
	if !(c.Rate > 0) || math.IsInf(c.Rate, 0) || c.Burst < 1 || c.MaxEntries < 1 {
		return fmt.Errorf("%w: addr limiter wants Rate > 0, Burst >= 1, MaxEntries >= 1", ErrBadConfig)
	}
	return nil
}

// bucket is one address's token bucket. tokens is the count at last.
type bucket struct {
	addr   string
	tokens float64
	last   time.Time
}

// AddrLimiter is a token bucket per client address, charged only for
// failed attempts: Allow checks before any hashing, Fail charges after a
// failure. An address with a full bucket holds no memory. It is local to
// the node (not replicated): a client spread over N nodes gets N buckets,
// which is acceptable for a throttle; the replicated account lockout is
// the hard limit.
//
// Callers choose the address key; for IPv6 a /64 prefix is the sensible
// unit. An AddrLimiter is safe for concurrent use; its memory is bounded
// by MaxEntries.
type AddrLimiter struct {
	cfg AddrLimiterConfig

	mu      sync.Mutex
	entries map[string]*list.Element // of *bucket
	order   *list.List               // front = most recent failure
}

// NewAddrLimiter returns a limiter; a config that fails Validate is
// replaced field by field with defaults.
func NewAddrLimiter(cfg AddrLimiterConfig) *AddrLimiter {
	d := DefaultAddrLimiterConfig()
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		cfg.Rate = d.Rate
	}
	if cfg.Burst < 1 {
		cfg.Burst = d.Burst
	}
	if cfg.MaxEntries < 1 {
		cfg.MaxEntries = d.MaxEntries
	}
	return &AddrLimiter{cfg: cfg, entries: make(map[string]*list.Element), order: list.New()}
}

// refill returns b's token count at now, capped at Burst. A clock that
// went backwards refills nothing.
func (l *AddrLimiter) refill(b *bucket, now time.Time) float64 {
	elapsed := now.Sub(b.last).Seconds()
	if elapsed <= 0 {
		return b.tokens
	}
	return math.Min(float64(l.cfg.Burst), b.tokens+elapsed*l.cfg.Rate)
}

// Allow reports whether addr may attempt now, without charging it. When
// it may not, retryAfter is how long until one attempt is earned back
// (for a Retry-After header; round up to whole seconds there).
func (l *AddrLimiter) Allow(addr string, now time.Time) (ok bool, retryAfter time.Duration) {
	addr = limiterKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	el, found := l.entries[addr]
	if !found {
		return true, 0
	}
	b := el.Value.(*bucket)
	tokens := l.refill(b, now)
	if tokens >= float64(l.cfg.Burst) {
		l.remove(el) // full again: forget it
		return true, 0
	}
	if tokens >= 1 {
		return true, 0
	}
	wait := time.Duration((1 - tokens) / l.cfg.Rate * float64(time.Second))
	if wait < time.Nanosecond {
		wait = time.Nanosecond
	}
	return false, wait
}

// Fail charges addr one attempt at now. The bucket does not go below zero,
// so a flood of concurrent failures costs at most 1/Rate seconds more.
func (l *AddrLimiter) Fail(addr string, now time.Time) {
	addr = limiterKey(addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, found := l.entries[addr]; found {
		b := el.Value.(*bucket)
		b.tokens = math.Max(0, l.refill(b, now)-1)
		if now.After(b.last) {
			b.last = now
		}
		l.order.MoveToFront(el)
		return
	}
	for l.order.Len() >= l.cfg.MaxEntries {
		l.remove(l.order.Back())
	}
	b := &bucket{addr: addr, tokens: float64(l.cfg.Burst) - 1, last: now}
	l.entries[addr] = l.order.PushFront(b)
}

func (l *AddrLimiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*bucket).addr)
	l.order.Remove(el)
}

// Len is the number of addresses currently remembered, for a gauge.
func (l *AddrLimiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// limiterKey is the bucket an address counts against: an IPv6 client by
// its /64 (one subscriber's network hands out the rest of its 2^64
// addresses at will), an IPv4 client by its address, anything else
// (not an IP) as it is.
func limiterKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64)
	return p.String()
}
