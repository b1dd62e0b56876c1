package transport

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// FailFunc hears of a connection refused or dropped before it was handed
// on: reason is one of FailReasons (never a value chosen by the peer),
// remote may be nil. The connection is closed already. It must not block.
type FailFunc func(reason string, remote net.Addr, err error)

// FailReasons are every reason a FailFunc is given, so a metric can
// initialise its label set.
var FailReasons = []string{"handshake", "bad_proof", "peer_bad_proof", "timeout", "overload"}

// Layer is the authenticated channel of one node: a raft.StreamLayer that
// hands Raft only connections that passed a handshake (the cluster-key
// proof of NewKeyed, or the mutual TLS of NewMutualTLS), and a second
// listener, HTTP, that gets the connections a peer opened for internal
// HTTP calls over the same handshake (mux.go). Handshakes run off the
// accept path under the admission rules of admit.go. All methods are safe
// for concurrent use.
type Layer struct {
	ln        net.Listener
	advertise net.Addr
	onFail    FailFunc
	server    func(raw net.Conn) (net.Conn, string, error)
	client    func(raw net.Conn, address string) (net.Conn, string, error)
	adm       *admission
	members   atomic.Pointer[func(netip.Addr) bool]

	raftConns chan net.Conn
	http      *connListener
	closed    chan struct{}
	once      sync.Once

	// Close owns what the layer started and accepted: the accept loop and
	// the handshakes (wg), and every connection not yet handed to the
	// HTTP listener, Raft's included (open). Raft's transport does not
	// close the connections it accepted when it shuts down, so their
	// reading goroutines would outlive the node.
	wg     sync.WaitGroup
	connMu sync.Mutex
	open   map[net.Conn]struct{}
	// accepting counts Raft's calls in Accept: Close returns once they
	// have left, so no goroutine of Raft's waits in this package after it.
	accepting sync.WaitGroup
}

var _ raft.StreamLayer = (*Layer)(nil)

func listen(bind string, advertise net.Addr, onFail FailFunc,
	server func(net.Conn) (net.Conn, string, error), client func(net.Conn, string) (net.Conn, string, error)) (*Layer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	if advertise == nil {
		advertise = ln.Addr()
	}
	if onFail == nil {
		onFail = func(string, net.Addr, error) {}
	}
	s := &Layer{
		ln: ln, advertise: advertise, onFail: onFail, server: server, client: client, adm: newAdmission(),
		raftConns: make(chan net.Conn), closed: make(chan struct{}), open: make(map[net.Conn]struct{}),
	}
	s.http = newConnListener(advertise, s.closed)
	s.adm.evicted = func(p *pending) {
		s.onFail("overload", p.conn.RemoteAddr(), errors.New("dropped the oldest stalled connection to make room"))
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.acceptLoop() }()
	return s, nil
}

// track records c as open until it is closed (untrack) or the layer
// closes it; it reports false, having closed c, when the layer is closed.
func (s *Layer) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.open == nil {
		c.Close()
		return false
	}
	s.open[c] = struct{}{}
	return true
}

func (s *Layer) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.open, c)
	s.connMu.Unlock()
}

// ownedConn is a Raft connection that leaves the layer's set when closed.
type ownedConn struct {
	net.Conn
	layer *Layer
	raw   net.Conn
}

func (c *ownedConn) Close() error {
	c.layer.untrack(c.raw)
	return c.Conn.Close()
}

// SetMembers tells the layer which source addresses belong to current
// members, whose handshakes take precedence over strangers' (admit.go).
// The node sets it once it knows its Raft configuration; isMember is
// called on the accept path for every connection, so it must be cheap and
// must not block.
func (s *Layer) SetMembers(isMember func(netip.Addr) bool) { s.members.Store(&isMember) }

func (s *Layer) isMember(src netip.Addr) bool {
	f := s.members.Load()
	return f != nil && (*f)(src)
}

// Addr is the advertised address.
func (s *Layer) Addr() net.Addr { return s.advertise }

// Accept returns the next authenticated Raft connection.
func (s *Layer) Accept() (net.Conn, error) {
	s.connMu.Lock()
	if s.open == nil {
		s.connMu.Unlock()
		return nil, net.ErrClosed
	}
	s.accepting.Add(1)
	s.connMu.Unlock()
	defer s.accepting.Done()
	select {
	case c := <-s.raftConns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	}
}

// Close stops accepting on both listeners, closes every connection it
// accepted that it did not hand to the HTTP listener (whose server closes
// its own), Raft's included, and returns once the accept loop and every
// handshake have ended.
func (s *Layer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.ln.Close()
		s.connMu.Lock()
		open := s.open
		s.open = nil
		s.connMu.Unlock()
		for c := range open {
			c.Close()
		}
		s.wg.Wait()
		s.accepting.Wait()
	})
	return err
}

// acceptLoop runs each handshake in its own goroutine, so one slow or
// silent peer cannot hold up the others.
func (s *Layer) acceptLoop() {
	backoff := 5 * time.Millisecond
	for {
		c, err := s.ln.Accept()
		if err != nil {
			select {
			case <-s.closed:
				return
			default:
			}
			time.Sleep(backoff) // e.g. out of file descriptors
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		if !s.track(c) {
			return
		}
		p := s.adm.admit(c, s.isMember(sourceOf(c.RemoteAddr())))
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.serve(p) }()
	}
}

// serve runs one handshake in its admission slot p, then routes the
// connection by its first byte (mux.go).
func (s *Layer) serve(p *pending) {
	raw := p.conn
	fail := func(reason string, err error) {
		s.untrack(raw)
		raw.Close()
		if s.adm.release(p) { // an evicted handshake was reported already
			s.onFail(reason, raw.RemoteAddr(), err)
		}
	}
	raw.SetReadDeadline(time.Now().Add(firstBytesTimeout))
	first := make([]byte, 1)
	if _, err := io.ReadFull(raw, first); err != nil {
		fail(failReason(err, "handshake"), err)
		return
	}
	if !s.adm.spoke(p) {
		s.untrack(raw)
		raw.Close()
		s.onFail("overload", raw.RemoteAddr(), errors.New("too many handshakes in progress, none stalled"))
		return
	}
	conn, reason, err := s.server(&prefixConn{Conn: raw, prefix: first})
	if err != nil {
		fail(reason, err)
		return
	}
	kind, conn, err := readKind(conn)
	if err != nil {
		fail(failReason(err, "handshake"), err)
		return
	}
	if !s.adm.release(p) {
		s.untrack(raw)
		conn.Close()
		return
	}
	s.route(kind, conn, raw)
}

// route hands conn (over raw) to Raft or to the HTTP listener.
func (s *Layer) route(kind byte, conn, raw net.Conn) {
	ch, gone := s.raftConns, (<-chan struct{})(nil)
	if kind == kindHTTP {
		ch, gone = s.http.conns, s.http.done
		s.untrack(raw) // the HTTP server owns it from here
	} else {
		conn = &ownedConn{Conn: conn, layer: s, raw: raw}
	}
	select {
	case ch <- conn:
	case <-s.closed:
		conn.Close()
	case <-gone:
		conn.Close()
	}
}

// Dial connects to a peer for Raft and runs the client side of the
// handshake (raft.StreamLayer).
func (s *Layer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return s.dial(ctx, string(address))
}

func (s *Layer) dial(ctx context.Context, address string) (net.Conn, error) {
	var d net.Dialer
	raw, err := d.DialContext(ctx, "tcp", address)
	if err != nil {
		return nil, err
	}
	// The handshake has its own deadline; a caller's earlier one (an
	// internal call's context) cuts it short.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	conn, reason, err := s.client(raw, address)
	if !stop() && err == nil {
		err, reason = ctx.Err(), "timeout" // the deadline may have hit the new connection
	}
	if err != nil {
		raw.Close()
		s.onFail(reason, raw.RemoteAddr(), err)
		return nil, err
	}
	return conn, nil
}

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}
