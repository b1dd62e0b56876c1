package proctest

import (
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// Ports come from below the kernel's ephemeral range (32768 and up on
// Linux by default), where nothing else on the machine — ":0" listeners,
// outgoing connections — is handed a port between our check and the
// node's bind. Binding ":0", closing and passing the port on is racy for
// exactly that reason, so this package never does it.
//
// A port is handed out at most once per process, and it is reserved
// across processes by an flock on a file named after it in
// $TMPDIR/sessiond-proctest-ports-<uid>, held until this process exits. So two
// test binaries (the e2e tests and the fault suite under `go test ./...`,
// or two worktrees' CI on one machine) never pick the same port.
const (
	PortLow  = 20000
	PortHigh = 32000
)

var ports struct {
	sync.Mutex
	used  map[int]bool
	locks []*os.File // held for the life of the process
}

// Ports reserves n consecutive loopback ports and returns the first. The
// scripts that start a cluster (scripts/cluster.sh) take a base port and
// count up from it, hence consecutive.
func Ports(n int) (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	dir := filepath.Join(os.TempDir(), "sessiond-proctest-ports-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	for try := 0; try < 500; try++ {
		base := PortLow + mrand.IntN(PortHigh-PortLow-n)
		var held []*os.File
		ok := true
		for p := base; p < base+n && ok; p++ {
			var f *os.File
			if ports.used[p] || !portFree(p) {
				ok = false
			} else if f, ok = lockPort(dir, p); ok {
				held = append(held, f)
			}
		}
		if !ok {
			for _, f := range held {
				f.Close() // releases the lock
			}
			continue
		}
		for p := base; p < base+n; p++ {
			ports.used[p] = true
		}
		ports.locks = append(ports.locks, held...)
		return base, nil
	}
	return 0, fmt.Errorf("proctest: no %d free consecutive ports in %d-%d", n, PortLow, PortHigh)
}

// Port reserves one loopback port.
func Port() (int, error) { return Ports(1) }

// Addr reserves one loopback port and returns 127.0.0.1:port.
func Addr() (string, error) {
	p, err := Port()
	if err != nil {
		return "", err
	}
	return LoopbackAddr(p), nil
}

// LoopbackAddr is 127.0.0.1:port.
func LoopbackAddr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// lockPort takes the cross-process lock of port p without waiting.
func lockPort(dir string, p int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}

// portFree reports whether nothing listens on loopback port p now.
func portFree(p int) bool {
	ln, err := net.Listen("tcp", LoopbackAddr(p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}
