package cluster

import (
	"net"
	"net/netip"
	"strings"
	"sync"

	"github.com/hashicorp/raft"
)

// memberSources answers the stream layer's "is this source address a
// member?" (transport.Layer.SetMembers): members' handshakes take
// precedence over strangers' on the Raft port (finding N1). It is asked
// for every accepted connection, so the set of IPs is rebuilt (and names
// resolved) only when the configuration's addresses change.
type memberSources struct {
	raft func() *raft.Raft

	mu    sync.Mutex
	addrs string // the addresses the set was built from
	ips   map[netip.Addr]bool
}

func (m *memberSources) contains(ip netip.Addr) bool {
	r := m.raft()
	if r == nil {
		return false
	}
	f := r.GetConfiguration() // answered from a copy, without the main loop
	if f.Error() != nil {
		return false
	}
	servers := f.Configuration().Servers
	var key strings.Builder
	for _, s := range servers {
		key.WriteString(string(s.Address))
		key.WriteByte(' ')
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ips == nil || key.String() != m.addrs {
		m.addrs, m.ips = key.String(), addrsOf(servers)
	}
	return m.ips[ip.Unmap()]
}

// addrsOf resolves the members' Raft hosts to IPs. A name that does not
// resolve contributes nothing; its member is then treated as a stranger
// (still served, only without precedence) until the next change.
func addrsOf(servers []raft.Server) map[netip.Addr]bool {
	ips := map[netip.Addr]bool{}
	for _, s := range servers {
		host, _, err := net.SplitHostPort(string(s.Address))
		if err != nil {
			continue
		}
		if ip, err := netip.ParseAddr(host); err == nil {
			ips[ip.Unmap()] = true
			continue
		}
		addrs, _ := net.LookupIP(host)
		for _, a := range addrs {
			if ip, ok := netip.AddrFromSlice(a); ok {
				ips[ip.Unmap()] = true
			}
		}
	}
	return ips
}
