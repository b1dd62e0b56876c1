package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/internal/proctest"
)

// The Raft floor (issue 23, docs/BENCHMARKS.md): the least a replicated
// logout can cost on the stack the project requires — hashicorp/raft with
// raft-boltdb, behind net/http — run side by side with etcd by the same
// driver. Three processes of this program (`bench raftfloor`), each one
// Raft node with sessiond's Raft settings (the same log store options,
// log cache, CommitTimeout and batched apply channel) but nothing else:
// a plain TCP transport (no TLS), no metrics sink, a one-map FSM, and a
// handler that proposes the bearer token's bytes as one entry. The driver
// sends every logout to the leader, so nothing is forwarded, signed,
// looked up, or waited for on other nodes. A design on this stack has
// all of that work to do and more, so `raftfloor logout ÷ etcd logout`
// bounds what sessiond's ratio can reach on the machine it runs on.
//
//	bench raftfloor -id f1 -raft 127.0.0.1:P -http 127.0.0.1:Q -dir D -peers f1=ADDR,f2=ADDR,f3=ADDR

// floorFSM remembers which tokens were ended; its snapshot is empty (a
// run never takes one: the threshold is above a run's entries).
type floorFSM struct {
	mu    sync.Mutex
	ended map[string]struct{}
}

func (f *floorFSM) Apply(l *raft.Log) any {
	f.mu.Lock()
	for _, tok := range strings.Split(string(l.Data), "\n") {
		f.ended[tok] = struct{}{}
	}
	f.mu.Unlock()
	return nil
}

func (f *floorFSM) Snapshot() (raft.FSMSnapshot, error) { return floorSnap{}, nil }
func (f *floorFSM) Restore(rc io.ReadCloser) error      { return rc.Close() }

type floorSnap struct{}

func (floorSnap) Persist(s raft.SnapshotSink) error { return s.Close() }
func (floorSnap) Release()                          {}

func runRaftFloor(args []string) {
	fs := flag.NewFlagSet("raftfloor", flag.ExitOnError)
	id := fs.String("id", "f1", "this node's Raft id")
	raftAddr := fs.String("raft", "", "Raft TCP address (loopback)")
	httpAddr := fs.String("http", "", "HTTP address (loopback)")
	dir := fs.String("dir", "", "data directory")
	peers := fs.String("peers", "", "id=raftaddr,… of every node (the same on each: all bootstrap with it)")
	batch := fs.Bool("batch", false, "pack concurrent logouts into one entry (floorBatcher) instead of one entry each")
	fs.Parse(args)
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		log.Fatal(err)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(*id)
	cfg.CommitTimeout = 2 * time.Millisecond // as cluster/node.go
	cfg.BatchApplyCh = true
	cfg.SnapshotThreshold = 1 << 30
	cfg.Logger = hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: os.Stderr})
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(*dir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType},
	})
	if err != nil {
		log.Fatal(err)
	}
	logs, err := raft.NewLogCache(1024, store)
	if err != nil {
		log.Fatal(err)
	}
	snaps, err := raft.NewFileSnapshotStore(*dir, 1, io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	tr, err := raft.NewTCPTransport(*raftAddr, nil, 3, 10*time.Second, io.Discard)
	if err != nil {
		log.Fatal(err)
	}
	r, err := raft.NewRaft(cfg, &floorFSM{ended: map[string]struct{}{}}, logs, store, snaps, tr)
	if err != nil {
		log.Fatal(err)
	}
	var servers []raft.Server
	for _, p := range strings.Split(*peers, ",") {
		pid, addr, _ := strings.Cut(p, "=")
		servers = append(servers, raft.Server{ID: raft.ServerID(pid), Address: raft.ServerAddress(addr)})
	}
	if err := r.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil && err != raft.ErrCantBootstrap {
		log.Fatal(err)
	}
	b := &floorBatcher{r: r}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /leader", func(w http.ResponseWriter, _ *http.Request) {
		if r.State() != raft.Leader {
			w.WriteHeader(http.StatusNotFound)
		}
	})
	mux.HandleFunc("POST /v1/logout", func(w http.ResponseWriter, req *http.Request) {
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var err error
		if *batch {
			err = b.submit(tok)
		} else {
			err = r.Apply([]byte(tok), 5*time.Second).Error()
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	log.Fatal(http.ListenAndServe(*httpAddr, mux))
}

// floorBatcher packs the logouts that arrive while floorSlots entries
// are in flight into the next entry (tokens joined by newlines), the way
// a design with a multi-command log entry would: the floor of the stack
// when entries are not one per logout.
type floorBatcher struct {
	r        *raft.Raft
	mu       sync.Mutex
	queue    []floorCall
	inFlight int
}

type floorCall struct {
	tok  string
	done chan error
}

const floorSlots, floorMaxBatch = 2, 256

func (b *floorBatcher) submit(tok string) error {
	c := floorCall{tok: tok, done: make(chan error, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	send := b.inFlight < floorSlots
	if send {
		b.inFlight++
	}
	b.mu.Unlock()
	if send {
		b.send()
	}
	return <-c.done
}

// send proposes queued logouts an entry at a time until none are left,
// then gives its slot back.
func (b *floorBatcher) send() {
	for {
		b.mu.Lock()
		k := min(len(b.queue), floorMaxBatch)
		if k == 0 {
			b.inFlight--
			b.mu.Unlock()
			return
		}
		calls := append([]floorCall(nil), b.queue[:k]...)
		b.queue = append(b.queue[:0], b.queue[k:]...)
		b.mu.Unlock()
		toks := make([]string, len(calls))
		for i, c := range calls {
			toks[i] = c.tok
		}
		err := b.r.Apply([]byte(strings.Join(toks, "\n")), 5*time.Second).Error()
		for _, c := range calls {
			c.done <- err
		}
	}
}

// floorCluster is the three floor processes, as the runner sees them.
type floorCluster struct {
	procs     []*proc
	leaderURL string
}

// startFloor starts the three floor nodes and waits for their leader.
func startFloor(ctx context.Context, procs *procSet, root string, batch bool) (*floorCluster, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var peers, urls []string
	var raftAddrs, httpAddrs []string
	for i := 1; i <= 3; i++ {
		ra, err := proctest.Addr()
		if err != nil {
			return nil, err
		}
		ha, err := proctest.Addr()
		if err != nil {
			return nil, err
		}
		raftAddrs, httpAddrs = append(raftAddrs, ra), append(httpAddrs, ha)
		peers = append(peers, fmt.Sprintf("f%d=%s", i, ra))
		urls = append(urls, "http://"+ha)
	}
	fc := &floorCluster{}
	for i := 1; i <= 3; i++ {
		p, err := procs.start("raftfloor-f"+strconv.Itoa(i), nil, exe, "raftfloor", "-id", "f"+strconv.Itoa(i),
			"-raft", raftAddrs[i-1], "-http", httpAddrs[i-1], "-dir", filepath.Join(root, "raftfloor-f"+strconv.Itoa(i)),
			"-peers", strings.Join(peers, ","), "-batch="+strconv.FormatBool(batch))
		if err != nil {
			return nil, err
		}
		fc.procs = append(fc.procs, p)
	}
	err = waitFor(ctx, time.Minute, "raftfloor leader", fc.procs[0], func() bool {
		for _, u := range urls {
			if httpOK(u + "/leader") {
				fc.leaderURL = u
				return true
			}
		}
		return false
	})
	mode := "one entry per logout"
	if batch {
		mode = "concurrent logouts packed into one entry"
	}
	logf("raftfloor: leader %s, %s", fc.leaderURL, mode)
	return fc, err
}

func (fc *floorCluster) cpuSeconds() float64 {
	var s float64
	for _, p := range fc.procs {
		s += p.cpuSeconds()
	}
	return s
}
