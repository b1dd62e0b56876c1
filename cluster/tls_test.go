package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/internal/testca"
)

// testCA makes a throwaway CA and returns a function that issues node
// certificates for 127.0.0.1 into files under dir.
func testCA(t *testing.T, dir, name string) func(node string) transport.TLSFiles {
	t.Helper()
	ca := testca.New(t, dir, name)
	return func(node string) transport.TLSFiles {
		cert, key := ca.Issue(node)
		return transport.TLSFiles{CertFile: cert, KeyFile: key, CAFile: ca.File}
	}
}

// startTLSNode starts a node whose Raft and internal API use mutual TLS.
func startTLSNode(t *testing.T, id string, files transport.TLSFiles, bootstrap bool) *testNode {
	t.Helper()
	certs, err := transport.NewCertReloader(files)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := fastConfig(t, id, t.TempDir(), "127.0.0.1:0", "https://"+ln.Addr().String())
	cfg.Bootstrap, cfg.TLS = bootstrap, certs
	n, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/internal/", n.InternalHandler())
	srv := &http.Server{Handler: mux, TLSConfig: certs.ServerConfig(true)}
	go srv.ServeTLS(ln, "", "")
	tn := &testNode{Node: n, srv: srv, dir: cfg.DataDir, id: id, raftAddr: n.RaftAddr(), apiLn: ln}
	t.Cleanup(tn.stop)
	return tn
}

func TestCluster_MutualTLSOnly(t *testing.T) {
	dir := t.TempDir()
	issue := testCA(t, dir, "good")
	c := &testCluster{t: t}
	c.nodes = append(c.nodes, startTLSNode(t, "n1", issue("n1"), true))
	c.waitLeader()
	for _, id := range []string{"n2", "n3"} {
		n := startTLSNode(t, id, issue(id), false)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := n.JoinVia(ctx, c.nodes[0].cfg.APIURL, false); err != nil {
			cancel()
			t.Fatalf("join %s over TLS: %v", id, err)
		}
		cancel()
		c.nodes = append(c.nodes, n)
	}
	c.waitConverged()
	f := c.followers()
	uid := mustUser(t, f[0].Node, "tls-user")
	mustLogin(t, f[0].Node, uid, "tls-token")
	if !valid(t, f[1].Node, Consistent, "tls-token") {
		t.Fatal("write over TLS not visible on the other follower")
	}

	// A plaintext peer cannot speak Raft to a TLS node.
	conn, err := net.DialTimeout("tcp", c.nodes[0].RaftAddr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte{0, 1, 2, 3})
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Read(make([]byte, 16)); err == nil {
		t.Log("server answered the plaintext bytes (a TLS alert); the connection is still refused")
	}
	conn.Close()

	// A node with a certificate from another CA is refused.
	rogueFiles := testCA(t, dir, "rogue")("n9")
	rogueCerts, err := transport.NewCertReloader(rogueFiles)
	if err != nil {
		t.Fatal(err)
	}
	cfg := rogueCerts.ClientConfig()
	cfg.ServerName = "127.0.0.1"
	if tc, err := tls.Dial("tcp", c.nodes[0].RaftAddr(), cfg); err == nil {
		// The handshake may finish on the client side; the server then closes.
		tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := tc.Read(make([]byte, 1)); err == nil {
			t.Fatal("a certificate from a foreign CA was accepted")
		}
		tc.Close()
	}
}
