package transport

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

var muxKey = []byte("mux-test-cluster-key-0123456789")

func httpVia(l *Layer) *http.Client {
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: l.DialHTTP}}
}

// Internal HTTP rides the Raft port: a request dialled with DialHTTP is
// served from the HTTP listener, while Raft's connections on the same port
// still reach Accept.
func TestMux_HTTPAndRaftShareThePort(t *testing.T) {
	srv, err := NewKeyed("127.0.0.1:0", nil, muxKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	go http.Serve(srv.HTTP(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "internal:"+r.URL.Path)
	}))
	go func() {
		for {
			c, err := srv.Accept()
			if err != nil {
				return
			}
			go io.Copy(c, c)
		}
	}()
	cli, err := NewKeyed("127.0.0.1:0", nil, muxKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := httpVia(cli).Post("http://"+srv.Addr().String()+"/internal/v1/x", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "internal:/internal/v1/x" {
		t.Fatalf("answer %q", body)
	}
	conn, err := cli.Dial(raft.ServerAddress(srv.Addr().String()), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte{1, 2, 3}) // a Raft RPC type first: no mark
	got := make([]byte, 3)
	if _, err := io.ReadFull(conn, got); err != nil || got[0] != 1 {
		t.Fatalf("raft echo %v %v", got, err)
	}
	// A peer without the key gets no answer at all.
	wrong, _ := NewKeyed("127.0.0.1:0", nil, []byte("another-cluster-key-0123456789"), nil)
	defer wrong.Close()
	if resp, err := httpVia(wrong).Post("http://"+srv.Addr().String()+"/internal/v1/x", "text/plain", nil); err == nil {
		resp.Body.Close()
		t.Fatal("a call with the wrong key was answered")
	}
}

// previousRelease is the server side of the release before the mux: every
// authenticated connection went to Raft, the mark included.
type previousRelease struct {
	*Layer
	conns chan net.Conn
}

func (p *previousRelease) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

// A node of this release calling a member of the previous one over
// internal HTTP gets an error, never an answer: the old member's Raft
// reads the mark as an unknown RPC type and closes the connection. Nothing
// panics on either side.
func TestMux_PreviousReleaseFailsClosed(t *testing.T) {
	layer, err := NewKeyed("127.0.0.1:0", nil, muxKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := &previousRelease{Layer: layer, conns: make(chan net.Conn)}
	feed := func(accept func() (net.Conn, error), mark bool) {
		for {
			c, err := accept()
			if err != nil {
				return
			}
			if mark {
				c = &prefixConn{Conn: c, prefix: []byte{kindHTTP}}
			}
			old.conns <- c
		}
	}
	go feed(layer.Accept, false)
	go feed(layer.HTTP().Accept, true)
	tr := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: old, MaxPool: 1, Timeout: time.Second, Logger: hclog.NewNullLogger(),
	})
	defer tr.Close()
	cli, err := NewKeyed("127.0.0.1:0", nil, muxKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	resp, err := httpVia(cli).Post("http://"+old.Addr().String()+"/internal/v1/applybatch", "application/octet-stream", strings.NewReader("x"))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("the previous release answered %d", resp.StatusCode)
	}
	t.Logf("call to a previous-release member: %v", err)
}
