package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Node-to-node HTTP (forwarded writes, read indexes, joins, restores,
// lease polls: finding N2) runs over the Raft port's authenticated
// channel, so its requests and answers get the same confidentiality and
// authenticity as Raft, with or without --tls-cert.
//
// After the handshake the dialer's first byte says what the connection is
// for. kindHTTP marks an internal HTTP connection. Raft connections carry
// no mark: their first byte is Raft's own RPC type (0 to 3), so Raft
// between this release and the previous one is unchanged in both
// directions. A previous release reading kindHTTP takes it for an unknown
// RPC type and closes the connection: the caller gets an error, never an
// answer (docs/OPERATIONS.md: internal calls need every member upgraded).
const kindHTTP byte = 0xF1

// readKind reads the first byte a peer sent after the handshake, under
// the first-bytes deadline, and returns it with a connection that still
// yields it to Raft when it is not kindHTTP.
func readKind(conn net.Conn) (byte, net.Conn, error) {
	conn.SetReadDeadline(time.Now().Add(firstBytesTimeout))
	b := make([]byte, 1)
	if _, err := io.ReadFull(conn, b); err != nil {
		return 0, nil, err
	}
	conn.SetReadDeadline(time.Time{})
	if b[0] == kindHTTP {
		return kindHTTP, conn, nil
	}
	return b[0], &prefixConn{Conn: conn, prefix: b}, nil
}

// HTTP is the listener for internal HTTP connections that peers opened
// with DialHTTP: they passed the same handshake as Raft's. Closing it
// stops nothing else; closing the Layer closes it.
func (s *Layer) HTTP() net.Listener { return s.http }

// DialHTTP opens a connection to the peer whose Raft address is address,
// authenticates it as Raft's are, and marks it for internal HTTP. It fits
// http.Transport.DialContext (the network argument is ignored: always
// TCP). The connection is authenticated in both directions: an answer read
// from it comes from a holder of the cluster key (or of a certificate of
// the cluster CA).
func (s *Layer) DialHTTP(ctx context.Context, _, address string) (net.Conn, error) {
	conn, err := s.dial(ctx, address)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetWriteDeadline(dl)
	}
	if _, err := conn.Write([]byte{kindHTTP}); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// connListener is a net.Listener fed by the Layer's accept path.
type connListener struct {
	addr   net.Addr
	conns  chan net.Conn
	parent <-chan struct{}
	done   chan struct{}
	once   sync.Once
}

func newConnListener(addr net.Addr, parent <-chan struct{}) *connListener {
	return &connListener{addr: addr, conns: make(chan net.Conn), parent: parent, done: make(chan struct{})}
}

func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.parent:
		return nil, net.ErrClosed
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *connListener) Addr() net.Addr { return l.addr }
