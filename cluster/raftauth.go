package cluster

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/url"

	"github.com/hashicorp/go-hclog"

	"github.com/sessiond/sessiond/cluster/transport"
)

// checkRaftExposure refuses a node whose Raft port can be reached from
// other machines while it has nothing to authenticate peers with: no
// mutual TLS and no cluster key. Finding C1 showed what an open Raft port
// gives away. On loopback the node runs alone (it cannot be joined without
// a key) and its stream layer uses a random key of its own (streamKey).
func checkRaftExposure(c *Config) error {
	if c.TLS != nil || c.ClusterKey != "" {
		return nil
	}
	for _, addr := range []string{c.RaftBind, c.RaftAdvertise} {
		if addr != "" && !transport.IsLoopback(addr) {
			return fmt.Errorf("%w: raft address %s is not loopback, and Raft would accept anyone: "+
				"configure mutual TLS (Config.TLS) or a cluster key (Config.ClusterKey)", ErrConfig, addr)
		}
	}
	return nil
}

// CheckAPIURL refuses a member's API URL that is plain http:// on an
// address other than loopback, unless allowPlain. Calls between members no
// longer use it (peerhttp.go), but clients, tools and proxies that follow
// a member's URL (LeaderURL, `sessiond status`) would send tokens and
// passwords over it in the clear (finding N2).
func CheckAPIURL(apiURL string, allowPlain bool) error {
	u, err := url.Parse(apiURL)
	if err != nil {
		return fmt.Errorf("%w: api url %q: %v", ErrConfig, apiURL, err)
	}
	if allowPlain || u.Scheme != "http" || transport.IsLoopback(u.Host) || u.Hostname() == "localhost" {
		return nil
	}
	return fmt.Errorf("%w: api url %s is plain http on a non-loopback address: clients following it would "+
		"send tokens and passwords in the clear; serve the API over TLS, or allow it explicitly (Config.AllowPlainAPIURL)",
		ErrConfig, apiURL)
}

// streamKey is the secret the Raft stream handshake proves: the cluster
// key, or for a key-less loopback node a random one nobody else knows.
func (n *Node) streamKey() []byte {
	if n.cfg.ClusterKey != "" {
		return []byte(n.cfg.ClusterKey)
	}
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

// acceptedKeys are the rotation's other cluster keys, accepted but never
// proved by this node.
func (n *Node) acceptedKeys() [][]byte {
	var out [][]byte
	for _, k := range n.cfg.ClusterKeysAccepted {
		if k != "" {
			out = append(out, []byte(k))
		}
	}
	return out
}

// authLogger logs refused attempts next to the Raft library's own lines.
func (n *Node) authLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "auth", Level: hclog.Warn, Output: n.cfg.logOutput()})
}

// raftAuthFailed counts and (at a bounded rate) logs a Raft connection
// that failed its handshake; the connection is closed already.
func (n *Node) raftAuthFailed() func(string, net.Addr, error) {
	rl := newRateLog(n.authLogger().Named("raft"), authLogInterval, authLogBurst)
	return func(reason string, remote net.Addr, err error) {
		n.auth.raftFailures.WithLabelValues(reason).Inc()
		addr := "?"
		if remote != nil {
			addr = remote.String()
		}
		rl.warn("refused raft connection", "reason", reason, "remote", addr, "err", err)
	}
}
