package cluster

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// A second process on the same data dir must fail fast, naming the lock,
// instead of waiting for bbolt's file lock forever.
func TestOpen_SecondOpenOnDataDirFailsFast(t *testing.T) {
	dir := t.TempDir()
	first := startNode(t, "n1", dir, "", nil, true, nil)
	t.Cleanup(first.stop)
	cfg := fastConfig(t, "n1", dir, "127.0.0.1:0", "http://127.0.0.1:1")
	start := time.Now()
	n, err := Open(cfg)
	took := time.Since(start)
	if err == nil {
		n.Shutdown(context.Background())
		t.Fatal("second open of a data dir succeeded")
	}
	if !errors.Is(err, ErrDataDirLocked) || !strings.Contains(err.Error(), "raft.db") {
		t.Fatalf("err %v, want ErrDataDirLocked naming raft.db", err)
	}
	if took > 3*time.Second {
		t.Fatalf("took %v", took)
	}
	t.Logf("second open refused after %v: %v", took, err)
}

// A join under an id the cluster has at another address is refused at
// once (it would orphan the real node); the same id and address again is
// an idempotent success.
func TestJoin_DuplicateIDAtOtherAddressRefused(t *testing.T) {
	c := newTestCluster(t, 2, nil)
	leader := c.waitLeader()
	n2 := c.nodes[1]
	// The same member again, as a node asking for itself: no change, no
	// error (a retried start-up join).
	if err := leader.join(ctx5(t), JoinRequest{ID: "n2", RaftAddr: n2.raftAddr, APIURL: n2.cfg.APIURL, Self: true, Format: n2.format()}); err != nil {
		t.Fatalf("idempotent self-join: %v", err)
	}
	impostor := startNode(t, "n2", t.TempDir(), "", nil, false, nil)
	t.Cleanup(impostor.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err := impostor.JoinVia(ctx, c.nodes[1].cfg.APIURL, false) // through a follower
	if err == nil || !errors.Is(err, ErrMemberExists) || !strings.Contains(err.Error(), "already a member") {
		t.Fatalf("duplicate id join: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("refusal took %v: a permanent error must not be retried", took)
	}
	for _, s := range leader.Raft().GetConfiguration().Configuration().Servers {
		if string(s.ID) == "n2" && string(s.Address) != n2.raftAddr {
			t.Fatalf("member n2 re-pointed to %s", s.Address)
		}
	}
}

// A wrong cluster key fails at once with ErrUnauthorized; a dead address
// says it cannot be reached.
func TestJoinVia_PermanentErrorsFailFastDeadAddressNamed(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	wrong := startNode(t, "nk", t.TempDir(), "", nil, false, func(cfg *Config) { cfg.ClusterKey = "another-key-0123456789" })
	t.Cleanup(wrong.stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	if err := wrong.JoinVia(ctx, c.nodes[0].cfg.APIURL, false); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong key: %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("wrong key refused after %v", took)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "http://" + ln.Addr().String()
	ln.Close()
	dctx, dcancel := context.WithTimeout(context.Background(), time.Second)
	defer dcancel()
	err := wrong.JoinVia(dctx, dead, false)
	if err == nil || !strings.Contains(err.Error(), "cannot reach "+dead) || strings.Contains(err.Error(), "forwarding") {
		t.Fatalf("dead address: %v", err)
	}
}

// RaftLogLevel reaches the Raft library's logger.
func TestConfig_RaftLogLevel(t *testing.T) {
	var buf syncBuffer
	tn := startNode(t, "n1", t.TempDir(), "", nil, true, func(cfg *Config) { cfg.RaftLogLevel = "debug"; cfg.LogOutput = &buf })
	t.Cleanup(tn.stop)
	eventually(t, 5*time.Second, "a raft debug line", func() bool { return strings.Contains(buf.String(), "[DEBUG]") })
	bad := DefaultConfig()
	bad.RaftLogLevel = "loud"
	if err := bad.Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("bad level: %v", err)
	}
	if tn.Status(false).Version != "" {
		t.Fatal("version without Config.Version")
	}
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }
