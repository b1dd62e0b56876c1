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
