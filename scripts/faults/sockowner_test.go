package faults

import (
	"net"
	"os"
	"path/filepath"
	"testing"
)

func TestProcAddr_AsProcNetTCPWritesIt(t *testing.T) {
	got, err := procAddr("127.77.3.2:17001")
	if err != nil || got != "02034D7F:4269" {
		t.Fatalf("procAddr = %q, %v; want 02034D7F:4269", got, err)
	}
}

// The dialer's socket of a loopback connection is found in /proc/net/tcp
// and among this process's descriptors: what the proxy does to tell which
// node dialed it.
func TestSocketInode_FindsTheDialersSocket(t *testing.T) {
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inode, ok := socketInode(s.RemoteAddr().String(), s.LocalAddr().String())
	if !ok {
		t.Fatal("dialer socket not in /proc/net/tcp")
	}
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, _ := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); l == "socket:["+inode+"]" {
			return
		}
	}
	t.Fatalf("socket:[%s] is not one of this process's descriptors", inode)
}
