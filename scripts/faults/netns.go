package faults

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsNetwork gives node i its own network namespace fz<run>n<i> with the
// address 10.199.<run>.<i+11> on a bridge fzbr<run> (10.199.<run>.1 is the
// test process's side). Partitions are iptables rules inside the
// namespaces; latency goes through a proxy whose listener is created inside
// the node's namespace, so iptables still sees the real sender.
type netnsNetwork struct {
	run     int
	n       int
	links   *linkState
	proxies []*proxy
}

// netnsOwners records which process owns a run, so a later run can remove
// what a killed one left behind.
const netnsOwners = "/run/sessiond-faults"

// netnsClaim serialises this process's reap, bridge claim and owner
// record: with scenarios side by side, one's reaper must not meet
// another's run between its bridge and its owner file.
var netnsClaim sync.Mutex

func newNetnsNetwork(n int) (*netnsNetwork, error) {
	netnsClaim.Lock()
	locked := true
	defer func() {
		if locked {
			netnsClaim.Unlock()
		}
	}()
	reapStaleNetns()
	nw := &netnsNetwork{n: n, links: newLinkState()}
	start := os.Getpid() % 200
	var err error
	for k := 0; k < 200; k++ {
		nw.run = (start+k)%200 + 1
		if err = run("ip", "link", "add", nw.bridge(), "type", "bridge"); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("faults: no free bridge name: %w", err)
	}
	os.MkdirAll(netnsOwners, 0o700)
	os.WriteFile(filepath.Join(netnsOwners, strconv.Itoa(nw.run)), []byte(strconv.Itoa(os.Getpid())), 0o600)
	netnsClaim.Unlock()
	locked = false
	if err := nw.setup(); err != nil {
		nw.Close()
		return nil, err
	}
	return nw, nil
}

func (nw *netnsNetwork) bridge() string    { return fmt.Sprintf("fzbr%d", nw.run) }
func (nw *netnsNetwork) ns(i int) string   { return fmt.Sprintf("fz%dn%d", nw.run, i) }
func (nw *netnsNetwork) veth(i int) string { return fmt.Sprintf("fz%dv%d", nw.run, i) }
func (nw *netnsNetwork) ip(i int) string   { return fmt.Sprintf("10.199.%d.%d", nw.run, i+11) }

func (nw *netnsNetwork) setup() error {
	steps := [][]string{
		{"ip", "addr", "add", fmt.Sprintf("10.199.%d.1/24", nw.run), "dev", nw.bridge()},
		{"ip", "link", "set", nw.bridge(), "up"},
	}
	for i := 0; i < nw.n; i++ {
		steps = append(steps,
			[]string{"ip", "netns", "add", nw.ns(i)},
			[]string{"ip", "link", "add", nw.veth(i), "type", "veth", "peer", "name", "eth0", "netns", nw.ns(i)},
			[]string{"ip", "link", "set", nw.veth(i), "master", nw.bridge(), "up"},
			[]string{"ip", "-n", nw.ns(i), "addr", "add", nw.ip(i) + "/24", "dev", "eth0"},
			[]string{"ip", "-n", nw.ns(i), "link", "set", "eth0", "up"},
			[]string{"ip", "-n", nw.ns(i), "link", "set", "lo", "up"},
		)
	}
	for _, s := range steps {
		if err := run(s[0], s[1:]...); err != nil {
			return err
		}
	}
	for i := 0; i < nw.n; i++ {
		ln, err := listenInNetns(nw.ns(i), nw.RaftAdvertise(i))
		if err != nil {
			return err
		}
		ips := map[string]int{}
		for j := 0; j < nw.n; j++ {
			ips[nw.ip(j)] = j
		}
		nw.proxies = append(nw.proxies, newProxy(i, ln, nw.RaftBind(i), nw.links, false,
			func(c net.Conn, _ []byte) (int, bool) {
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				j, ok := ips[host]
				return j, ok
			}))
	}
	return nil
}

// listenInNetns opens a TCP listener inside the named namespace: a socket
// belongs to the namespace of the thread that created it, so one locked
// thread enters the namespace, listens and returns.
func listenInNetns(name, addr string) (net.Listener, error) {
	type res struct {
		ln  net.Listener
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, err}
			return
		}
		defer orig.Close()
		target, err := os.Open(filepath.Join("/var/run/netns", name))
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, err}
			return
		}
		defer target.Close()
		if err := setns(target.Fd()); err != nil {
			runtime.UnlockOSThread()
			ch <- res{nil, fmt.Errorf("setns %s: %w", name, err)}
			return
		}
		ln, lerr := net.Listen("tcp", addr)
		if err := setns(orig.Fd()); err != nil {
			// Leave the thread locked: it dies with this goroutine
			// instead of running other goroutines in the wrong namespace.
			ch <- res{ln, lerr}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{ln, lerr}
	}()
	r := <-ch
	return r.ln, r.err
}

func setns(fd uintptr) error {
	return unix.Setns(int(fd), unix.CLONE_NEWNET)
}

func (nw *netnsNetwork) Mode() string { return "netns" }
func (nw *netnsNetwork) APIAddr(i int) string {
	return net.JoinHostPort(nw.ip(i), fmt.Sprint(apiPort))
}
func (nw *netnsNetwork) RaftBind(i int) string {
	return net.JoinHostPort(nw.ip(i), fmt.Sprint(raftPort))
}
func (nw *netnsNetwork) RaftAdvertise(i int) string {
	return net.JoinHostPort(nw.ip(i), fmt.Sprint(raftPort+1))
}

// Command runs the program inside node i's namespace (ip netns exec
// replaces itself with the program, so the process is the node).
func (nw *netnsNetwork) Command(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nw.ns(i), name}, args...)...)
}

func (nw *netnsNetwork) Cut(from, to int) error {
	return run("ip", "netns", "exec", nw.ns(to), "iptables", "-w", "-A", "INPUT", "-s", nw.ip(from), "-j", "DROP")
}

func (nw *netnsNetwork) Heal() error {
	nw.links.healAll()
	var first error
	for i := 0; i < nw.n; i++ {
		if err := run("ip", "netns", "exec", nw.ns(i), "iptables", "-w", "-F", "INPUT"); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (nw *netnsNetwork) SetLatency(from, to int, d time.Duration) {
	nw.links.setLatency(from, to, d)
}

// Close removes the proxies, namespaces, veths and the bridge.
func (nw *netnsNetwork) Close() error {
	nw.links.healAll()
	for _, p := range nw.proxies {
		p.close()
	}
	removeNetnsRun(nw.run)
	return nil
}

func removeNetnsRun(r int) {
	for i := 0; i < 9; i++ {
		ns := fmt.Sprintf("fz%dn%d", r, i)
		if _, err := os.Stat(filepath.Join("/var/run/netns", ns)); err == nil {
			// Processes left in the namespace (their harness was killed)
			// go with it.
			if out, err := exec.Command("ip", "netns", "pids", ns).Output(); err == nil {
				for _, f := range strings.Fields(string(out)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
			}
			run("ip", "netns", "del", ns)
		}
		run("ip", "link", "del", fmt.Sprintf("fz%dv%d", r, i))
	}
	run("ip", "link", "del", fmt.Sprintf("fzbr%d", r))
	os.Remove(filepath.Join(netnsOwners, strconv.Itoa(r)))
}

// reapStaleNetns removes runs whose owner process is gone (a test killed
// before its cleanup).
func reapStaleNetns() {
	entries, _ := os.ReadDir(netnsOwners)
	for _, e := range entries {
		r, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, _ := os.ReadFile(filepath.Join(netnsOwners, e.Name()))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			continue
		}
		removeNetnsRun(r)
	}
}
