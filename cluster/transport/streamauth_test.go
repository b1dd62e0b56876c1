package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// Members holding the key still form a cluster and replicate over the
// handshake (the harness clusters above prove it too); a member with a
// different key is never let in.
func TestRaftAuth_HandshakeRoundTrip(t *testing.T) {
	key := []byte("shared-cluster-key-0123456789")
	var fails []string
	onFail := func(r string, _ net.Addr, _ error) { fails = append(fails, r) }
	srv, err := NewKeyed("127.0.0.1:0", nil, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	cli, _ := NewKeyed("127.0.0.1:0", nil, key, nil)
	defer cli.Close()
	conn, err := cli.Dial(raft.ServerAddress(srv.Addr().String()), time.Second)
	if err != nil {
		t.Fatalf("dial with the right key: %v", err)
	}
	conn.Write([]byte("ping"))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	conn.Close()
	bad, _ := NewKeyed("127.0.0.1:0", nil, []byte("other-cluster-key-0123456789"), onFail)
	defer bad.Close()
	if _, err := bad.Dial(raft.ServerAddress(srv.Addr().String()), time.Second); err == nil {
		t.Fatal("dial with a wrong key succeeded")
	}
	if len(fails) != 1 || fails[0] != "peer_bad_proof" {
		t.Fatalf("dialer's failures: %v", fails)
	}
}

// TestRaftAuth_KeyRotationSteps walks the cluster key rotation (install,
// use, remove) between two nodes: at every step where both are on the
// procedure, each can dial the other; a node that skipped "install" is
// refused by one that already uses the new key, and after "remove" the
// old key alone gets nowhere.
func TestRaftAuth_KeyRotationSteps(t *testing.T) {
	oldKey, newKey := []byte("old-cluster-key-0123456789abcdef"), []byte("new-cluster-key-0123456789abcdef")
	type ring struct {
		use    []byte
		accept [][]byte
	}
	plain, installed := ring{oldKey, nil}, ring{oldKey, [][]byte{newKey}}
	using, removed := ring{newKey, [][]byte{oldKey}}, ring{newKey, nil}
	echo := func(r ring) *Layer {
		l, err := NewKeyed("127.0.0.1:0", nil, r.use, nil, r.accept...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go io.Copy(c, c)
			}
		}()
		return l
	}
	dial := func(from, to ring) error {
		srv, cli := echo(to), echo(from)
		conn, err := cli.Dial(raft.ServerAddress(srv.Addr().String()), time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		conn.Write([]byte("ping"))
		buf := make([]byte, 4)
		_, err = io.ReadFull(conn, buf)
		return err
	}
	for _, c := range []struct {
		name     string
		from, to ring
		ok       bool
	}{
		{"plain to installed", plain, installed, true},
		{"installed to plain", installed, plain, true},
		{"installed to using", installed, using, true},
		{"using to installed", using, installed, true},
		{"using to removed", using, removed, true},
		{"removed to using", removed, using, true},
		{"plain to using (install skipped)", plain, using, false},
		{"using to plain (it answers in the key plain proves)", using, plain, true},
		{"plain to removed", plain, removed, false},
	} {
		if err := dial(c.from, c.to); (err == nil) != c.ok {
			t.Errorf("%s: %v, want ok=%v", c.name, err, c.ok)
		}
	}
}
