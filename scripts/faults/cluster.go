package faults

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// BuildBinary builds cmd/sessiond from the module at root into dir and
// returns its path.
func BuildBinary(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "sessiond")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/sessiond")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("faults: go build ./cmd/sessiond: %v\n%s", err, out)
	}
	return bin, nil
}

// ModuleRoot finds the directory holding go.mod above dir.
func ModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("faults: no go.mod above " + dir)
		}
	}
}

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
}

// Proc is one node process.
type Proc struct {
	Index   int
	ID      string
	DataDir string
	LogPath string
	URL     string

	mu      sync.Mutex
	cmd     *exec.Cmd
	done    chan struct{}
	paused  bool
	starts  int
	exitErr error
	killing bool     // the harness killed it: the exit is expected
	crashes []string // exits the harness did not cause, with the log's end
}

// Crashes returns the exits of this node that the harness did not cause.
func (p *Proc) Crashes() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.crashes...)
}

// Running reports whether the process is alive (possibly paused).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
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
		p := &Proc{Index: i, ID: cfg.IDs[i], DataDir: filepath.Join(cfg.Dir, cfg.IDs[i]),
			LogPath: filepath.Join(cfg.Dir, cfg.IDs[i]+".log"), URL: "http://" + cfg.Net.APIAddr(i)}
		if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
			return nil, err
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
	return c, nil
}

func (c *Cluster) args(i int) []string {
	cfg := c.cfg
	a := []string{"serve",
		"--node-id", cfg.IDs[i],
		"--data-dir", c.Procs[i].DataDir,
		"--api-addr", cfg.Net.APIAddr(i),
		"--api-url", c.Procs[i].URL,
		"--raft-addr", cfg.Net.RaftBind(i),
		"--raft-advertise", cfg.Net.RaftAdvertise(i),
		"--heartbeat-timeout", cfg.HeartbeatTimeout.String(),
		"--election-timeout", cfg.ElectionTimeout.String(),
		"--max-stale", cfg.MaxStale.String(),
		"--hash-memory", "64", "--hash-time", "1",
		"--log-level", "info",
	}
	if cfg.SnapshotThreshold > 0 {
		a = append(a, "--snapshot-threshold", fmt.Sprint(cfg.SnapshotThreshold))
	}
	if cfg.Consistency != "" {
		a = append(a, "--consistency", cfg.Consistency)
	}
	if i > 0 {
		a = append(a, "--join", c.Procs[0].URL)
	}
	return append(a, cfg.ExtraFlags...)
}

// Start starts node i (again). Its output goes to its log file.
func (c *Cluster) Start(i int) error {
	p := c.Procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("faults: %s is already running", p.ID)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := c.cfg.Net.Command(context.Background(), i, c.cfg.Binary, c.args(i)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(),
		"SESSIOND_CLUSTER_KEY="+c.cfg.ClusterKey,
		"SESSIOND_ADMIN_PASSWORD="+c.cfg.AdminPassword,
	)
	// The node dies with the harness, whatever kills the harness.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logf, "=== faults: start %d of %s\n", p.starts+1, p.ID)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	p.cmd, p.done, p.paused, p.killing = cmd, make(chan struct{}), false, false
	p.starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		if !p.killing {
			p.crashes = append(p.crashes, fmt.Sprintf("%s exited by itself (%v): %s", p.ID, err, c.tailLog(i)))
		}
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

// Signal sends sig to node i's process.
func (c *Cluster) Signal(i int, sig syscall.Signal) error {
	p := c.Procs[i]
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("faults: %s not started", p.ID)
	}
	switch sig {
	case syscall.SIGSTOP:
		p.paused = true
	case syscall.SIGCONT:
		p.paused = false
	case syscall.SIGKILL:
		p.paused, p.killing = false, true
	}
	return p.cmd.Process.Signal(sig)
}

// Kill sends SIGKILL to node i and waits for it to exit.
func (c *Cluster) Kill(i int) error {
	p := c.Procs[i]
	if !p.Running() {
		return nil
	}
	if err := c.Signal(i, syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("faults: %s did not exit after SIGKILL", p.ID)
	}
}

// Stop ends every node (SIGCONT, then SIGKILL). SIGKILL is enough: the
// checks that need live nodes run before Stop.
func (c *Cluster) Stop() {
	for i, p := range c.Procs {
		if p.Running() {
			c.Signal(i, syscall.SIGCONT)
			c.Kill(i)
		}
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

// WaitReady polls /readyz of the given nodes (nil = all running ones)
// until each answers 200 or ctx ends.
func (c *Cluster) WaitReady(ctx context.Context, nodes []int) error {
	if nodes == nil {
		for i := range c.Procs {
			nodes = append(nodes, i)
		}
	}
	for _, i := range nodes {
		for {
			if !c.Procs[i].Running() {
				return fmt.Errorf("faults: %s exited: %s", c.Procs[i].ID, c.tailLog(i))
			}
			if c.Client.Ready(ctx, i) {
				break
			}
			if !sleepCtx(ctx, 100*time.Millisecond) {
				return fmt.Errorf("faults: %s not ready: %w; log: %s", c.Procs[i].ID, ctx.Err(), c.tailLog(i))
			}
		}
	}
	return nil
}

// tailLog returns the end of node i's log for error messages.
func (c *Cluster) tailLog(i int) string {
	data, _ := os.ReadFile(c.Procs[i].LogPath)
	if len(data) > 1500 {
		data = data[len(data)-1500:]
	}
	return strings.TrimSpace(string(data))
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
