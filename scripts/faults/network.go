package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// claimed are the loopback run octets networks of this process hold: the
// suite runs scenarios side by side, and a free-address probe alone
// (listen, close) lets two of them pick the same octet between its close
// and the real listens.
var claimed = struct {
	sync.Mutex
	runs map[int]bool
}{runs: map[int]bool{}}

// Network places nodes on addresses and injects network faults between
// them. Node indexes are 0-based.
type Network interface {
	// Mode names the mode for the report: "netns" or "loopback".
	Mode() string
	// APIAddr, RaftBind and RaftAdvertise are node i's addresses.
	APIAddr(i int) string
	RaftBind(i int) string
	RaftAdvertise(i int) string
	// Command returns the command that runs name with args as node i.
	Command(ctx context.Context, i int, name string, args ...string) *exec.Cmd
	// Cut drops traffic from node from to node to (one direction); Heal
	// removes every cut and every latency.
	Cut(from, to int) error
	Heal() error
	// SetLatency adds d to every message from node from to node to.
	SetLatency(from, to int, d time.Duration)
	// Close removes everything the network created.
	Close() error
}

// raftPorts: nodes bind Raft on raftPort and are reached through the
// proxy on raftPort+1. The API listens on apiPort.
const (
	apiPort  = 18080
	raftPort = 17000
)

// NewNetwork returns the netns network when this process is root and
// iptables is installed (and mode allows it), else the loopback one.
// mode is "", "netns" or "loopback".
func NewNetwork(mode string, n int, nodeIDs []string) (Network, error) {
	canNetns := os.Geteuid() == 0 && haveIPTables()
	switch mode {
	case "netns":
		if !canNetns {
			return nil, fmt.Errorf("faults: netns mode needs root and iptables")
		}
		return newNetnsNetwork(n)
	case "loopback":
		return newLoopbackNetwork(n, nodeIDs)
	case "":
		if canNetns {
			return newNetnsNetwork(n)
		}
		return newLoopbackNetwork(n, nodeIDs)
	}
	return nil, fmt.Errorf("faults: unknown network mode %q", mode)
}

func haveIPTables() bool {
	_, err := exec.LookPath("iptables")
	return err == nil
}

// loopbackNetwork puts node i on 127.77.<run>.<i+1>; its Raft port is
// advertised through an in-process proxy that tells senders apart by the
// process owning each connection's other end (sockowner.go): the Raft
// port is TLS, internal calls included, so no header can be read.
type loopbackNetwork struct {
	run     int
	links   *linkState
	proxies []*proxy
}

func newLoopbackNetwork(n int, nodeIDs []string) (*loopbackNetwork, error) {
	ln := &loopbackNetwork{run: os.Getpid()%200 + 20, links: newLinkState()}
	// Pick a run octet whose addresses are free and that no other network
	// of this process holds.
	claimed.Lock()
	for tries := 0; ; tries++ {
		err := fmt.Errorf("run %d is another scenario's", ln.run)
		if !claimed.runs[ln.run] {
			var l net.Listener
			if l, err = net.Listen("tcp", net.JoinHostPort(ln.ip(0), fmt.Sprint(raftPort+1))); err == nil {
				l.Close()
				claimed.runs[ln.run] = true
				break
			}
		}
		if tries > 50 {
			claimed.Unlock()
			return nil, fmt.Errorf("faults: no free loopback addresses: %w", err)
		}
		ln.run = (ln.run+1)%200 + 20
	}
	claimed.Unlock()
	binds := make([]string, n)
	for i := range binds {
		binds[i] = ln.RaftBind(i)
	}
	identify := senderByOwner(binds)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", ln.RaftAdvertise(i))
		if err != nil {
			ln.Close()
			return nil, err
		}
		ln.proxies = append(ln.proxies, newProxy(i, l, ln.RaftBind(i), ln.links, false, identify))
	}
	return ln, nil
}

func (l *loopbackNetwork) ip(i int) string { return fmt.Sprintf("127.77.%d.%d", l.run, i+1) }

func (l *loopbackNetwork) Mode() string { return "loopback" }
func (l *loopbackNetwork) APIAddr(i int) string {
	return net.JoinHostPort(l.ip(i), fmt.Sprint(apiPort))
}
func (l *loopbackNetwork) RaftBind(i int) string {
	return net.JoinHostPort(l.ip(i), fmt.Sprint(raftPort))
}
func (l *loopbackNetwork) RaftAdvertise(i int) string {
	return net.JoinHostPort(l.ip(i), fmt.Sprint(raftPort+1))
}
func (l *loopbackNetwork) Command(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, name, args...)
}
func (l *loopbackNetwork) Cut(from, to int) error { l.links.setCut(from, to, true); return nil }
func (l *loopbackNetwork) Heal() error            { l.links.healAll(); return nil }
func (l *loopbackNetwork) SetLatency(from, to int, d time.Duration) {
	l.links.setLatency(from, to, d)
}
func (l *loopbackNetwork) Close() error {
	l.links.healAll()
	for _, p := range l.proxies {
		p.close()
	}
	claimed.Lock()
	delete(claimed.runs, l.run)
	claimed.Unlock()
	return nil
}

// run runs a command and returns its combined output in the error.
func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
