package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sessiond/sessiond/cluster/transport"
)

// Node-to-node HTTP (finding N2). Forwarded writes, read indexes, joins,
// restores and lease polls used to travel to a member's API URL: plain
// HTTP without --tls-cert, signed requests but answers read as they came,
// so a relay could answer a forwarded logout with a success and drop it,
// and a passive one read password hashes. They now travel over the Raft
// port's authenticated channel (transport.Layer.DialHTTP): TLS whose peer
// proved the cluster key (or holds a certificate of the cluster CA), in
// both directions, so an answer can only come from a member. Requests are
// still signed (reqsign) as a second line. A member is addressed by its
// Raft address: the leader's comes from Raft itself, the others' from the
// Raft configuration, never from the API URLs the state machine records.

// peerURL is the base URL of a member's internal API on its Raft address.
// "http" names the protocol spoken inside the authenticated channel; the
// channel itself is TLS (transport/mux.go).
func peerURL(raftAddr string) string { return "http://" + raftAddr }

// startPeerHTTP serves the internal API on the Raft port's HTTP listener
// and builds the client that calls other members through the same layer.
func (n *Node) startPeerHTTP() {
	h := n.InternalHandler()
	if n.cfg.wrapInternal != nil {
		h = n.cfg.wrapInternal(h)
	}
	n.peerSrv = &http.Server{
		Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: log.New(io.Discard, "", 0), // failed handshakes are counted by the layer
	}
	srv, ln := n.peerSrv, n.stream.HTTP()
	n.goAttach(func() { srv.Serve(ln) })
	tr := &http.Transport{
		DialContext:         n.dialPeer,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
		// The dial is the authentication: never reach a member another way.
		Proxy: nil,
	}
	n.peers = &http.Client{Timeout: 10 * time.Second, Transport: tr}
}

func (n *Node) stopPeerHTTP() {
	if n.peerSrv != nil {
		n.peerSrv.Close()
	}
	if n.peers != nil {
		n.peers.CloseIdleConnections()
	}
}

// dialPeer dials a member's Raft address through the authenticated layer.
func (n *Node) dialPeer(ctx context.Context, network, addr string) (net.Conn, error) {
	if f := n.cfg.peerAddr; f != nil {
		addr = f(addr)
	}
	return n.stream.DialHTTP(ctx, network, addr)
}

// memberRaftAddr is the Raft address of member id in the configuration.
func (n *Node) memberRaftAddr(id string) (string, bool) {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return "", false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(id) {
			return string(s.Address), true
		}
	}
	return "", false
}

// peerError is a failed call to a member: the channel refused the peer
// (it does not hold the cluster key) or nothing answered. Either way no
// answer was read, so the caller reports an error, never a success.
func peerError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	case errors.Is(err, transport.ErrHandshake):
		return fmt.Errorf("%w: the peer did not authenticate: %w", ErrForward, err)
	}
	return fmt.Errorf("%w: %v", ErrForward, err)
}
