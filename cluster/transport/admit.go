package transport

import (
	"container/list"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Handshake admission (finding N1). Every fresh connection to a member's
// Raft port used to hold one of 64 handshake slots for up to 5 s, and the
// newest connection was refused when they were all taken. Elections, a
// restarted member and any reconnect after a network blip need fresh
// handshakes, so 64 idle TCP connections kept a cluster leaderless. Now a
// connection goes through two stages:
//
//  1. Waiting for its first bytes, for at most firstBytesTimeout (1 s).
//     This costs a descriptor and a parked goroutine, no TLS work, so the
//     bounds are large: maxWaiting in all, perSourceWaiting per stranger's
//     address. When one is reached the oldest waiting connection is
//     closed, never the new one: a real peer sends its ClientHello as it
//     connects, so the connection silent longest is the one to drop.
//     Members' addresses have no bound of their own: an attacker sharing
//     one (same host, same NAT) and reconnecting as fast as it is dropped
//     would otherwise churn that bound faster than a peer's first bytes
//     are read.
//  2. Handshaking, once bytes came: TLS and the key proof, under
//     handshakeTimeout. At most perSourceHandshakes per source address
//     (memberHandshakes for an address of a current member, see
//     Layer.SetMembers) and maxHandshakes in all. When a limit is reached
//     the oldest handshake older than stallAfter makes room (a real peer
//     finishes in milliseconds); a member may also displace any stranger's
//     handshake. Only when nothing qualifies is the new one refused.
//
// A member that connects and speaks at once is therefore not refused by
// idle connections, not even by ones from its own address. What remains is
// a stranger who completes TLS handshakes fast and then stalls, from many
// addresses: that costs it real work per slot and is counted
// (sessiond_raft_auth_failures_total{reason="overload"}).
const (
	firstBytesTimeout   = time.Second
	maxWaiting          = 4096
	perSourceWaiting    = 512
	stallAfter          = time.Second
	maxHandshakes       = 128
	perSourceHandshakes = 8
	memberHandshakes    = 64
)

// pending is one connection in its admission slot.
type pending struct {
	conn    net.Conn
	src     netip.Addr
	started time.Time // when it entered its current stage
	member  bool      // from the address of a current member
	stage   *stage    // nil once released or evicted
	elem    *list.Element
}

// stage is one of the two queues, oldest first, with its counts.
type stage struct {
	order list.List
	bySrc map[netip.Addr]int
}

func (st *stage) add(p *pending) {
	p.stage, p.elem = st, st.order.PushBack(p)
	st.bySrc[p.src]++
}

func (st *stage) remove(p *pending) {
	st.order.Remove(p.elem)
	if st.bySrc[p.src]--; st.bySrc[p.src] <= 0 {
		delete(st.bySrc, p.src)
	}
	p.stage, p.elem = nil, nil
}

// oldest is the oldest entry matching ok, or nil.
func (st *stage) oldest(ok func(*pending) bool) *pending {
	for e := st.order.Front(); e != nil; e = e.Next() {
		if p := e.Value.(*pending); ok(p) {
			return p
		}
	}
	return nil
}

// admission holds both stages. Its methods are safe for concurrent use
// and never block on the network: victims are closed after the lock is
// released.
type admission struct {
	mu      sync.Mutex
	waiting stage
	hs      stage
	now     func() time.Time
	evicted func(p *pending) // reports a connection closed to make room
}

func newAdmission() *admission {
	return &admission{
		waiting: stage{bySrc: map[netip.Addr]int{}}, hs: stage{bySrc: map[netip.Addr]int{}},
		now: time.Now, evicted: func(*pending) {},
	}
}

// admit puts a new connection in stage 1. A stranger's source at its
// bound loses its own oldest waiting connection; at the global bound the
// oldest waiting connection of a stranger goes first, then the oldest of
// any. The new connection always gets in: it is the least stalled.
func (a *admission) admit(conn net.Conn, member bool) *pending {
	p := &pending{conn: conn, src: sourceOf(conn.RemoteAddr()), started: a.now(), member: member}
	var victims []*pending
	a.mu.Lock()
	if !member && a.waiting.bySrc[p.src] >= perSourceWaiting {
		victims = append(victims, a.evictLocked(a.waiting.oldest(func(q *pending) bool { return q.src == p.src })))
	}
	if a.waiting.order.Len() >= maxWaiting {
		v := a.waiting.oldest(func(q *pending) bool { return !q.member })
		if v == nil {
			v = a.waiting.oldest(func(*pending) bool { return true })
		}
		victims = append(victims, a.evictLocked(v))
	}
	a.waiting.add(p)
	a.mu.Unlock()
	a.close(victims)
	return p
}

// spoke moves p to stage 2 now that its first bytes came. It returns false
// when p was evicted meanwhile or there is no room: the caller closes it.
func (a *admission) spoke(p *pending) bool {
	var victims []*pending
	a.mu.Lock()
	defer func() { a.mu.Unlock(); a.close(victims) }()
	if p.stage != &a.waiting {
		return false
	}
	a.waiting.remove(p)
	p.started = a.now()
	now, member := p.started, p.member
	stalled := func(q *pending) bool { return now.Sub(q.started) > stallAfter }
	limit := perSourceHandshakes
	if member {
		limit = memberHandshakes
	}
	if a.hs.bySrc[p.src] >= limit {
		v := a.hs.oldest(func(q *pending) bool { return q.src == p.src && stalled(q) })
		if v == nil {
			return false
		}
		victims = append(victims, a.evictLocked(v))
	}
	if a.hs.order.Len() >= maxHandshakes {
		v := a.hs.oldest(func(q *pending) bool { return !q.member && (member || stalled(q)) })
		if v == nil {
			v = a.hs.oldest(stalled)
		}
		if v == nil {
			return false
		}
		victims = append(victims, a.evictLocked(v))
	}
	a.hs.add(p)
	return true
}

func (a *admission) evictLocked(p *pending) *pending {
	if p != nil {
		p.stage.remove(p)
	}
	return p
}

func (a *admission) close(victims []*pending) {
	for _, v := range victims {
		if v != nil {
			v.conn.Close()
			a.evicted(v)
		}
	}
}

// release ends p's admission (its handshake finished or failed). It
// reports false when p was evicted meanwhile, so the caller drops the
// connection and does not report it again.
func (a *admission) release(p *pending) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p.stage == nil {
		return false
	}
	p.stage.remove(p)
	return true
}

// counts are the connections in each stage (for tests).
func (a *admission) counts() (waiting, handshaking int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waiting.order.Len(), a.hs.order.Len()
}

// sourceOf is the IP a connection comes from; IPv4-mapped IPv6 addresses
// count as their IPv4 address, so one host has one budget.
func sourceOf(addr net.Addr) netip.Addr {
	if ta, ok := addr.(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(ta.IP); ok {
			return ip.Unmap()
		}
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
