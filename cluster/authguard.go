package cluster

import (
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sessiond/sessiond/cluster/transport"
)

// authMetrics count refused authentication attempts on the Raft port and
// on signed HTTP calls. They are the node's collectors (see Collectors),
// so an operator can alert on someone probing the cluster.
type authMetrics struct {
	raftFailures *prometheus.CounterVec
	reqFailures  *prometheus.CounterVec
	// reqRefused counts signed calls that authenticated but were refused
	// all the same: not an attack, so not in reqFailures.
	reqRefused *prometheus.CounterVec
}

// Reasons are fixed sets: a label value never comes from the peer.
var (
	raftFailReasons  = transport.FailReasons
	reqRefuseReasons = []string{reasonTooLarge}
	reqFailReasons   = []string{"missing", "malformed", "raw_key", "no_key", "old_format", "stale", "wrong_target", "replay", "replay_cache_full", "bad_signature", "body", "throttled", "no_node_cert"}
)

func newAuthMetrics() *authMetrics {
	m := &authMetrics{
		raftFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_raft_auth_failures_total",
			Help: "Raft connections closed because the peer did not prove it holds the cluster key (or a TLS failure), by reason.",
		}, []string{"reason"}),
		reqFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_internal_auth_failures_total",
			Help: "Signed internal or cluster-key calls refused, by reason.",
		}, []string{"reason"}),
		reqRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sessiond_internal_refused_total",
			Help: "Correctly signed internal or cluster-key calls refused all the same, by reason (too_large: the body is over the route's limit).",
		}, []string{"reason"}),
	}
	for _, r := range reqRefuseReasons {
		m.reqRefused.WithLabelValues(r)
	}
	for _, r := range raftFailReasons {
		m.raftFailures.WithLabelValues(r)
	}
	for _, r := range reqFailReasons {
		m.reqFailures.WithLabelValues(r)
	}
	return m
}

func (m *authMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.raftFailures, m.reqFailures, m.reqRefused}
}

// rateLog writes at most burst lines, then one per interval, and says how
// many it dropped: a flood of bad attempts must not flood the log (or the
// disk) while the first ones stay visible.
type rateLog struct {
	log      hclog.Logger
	interval time.Duration
	burst    float64

	mu         sync.Mutex
	tokens     float64
	last       time.Time
	suppressed int
}

func newRateLog(log hclog.Logger, interval time.Duration, burst int) *rateLog {
	return &rateLog{log: log, interval: interval, burst: float64(burst), tokens: float64(burst)}
}

// warn logs msg with key/value pairs unless the budget is spent.
func (l *rateLog) warn(msg string, kv ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.last.IsZero() {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
	}
	l.last = now
	if l.tokens < 1 {
		l.suppressed++
		l.mu.Unlock()
		return
	}
	l.tokens--
	dropped := l.suppressed
	l.suppressed = 0
	l.mu.Unlock()
	if dropped > 0 {
		kv = append(kv, "suppressed_since_last", dropped)
	}
	l.log.Warn(msg, kv...)
}

// failThrottle is a token bucket of failures per remote IP: each refused
// attempt takes a token, and an address with none left is refused without
// checking anything until tokens come back. Legitimate members never fail,
// so they never have an entry. The map is bounded: when it is full, an
// entry that has refilled (or else any entry) is forgotten, so an attacker
// with very many addresses gets past the throttle but cannot grow memory;
// guessing a 256-bit HMAC stays hopeless either way.
type failThrottle struct {
	burst  float64
	refill time.Duration // time for one token to come back
	max    int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newFailThrottle(burst int, refill time.Duration, max int) *failThrottle {
	return &failThrottle{burst: float64(burst), refill: refill, max: max, buckets: make(map[string]*bucket)}
}

func (t *failThrottle) level(b *bucket, now time.Time) float64 {
	return min(t.burst, b.tokens+float64(now.Sub(b.at))/float64(t.refill))
}

// allow reports whether ip may make an attempt now, and if not, when.
func (t *failThrottle) allow(ip string, now time.Time) (bool, time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[ip]
	if !ok {
		return true, 0
	}
	lv := t.level(b, now)
	if lv >= 1 {
		return true, 0
	}
	return false, time.Duration((1 - lv) * float64(t.refill))
}

// fail records a refused attempt from ip.
func (t *failThrottle) fail(ip string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b, ok := t.buckets[ip]
	if !ok {
		if len(t.buckets) >= t.max {
			t.evict(now)
		}
		b = &bucket{tokens: t.burst, at: now}
		t.buckets[ip] = b
	}
	b.tokens, b.at = max(0, t.level(b, now)-1), now
}

func (t *failThrottle) evict(now time.Time) {
	var victim string
	for ip, b := range t.buckets {
		victim = ip
		if t.level(b, now) >= t.burst {
			break
		}
	}
	delete(t.buckets, victim)
}

// remoteIP is the throttle key of an address: the host without the port.
func remoteIP(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// replayCache remembers the nonces of accepted signed requests until
// their timestamp leaves the window, so a captured request cannot be sent
// again. It is bounded: when full of live nonces it refuses new requests
// (fail closed) rather than forget one that could then be replayed. Only
// requests with a valid signature get in, so outsiders cannot fill it.
type replayCache struct {
	max int

	mu    sync.Mutex
	seen  map[[16]byte]int64 // nonce -> expiry (unix nanoseconds)
	queue []replayEntry      // insertion order, for expiry
	head  int
}

type replayEntry struct {
	nonce [16]byte
	exp   int64
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, seen: make(map[[16]byte]int64)}
}

// add records nonce until exp. It returns false for a nonce already seen
// and full when no room is left.
func (c *replayCache) add(nonce [16]byte, exp, now time.Time) (fresh, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now.UnixNano())
	if e, ok := c.seen[nonce]; ok && e >= now.UnixNano() {
		return false, false
	}
	if len(c.seen) >= c.max {
		return false, true
	}
	c.seen[nonce] = exp.UnixNano()
	c.queue = append(c.queue, replayEntry{nonce, exp.UnixNano()})
	return true, false
}

// contains is a cheap early check before a body is read.
func (c *replayCache) contains(nonce [16]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[nonce]
	return ok && e >= now.UnixNano()
}

// expire drops entries from the front of the queue whose time has come.
// Expiry times are nearly in insertion order (timestamps within the
// window); one that is not just stays a little longer.
func (c *replayCache) expire(now int64) {
	for c.head < len(c.queue) && c.queue[c.head].exp < now {
		e := c.queue[c.head]
		if c.seen[e.nonce] == e.exp {
			delete(c.seen, e.nonce)
		}
		c.head++
	}
	if c.head > 1024 && c.head > len(c.queue)/2 {
		c.queue = append(c.queue[:0], c.queue[c.head:]...)
		c.head = 0
	}
}
