package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// Node is one member of a sessiond cluster. All methods are safe for
// concurrent use.
type Node struct {
	cfg       Config
	raft      *raft.Raft
	fsm       *fsm.FSM
	store     *raftboltdb.BoltStore
	logs      raft.LogStore // the cached log store Raft uses (fsmIndex)
	transport *raft.NetworkTransport
	stream    *transport.Layer // the authenticated Raft port (and its internal HTTP)
	client    *http.Client     // to API URLs: only a seed's Raft address at join (JoinVia)
	peers     *http.Client     // to members, over stream (peerhttp.go)
	peerSrv   *http.Server     // the internal API, over stream

	applied *appliedWaiter
	// fwdIndex is the highest index of a session creation forwarded from
	// here and answered before this node applied it (afterForward).
	fwdIndex  atomic.Uint64
	metrics   *nodeMetrics
	leaderRI  *batcher   // read-index rounds served as leader
	forwardRI *batcher   // read-index requests forwarded to the leader
	fwd       fwdBatcher // forwarded writes, coalesced (batch.go)
	refresher *refresher
	auth      *authMetrics
	guard     *reqGuard // verifies signed internal calls

	// readyTerm is the term in which this node, as leader, has seen an
	// entry of its own term applied; read-indexes are only served then.
	readyTerm atomic.Uint64
	// lease: the applied read-index and the time its round started, on the
	// monotonic clock (mono).
	leaseIndex atomic.Uint64
	leaseAt    atomic.Int64
	// leaseUsed: a Default read consulted the lease since the lease
	// loop's last tick; roundSeq numbers quorum rounds (protocol.go).
	leaseUsed atomic.Bool
	roundSeq  atomic.Uint64
	// cover: whether every member's release covers its predecessors'
	// leases, as last worked out (protocol.go, leaseCovered).
	cover atomic.Pointer[coverVerdict]
	// born anchors mono; leases is the leader's table of read leases it
	// granted (leases.go).
	born   time.Time
	leases *leaseTable
	nfsm   *notifyingFSM

	notify  chan bool
	closing atomic.Bool
	// removed is set once the leader tells this node it removed it
	// (removed.go).
	removed atomic.Pointer[removedNotice]
	stop    chan struct{}
	// wg counts the goroutines the node started (goattach.go); wgMu
	// orders goAttach's Add before Shutdown's Wait; stopCtx ends with
	// n.stop, for the bounded calls those goroutines make.
	wg         sync.WaitGroup
	wgMu       sync.RWMutex
	stopCtx    context.Context
	stopCancel context.CancelFunc
	shutOnce   sync.Once
	shutErr    error

	// onLeader is the leader hook, and hookMu/hookTerm/preparedTerm make
	// it run once per term of leadership however its registration and
	// the election race (leaderhook.go).
	onLeader     atomic.Pointer[func(context.Context)]
	preparedTerm atomic.Uint64
	hookMu       sync.Mutex
	hookTerm     uint64
	// promoteRounds counts the promoter's rounds as leader (promote.go),
	// so a test can tell the promoter has looked.
	promoteRounds atomic.Uint64
}

// Open starts a node: it opens (or creates) the data dir, starts Raft,
// bootstraps when asked and no state exists, and starts the background
// loops. It does not wait for a leader.
func Open(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkRaftExposure(&cfg); err != nil {
		return nil, err
	}
	if err := CheckAPIURL(cfg.APIURL, cfg.AllowPlainAPIURL); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	if err := os.Chmod(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	n := &Node{cfg: cfg, fsm: cfg.FSM, stop: make(chan struct{}), notify: make(chan bool, 8), born: time.Now(), leases: newLeaseTable()}
	n.stopCtx, n.stopCancel = context.WithCancel(context.Background())
	if n.fsm == nil {
		n.fsm = fsm.New()
	}
	if cfg.OnLeader != nil {
		n.onLeader.Store(&cfg.OnLeader) // before Raft starts: no election can beat it
	}
	n.client = cfg.HTTPClient
	if n.client == nil {
		tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}
		if cfg.TLS != nil {
			tr.TLSClientConfig = cfg.TLS.ClientConfig()
		}
		n.client = &http.Client{Timeout: 10 * time.Second, Transport: tr}
	}
	n.applied = newAppliedWaiter()
	n.metrics = newNodeMetrics()
	n.auth = newAuthMetrics()
	n.guard = newReqGuard(n)
	if n.fsm.OnApply == nil {
		n.fsm.OnApply = n.metrics.observeApply
	}
	n.leaderRI = newBatcher(n.leaderReadIndexRound)
	n.forwardRI = newBatcher(n.forwardReadIndexRound)
	n.leaderRI.observe = func(k int) { n.metrics.riBatch.WithLabelValues("leader").Observe(float64(k)) }
	n.forwardRI.observe = func(k int) { n.metrics.riBatch.WithLabelValues("forwarded").Observe(float64(k)) }
	if err := n.startRaft(); err != nil {
		return nil, err
	}
	n.startPeerHTTP()
	n.refresher = newRefresher(n)
	n.goAttach(n.leaderLoop)
	n.goAttach(n.leaseLoop)
	n.goAttach(n.announceLoop)
	n.goAttach(n.promoteLoop)
	n.goAttach(n.formatLoop) // the cluster version (clusterversion.go)
	return n, nil
}

// logCacheSize is how many recent log entries stay in memory for
// replication: several groups of MaxAppendEntries, so a follower a little
// behind is served without touching raft.db.
const logCacheSize = 1024

// commitTimeout is raft's CommitTimeout (see raftConfig).
const commitTimeout = 2 * time.Millisecond

func (n *Node) raftConfig() *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = raft.ServerID(n.cfg.NodeID)
	c.HeartbeatTimeout = n.cfg.HeartbeatTimeout
	c.ElectionTimeout = n.cfg.ElectionTimeout
	c.LeaderLeaseTimeout = n.cfg.LeaderLeaseTimeout
	c.SnapshotThreshold = n.cfg.SnapshotThreshold
	c.SnapshotInterval = n.cfg.SnapshotInterval
	c.TrailingLogs = n.cfg.TrailingLogs
	// A follower learns that an entry is committed from the leader's next
	// AppendEntries; when no other write follows, that is CommitTimeout
	// later (raft's default: 50 ms). A write through a follower waits for
	// its own apply there (read-your-writes), and a revocation waits for
	// every lease holder's apply (leases.go), so that delay was most of a
	// lone write's latency (issue 16). 2 ms costs an idle leader about 300
	// small RPCs a second per follower.
	c.CommitTimeout = commitTimeout
	// Buffer the apply channel to MaxAppendEntries, so that concurrent
	// proposals (a coalesced forward, batch.go) reach the log store as one
	// StoreLogs: one fsync for the group.
	c.BatchApplyCh = true
	c.NotifyCh = n.notify
	c.Logger = hclog.New(&hclog.LoggerOptions{
		Name: "raft", Level: n.cfg.raftLogLevel(), Output: n.cfg.logOutput(),
	})
	return c
}

func (n *Node) startRaft() error {
	rc := n.raftConfig()
	dbPath := filepath.Join(n.cfg.DataDir, "raft.db")
	store, err := raftboltdb.New(raftboltdb.Options{
		Path: dbPath,
		// bbolt waits forever for the file lock by default: a second
		// process on the same data dir must fail, and say why, instead.
		//
		// NoFreelistSync: bbolt writes its free-page list in every commit
		// otherwise, and the list only grows as compaction deletes old
		// entries; one StoreLogs per group of writes pays for it (issue
		// 16). Without it the list is rebuilt by a scan at open, which
		// for raft.db (a few snapshots' worth of entries) is quick; etcd
		// and Consul run bbolt this way. The map freelist keeps that
		// rebuilt list's allocations O(1).
		BoltOptions: &bbolt.Options{Timeout: boltLockTimeout, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
		// NoSync stays false: an acknowledged write must survive power loss.
		NoSync: false,
	})
	if errors.Is(err, bbolt.ErrTimeout) {
		return fmt.Errorf("%w: %s is locked by another process (another sessiond on data dir %s?); waited %v",
			ErrDataDirLocked, dbPath, n.cfg.DataDir, boltLockTimeout)
	}
	if err != nil {
		return fmt.Errorf("cluster: open raft.db: %w", err)
	}
	os.Chmod(filepath.Join(n.cfg.DataDir, "raft.db"), 0o600)
	snaps, err := newPrivateSnapshotStore(n.cfg.DataDir, n.cfg.SnapshotRetain, rc.Logger)
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: snapshot store: %w", err)
	}
	var adv net.Addr
	if n.cfg.RaftAdvertise != "" {
		if adv, err = net.ResolveTCPAddr("tcp", n.cfg.RaftAdvertise); err != nil {
			store.Close()
			return fmt.Errorf("cluster: advertise address: %w", err)
		}
	}
	trans, err := n.newTransport(adv, rc.Logger)
	if err != nil {
		store.Close()
		return fmt.Errorf("cluster: raft transport: %w", err)
	}
	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		store.Close()
		trans.Close()
		return fmt.Errorf("cluster: inspect state: %w", err)
	}
	n.nfsm = &notifyingFSM{FSM: n.fsm, w: n.applied, m: n.metrics}
	// Replication reads the entries it sends back from the log store; the
	// cache answers the recent ones from memory instead of a bbolt read
	// and a msgpack decode each (Consul does the same).
	logs, err := raft.NewLogCache(logCacheSize, store)
	if err != nil {
		store.Close()
		trans.Close()
		return fmt.Errorf("cluster: log cache: %w", err)
	}
	r, err := raft.NewRaft(rc, n.nfsm, logs, store, snaps, trans)
	if err != nil {
		store.Close()
		trans.Close()
		return fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft, n.store, n.logs, n.transport = r, store, logs, trans
	members := &memberSources{raft: func() *raft.Raft { return r }}
	n.stream.SetMembers(members.contains)
	n.applied.set(n.fsm.AppliedIndex())
	if !existing && n.cfg.Bootstrap {
		f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}})
		if err := f.Error(); err != nil && err != raft.ErrCantBootstrap {
			n.Shutdown(context.Background())
			return fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	n.goAttach(func() { n.watchLeadership(n.notify) })
	return nil
}

// boltLockTimeout is how long Open waits for raft.db's file lock.
const boltLockTimeout = time.Second

// ErrDataDirLocked means another process holds the data dir's raft.db.
var ErrDataDirLocked = errors.New("cluster: data dir in use")

// notifyingFSM wakes readers waiting for an index after each apply.
type notifyingFSM struct {
	*fsm.FSM
	w *appliedWaiter
	m *nodeMetrics
	// beforeApply, set only by tests, runs before each command is applied
	// (to hold a node's state machine back).
	beforeApply func(index uint64)
}

// Snapshot wraps the FSM's snapshot so its persist time and size are
// measured.
func (f *notifyingFSM) Snapshot() (raft.FSMSnapshot, error) {
	s, err := f.FSM.Snapshot()
	if err != nil {
		return nil, err
	}
	return &measuredSnapshot{FSMSnapshot: s, m: f.m}, nil
}

func (f *notifyingFSM) Apply(l *raft.Log) interface{} {
	if f.beforeApply != nil {
		f.beforeApply(l.Index)
	}
	res := f.FSM.Apply(l)
	f.w.set(l.Index)
	return res
}

// StoreConfiguration (raft.ConfigurationStore) sees configuration entries
// in log order on the FSM goroutine: they count as applied, so a reader
// waiting for a read index that is a configuration entry is released.
func (f *notifyingFSM) StoreConfiguration(index uint64, _ raft.Configuration) {
	f.w.set(index)
}

func (f *notifyingFSM) Restore(rc io.ReadCloser) error {
	err := f.timedRestore(rc)
	f.w.set(f.FSM.AppliedIndex())
	return err
}

// FSM returns the node's state machine; reads use FSM().State().
func (n *Node) FSM() *fsm.FSM { return n.fsm }

// AppliedIndex is the last log index this node's state machine applied
// (what the API stamps on every answer as X-Sessiond-Index).
func (n *Node) AppliedIndex() uint64 { return n.fsm.AppliedIndex() }

// ID is this node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// RaftAddr is the address peers reach this node's Raft transport on.
func (n *Node) RaftAddr() string { return string(n.transport.LocalAddr()) }

// Config returns the configuration the node runs with.
func (n *Node) Config() Config { return n.cfg }

// Raft exposes the underlying Raft instance for status and tests.
func (n *Node) Raft() *raft.Raft { return n.raft }

// IsLeader reports whether this node currently leads.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Shutdown stops the node cleanly: it stops accepting work, hands
// leadership to another voter if it leads, stops the loops and closes Raft
// and its stores. Calling it again returns the first result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutOnce.Do(func() {
		if n.refresher != nil {
			n.refresher.flush(ctx)
		}
		n.closing.Store(true)
		n.stopping()
		if n.raft != nil && n.raft.State() == raft.Leader && n.hasOtherVoters() {
			n.raft.LeadershipTransfer().Error()
		}
		n.stopPeerHTTP() // its Serve goroutine is attached: it returns now
		n.wg.Wait()
		if n.raft != nil {
			n.shutErr = n.raft.Shutdown().Error()
		}
		if n.transport != nil {
			n.transport.Close()
		}
		if n.store != nil {
			if err := n.store.Close(); err != nil && n.shutErr == nil {
				n.shutErr = err
			}
		}
		n.applied.close()
	})
	return n.shutErr
}

func (n *Node) hasOtherVoters() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			return true
		}
	}
	return false
}

// newTransport is mutual TLS when certificates are set, and otherwise the
// cluster-key handshake of transport.NewKeyed: Raft never reads a byte from a
// peer that has not authenticated.
// Pipelined replication is off (MaxRPCsInFlight 1): the library's pipeline
// can wedge replication and Shutdown on a broken connection
// (hashicorp/raft#612), and batching already amortises the round trips.
func (n *Node) newTransport(adv net.Addr, logger hclog.Logger) (*raft.NetworkTransport, error) {
	cfg := &raft.NetworkTransportConfig{MaxPool: 3, MaxRPCsInFlight: 1, Timeout: 10 * time.Second, Logger: logger}
	if n.cfg.TLS == nil {
		stream, err := transport.NewKeyed(n.cfg.RaftBind, adv, n.streamKey(), n.raftAuthFailed(), n.acceptedKeys()...)
		if err != nil {
			return nil, err
		}
		n.stream, cfg.Stream = stream, stream
		return raft.NewNetworkTransportWithConfig(cfg), nil
	}
	stream, err := transport.NewMutualTLS(n.cfg.RaftBind, adv, n.cfg.TLS, n.raftAuthFailed())
	if err != nil {
		return nil, err
	}
	n.stream, cfg.Stream = stream, stream
	return raft.NewNetworkTransportWithConfig(cfg), nil
}
