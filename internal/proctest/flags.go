package proctest

import "time"

// FastHash is the cheapest password hashing sessiond accepts: the
// harnesses test replication and processes, not hashing.
var FastHash = []string{"--hash-memory", "64", "--hash-time", "1"}

// FastTimeout is the heartbeat and election timeout of the end-to-end
// tests' nodes: elections quick but not twitchy on a loaded 2-core
// machine.
const FastTimeout = 500 * time.Millisecond

// FastArgs is FastHash plus FastTimeout as heartbeat and election
// timeout, the flags every end-to-end test node runs with.
func FastArgs() []string {
	return Node{FastHash: true, HeartbeatTimeout: FastTimeout, ElectionTimeout: FastTimeout}.Args()
}

// Node is the command line of one sessiond node, the flags a harness
// sets; a field left empty is not passed (sessiond's default applies).
// APIAddr, RaftAddr and RaftAdvertise are whatever the caller chose:
// Addr's loopback ports, or the fault suite's per-node addresses.
type Node struct {
	Subcommand       string // "serve", "join", or "" for sessiond's default
	ID               string
	DataDir          string
	APIAddr          string // --api-addr, host:port to bind
	APIURL           string // --api-url, the URL other nodes use
	RaftAddr         string // --raft-addr, host:port to bind
	RaftAdvertise    string // --raft-advertise
	HeartbeatTimeout time.Duration
	ElectionTimeout  time.Duration
	FastHash         bool   // FastHash's flags
	LogLevel         string // --log-level
	Join             string // --join, a member's API URL
	MetricsAddr      string // --metrics-addr; "" leaves sessiond's default
	Extra            []string
}

// Args is the node's command line (without the binary).
func (n Node) Args() []string {
	var a []string
	if n.Subcommand != "" {
		a = append(a, n.Subcommand)
	}
	str := func(flag, v string) {
		if v != "" {
			a = append(a, flag, v)
		}
	}
	dur := func(flag string, d time.Duration) {
		if d != 0 {
			a = append(a, flag, d.String())
		}
	}
	str("--node-id", n.ID)
	str("--data-dir", n.DataDir)
	str("--api-addr", n.APIAddr)
	str("--api-url", n.APIURL)
	str("--raft-addr", n.RaftAddr)
	str("--raft-advertise", n.RaftAdvertise)
	dur("--heartbeat-timeout", n.HeartbeatTimeout)
	dur("--election-timeout", n.ElectionTimeout)
	if n.FastHash {
		a = append(a, FastHash...)
	}
	str("--log-level", n.LogLevel)
	str("--join", n.Join)
	str("--metrics-addr", n.MetricsAddr)
	return append(a, n.Extra...)
}
