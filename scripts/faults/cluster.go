package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// ClusterConfig describes a cluster of real sessiond processes.
type ClusterConfig struct {
	Nodes             int
	Binary            string
	Dir               string // data dirs and logs live here
	Net               Network
	IDs               []string
	ClusterKey        string
	AdminPassword     string
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	MaxStale          time.Duration
	SnapshotThreshold uint64
	Consistency       string   // the nodes' default level
	ExtraFlags        []string // appended to every node's command line
	// TmpfsNode, when >= 0, gets its data dir on a size-limited tmpfs
	// (root only) so the disk-full fault can fill it.
	TmpfsNode int
	TmpfsSize string
	// ClockFiles: the binary has --fault-clock-file; each node gets one
	// (Dir/ID.clock, offset 0 until the clock-skew fault writes it).
	ClockFiles bool
}

// Proc is one node process.
type Proc struct {
	*proctest.Proc // Name is ID; LogPath is the node's log
	Index          int
	ID             string
	DataDir        string
	URL            string

	mu      sync.Mutex
	paused  bool
	crashes []string // exits the harness did not cause, with the log's end
}

// Crashes returns the exits of this node that the harness did not cause.
func (p *Proc) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// Paused reports whether the harness stopped the process (SIGSTOP).
func (p *Proc) Paused() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paused
}

// Cluster is a running set of nodes.
type Cluster struct {
	cfg    ClusterConfig
	Procs  []*Proc
	Client *Client
	tmpfs  string
}

// StartCluster starts node 0 as a new one-node cluster, joins the others
// through it and waits until every node is ready.
func StartCluster(ctx context.Context, cfg ClusterConfig) (*Cluster, error) {
	c := &Cluster{cfg: cfg}
	for i := 0; i < cfg.Nodes; i++ {
		p := &Proc{Index: i, ID: cfg.IDs[i], DataDir: filepath.Join(cfg.Dir, cfg.IDs[i]), URL: "http://" + cfg.Net.APIAddr(i)}
		p.Proc = &proctest.Proc{Name: p.ID, Bin: cfg.Binary, LogPath: filepath.Join(cfg.Dir, cfg.IDs[i]+".log"),
			Env: proctest.CleanEnv("SESSIOND_CLUSTER_KEY="+cfg.ClusterKey, "SESSIOND_ADMIN_PASSWORD="+cfg.AdminPassword),
			Command: func(bin string, args ...string) *exec.Cmd {
				return cfg.Net.Command(context.Background(), i, bin, args...)
			},
		}
		p.OnExit = func(err error, expected bool) {
			if !expected {
				p.mu.Lock()
				p.crashes = append(p.crashes, fmt.Sprintf("%s exited by itself (%v): %s", p.ID, err, p.tail()))
				p.mu.Unlock()
			}
		}
		if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
			return nil, err
		}
		if cfg.ClockFiles {
			if err := c.setClock(i, 0); err != nil {
				return nil, err
			}
		}
		if i == cfg.TmpfsNode && cfg.TmpfsNode >= 0 {
			if err := run("mount", "-t", "tmpfs", "-o", "size="+cfg.TmpfsSize+",mode=0700", "tmpfs", p.DataDir); err != nil {
				return nil, err
			}
			c.tmpfs = p.DataDir
		}
		c.Procs = append(c.Procs, p)
	}
	urls := make([]string, cfg.Nodes)
	for i, p := range c.Procs {
		urls[i] = p.URL
	}
	c.Client = NewClient(urls, cfg.IDs, cfg.ClusterKey)
	if err := c.Start(0); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.WaitReady(ctx, []int{0}); err != nil {
		c.Close()
		return nil, fmt.Errorf("faults: first node: %w", err)
	}
	for i := 1; i < cfg.Nodes; i++ {
		if err := c.Start(i); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.WaitReady(ctx, nil); err != nil {
		c.Close()
		return nil, err
	}
	// A joined node enters as a non-voter and is promoted once caught up:
	// faults start on a cluster of voters.
	if err := c.WaitVoters(ctx, cfg.Nodes); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// WaitVoters polls node 0's view of the membership until it has n voters.
func (c *Cluster) WaitVoters(ctx context.Context, n int) error {
	for {
		a := c.Client.do(ctx, 0, http.MethodGet, "/v1/cluster", "", nil, map[string]string{signWithClusterKey: ""})
		var st struct {
			Members []struct {
				Suffrage string `json:"suffrage"`
			} `json:"members"`
		}
		voters := 0
		if a.Status == http.StatusOK && json.Unmarshal(a.Body, &st) == nil {
			for _, m := range st.Members {
				if m.Suffrage == "Voter" {
					voters++
				}
			}
		}
		if voters >= n {
			return nil
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("faults: %d of %d members are voters: %w", voters, n, ctx.Err())
		}
	}
}

func (c *Cluster) args(i int) []string {
	cfg := c.cfg
	n := proctest.Node{Subcommand: "serve", ID: cfg.IDs[i], DataDir: c.Procs[i].DataDir,
		APIAddr: cfg.Net.APIAddr(i), APIURL: c.Procs[i].URL,
		RaftAddr: cfg.Net.RaftBind(i), RaftAdvertise: cfg.Net.RaftAdvertise(i),
		HeartbeatTimeout: cfg.HeartbeatTimeout, ElectionTimeout: cfg.ElectionTimeout,
		FastHash: true, LogLevel: "debug", // P7 then also sees what debug lines leak
		Extra: []string{"--max-stale", cfg.MaxStale.String()}}
	if cfg.SnapshotThreshold > 0 {
		n.Extra = append(n.Extra, "--snapshot-threshold", fmt.Sprint(cfg.SnapshotThreshold))
	}
	if cfg.Consistency != "" {
		n.Extra = append(n.Extra, "--consistency", cfg.Consistency)
	}
	if i > 0 {
		n.Join = c.Procs[0].URL
	}
	if cfg.ClockFiles {
		n.Extra = append(n.Extra, "--fault-clock-file", c.clockFile(i))
	}
	if cfg.Net.Mode() == "netns" {
		// Each node has its own address: the plain API URLs are private
		// to the test's network namespaces.
		n.Extra = append(n.Extra, "--allow-plain-api-url")
	}
	n.Extra = append(n.Extra, cfg.ExtraFlags...)
	return n.Args()
}

// Start starts node i (again). Its output goes to its log file.
func (c *Cluster) Start(i int) error {
	p := c.Procs[i]
	p.Args = c.args(i)
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	return p.Start()
}

// Signal sends sig to node i's process.
func (c *Cluster) Signal(i int, sig syscall.Signal) error {
	p := c.Procs[i]
	p.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT, syscall.SIGKILL:
		p.paused = false
	}
	p.mu.Unlock()
	return p.Signal(sig)
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	p := c.Procs[i]
	p.mu.Lock()
	p.paused = false
	p.mu.Unlock()
	return p.Kill()
}

// Stop ends every node (SIGCONT, then SIGKILL). SIGKILL is enough: the
// checks that need live nodes run before Stop.
func (c *Cluster) Stop() {
	for i := range c.Procs {
		c.Kill(i)
	}
}

// Close stops every node and unmounts the tmpfs data dir.
func (c *Cluster) Close() {
	c.Stop()
	if c.tmpfs != "" {
		run("umount", "-l", c.tmpfs)
		c.tmpfs = ""
	}
}

// tmpfsDir is the data dir on a tmpfs, or "".
func (c *Cluster) tmpfsDir() string { return c.tmpfs }

// WaitReady polls /readyz of the given nodes (nil = all) until each
// answers 200 or ctx ends; a node that exits ends the wait.
func (c *Cluster) WaitReady(ctx context.Context, nodes []int) error {
	if nodes == nil {
		for i := range c.Procs {
			nodes = append(nodes, i)
		}
	}
	for _, i := range nodes {
		p := c.Procs[i]
		err := p.Wait(ctx, time.Hour, "faults: "+p.ID+" ready", func() error {
			if !c.Client.Ready(ctx, i) {
				return errors.New("not ready")
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tail returns the end of the node's log for error messages.
func (p *Proc) tail() string {
	s := p.Log()
	if len(s) > 1500 {
		s = s[len(s)-1500:]
	}
	return strings.TrimSpace(s)
}

// Leader returns the index of the node that every reachable node agrees
// leads, polling until ctx ends.
func (c *Cluster) Leader(ctx context.Context) (int, error) {
	for {
		if i, ok := c.leaderOnce(ctx); ok {
			return i, nil
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return -1, fmt.Errorf("faults: no leader: %w", ctx.Err())
		}
	}
}

func (c *Cluster) leaderOnce(ctx context.Context) (int, bool) {
	for i, p := range c.Procs {
		if !p.Running() || p.Paused() {
			continue
		}
		st, err := c.Client.Status(ctx, i, false)
		if err == nil && st.State == "Leader" {
			return i, true
		}
	}
	return -1, false
}

// sleepCtx waits d unless ctx ends first; it reports whether ctx is still
// live. It paces polling loops and the nemesis schedule, never to
// synchronise with the system under test.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
