package faults

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Since internal calls and Raft share the Raft port's authenticated
// channel (cluster/transport), every byte between nodes is TLS: the
// loopback proxy can no longer read the sender's ID from a Raft header.
// It finds the sender instead as the kernel knows it: the process that
// owns the other end of the accepted connection (/proc/net/tcp gives the
// socket's inode, /proc/<pid>/fd the process holding it), and the node
// that process is by the --raft-addr it was started with.

// senderByOwner returns an identify function for a proxy: the node whose
// --raft-addr is in binds and whose process owns the peer socket of c.
func senderByOwner(binds []string) func(net.Conn, []byte) (int, bool) {
	return func(c net.Conn, _ []byte) (int, bool) {
		// The dialer's socket is in the table as soon as the connection
		// is accepted; poll briefly anyway for a slow /proc.
		deadline := time.Now().Add(time.Second)
		for {
			if i, ok := ownerNode(c.RemoteAddr().String(), c.LocalAddr().String(), binds); ok {
				return i, true
			}
			if time.Now().After(deadline) {
				return -1, false
			}
			time.Sleep(10 * time.Millisecond) // polling /proc, not synchronising
		}
	}
}

// ownerNode finds the node owning the socket local→remote.
func ownerNode(local, remote string, binds []string) (int, bool) {
	inode, ok := socketInode(local, remote)
	if !ok {
		return -1, false
	}
	target := "socket:[" + inode + "]"
	pids, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range pids {
		node := nodeOfCmdline(dir, binds)
		if node < 0 {
			continue
		}
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			if l, err := os.Readlink(filepath.Join(dir, "fd", fd.Name())); err == nil && l == target {
				return node, true
			}
		}
	}
	return -1, false
}

// nodeOfCmdline is the index in binds of the --raft-addr the process in
// dir was started with, or -1.
func nodeOfCmdline(dir string, binds []string) int {
	data, err := os.ReadFile(filepath.Join(dir, "cmdline"))
	if err != nil || !bytes.Contains(data, []byte("--raft-addr")) {
		return -1
	}
	args := strings.Split(string(data), "\x00")
	for k, a := range args {
		v, ok := strings.CutPrefix(a, "--raft-addr=")
		if !ok && a == "--raft-addr" && k+1 < len(args) {
			v, ok = args[k+1], true
		}
		if !ok {
			continue
		}
		for i, b := range binds {
			if v == b {
				return i
			}
		}
	}
	return -1
}

// socketInode looks the TCP socket local→remote up in /proc/net/tcp.
func socketInode(local, remote string) (string, bool) {
	l, err1 := procAddr(local)
	r, err2 := procAddr(remote)
	if err1 != nil || err2 != nil {
		return "", false
	}
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) >= 10 && fl[1] == l && fl[2] == r {
			return fl[9], true
		}
	}
	return "", false
}

// procAddr writes an IPv4 host:port as /proc/net/tcp does: the address
// as a little-endian 32-bit hex word, the port in big-endian hex.
func procAddr(hostport string) (string, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return "", err
	}
	ip := ap.Addr().Unmap()
	if !ip.Is4() {
		return "", fmt.Errorf("not IPv4: %s", hostport)
	}
	b := ip.As4()
	le := []byte{b[3], b[2], b[1], b[0]}
	return strings.ToUpper(hex.EncodeToString(le)) + ":" + fmt.Sprintf("%04X", ap.Port()), nil
}
