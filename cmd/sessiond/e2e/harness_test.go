package e2e

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/proctest"
)

// binPath is the sessiond binary TestMain builds once for every test
// (with -race when the tests run with it); moduleRoot holds its go.mod,
// where scripts run from.
var binPath, moduleRoot string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		// The fast tier (go test -short ./...) leaves out every test that
		// builds and starts the real binary.
		fmt.Println("e2e: skipped with -short (these tests build and run the real binary)")
		return 0
	}
	defer proctest.RemoveBinaries()
	defer removeReleases() // release_build_test.go
	wd, err := os.Getwd()
	if err == nil {
		moduleRoot, err = proctest.ModuleRoot(wd)
	}
	if err == nil {
		binPath, err = proctest.Binary(context.Background(), proctest.Race)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// fastArgs are the flags every test node runs with (cheap hashing,
// 500 ms timeouts).
var fastArgs = proctest.FastArgs()

// cleanEnv is this process's environment without any sessiond setting.
var cleanEnv = proctest.CleanEnv

const (
	adminPassword = "e2e-admin-password-1"
	clusterKey    = "EHD0_zNdBnk67_0MSEPe1uOswqItVXWiZ_sYuL1WJr8" // from sessiond keygen
	waitLong      = 30 * time.Second
)

// proc is one sessiond process of a test.
type proc struct {
	*proctest.Proc
	t *testing.T
}

// node is a sessiond node with its addresses.
type node struct {
	*proc
	id       string
	apiURL   string
	raftAddr string
	dataDir  string
	opts     []client.Option // for HTTPS nodes: the CA
	metrics  string          // base URL of the metrics listener (--metrics-addr)
}

// freePorts reserves n consecutive loopback ports and returns the first.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	p, err := proctest.Ports(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// freeAddr reserves a loopback address.
func freeAddr(t *testing.T) string {
	return proctest.LoopbackAddr(freePorts(t, 1))
}

// startProc runs the binary in dir with args and env; its output goes to a
// log file shown when the test fails. It is killed at cleanup.
func startProc(t *testing.T, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, Proc: &proctest.Proc{Name: name, Bin: binPath, Dir: dir, Args: args, Env: env,
		LogPath: filepath.Join(t.TempDir(), name+".log")}}
	p.StartT(t)
	return p
}

// stop sends SIGTERM and waits for the exit; it fails the test unless
// the process exits 0 in time.
func (p *proc) stop() {
	p.t.Helper()
	if err := p.Stop(waitLong); err != nil {
		p.t.Fatal(err)
	}
}

// restart starts the process again with the same arguments.
func (p *proc) restart() {
	p.t.Helper()
	if err := p.Start(); err != nil {
		p.t.Fatal(err)
	}
}

// startNode starts a node with its own data dir under a fresh working
// directory, on free loopback ports.
func startNode(t *testing.T, id string, env []string, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	api, raft, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
	n := &node{id: id, apiURL: "http://" + api, raftAddr: raft, dataDir: filepath.Join(dir, "data"), metrics: "http://" + metrics}
	for _, a := range extra {
		if a == "--tls-cert" {
			n.apiURL = "https://" + api
		}
	}
	flags := proctest.Node{ID: id, APIAddr: api, RaftAddr: raft, FastHash: true, MetricsAddr: metrics,
		HeartbeatTimeout: proctest.FastTimeout, ElectionTimeout: proctest.FastTimeout}
	if len(extra) > 0 && !strings.HasPrefix(extra[0], "-") { // a subcommand comes first
		flags.Subcommand, extra = extra[0], extra[1:]
	}
	flags.Extra = extra
	n.proc = startProc(t, id, dir, env, flags.Args()...)
	return n
}

func (n *node) client(opts ...client.Option) *client.Client {
	return client.New([]string{n.apiURL}, append(append([]client.Option(nil), n.opts...), opts...)...)
}

// eventually polls fn until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	if err := proctest.Poll(context.Background(), timeout, what, fn); err != nil {
		t.Fatal(err)
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitReady polls /readyz of each node until it answers 200; a node
// that exits fails the test with its log's end.
func waitReady(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		err := n.Wait(context.Background(), waitLong, n.id+" ready", func() error {
			return n.client().Ready(ctxT(t, 2*time.Second))
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// login polls until the user can log in on c (the first admin is seeded
// by the leader just after it is elected).
func login(t *testing.T, c *client.Client, user, password string) *client.LoginResponse {
	t.Helper()
	var res *client.LoginResponse
	eventually(t, waitLong, "login "+user, func() error {
		var err error
		res, err = c.Login(ctxT(t, 5*time.Second), client.LoginRequest{Login: user, Password: password})
		return err
	})
	return res
}

// runCLI runs a client subcommand of the binary and returns its stdout.
func runCLI(t *testing.T, env []string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLong)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), err
}

// assertNoSecrets greps every file under dirs for each secret: P7, no
// password and no usable token in raft.db, snapshots or logs.
func assertNoSecrets(t *testing.T, files []string, dirs []string, secrets ...string) {
	t.Helper()
	for _, d := range dirs {
		filepath.WalkDir(d, func(path string, e os.DirEntry, err error) error {
			if err == nil && !e.IsDir() {
				files = append(files, path)
			}
			return nil
		})
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, []byte(s)) {
				t.Errorf("%s contains a secret (%d bytes, starts %q)", f, len(s), s[:4])
			}
		}
	}
}

// leaderOf returns the node the given nodes agree leads, if any.
func leaderOf(t *testing.T, nodes []*node) (*node, error) {
	var ids []string
	for _, n := range nodes {
		st, err := n.client(client.WithClusterKey(clusterKey), client.WithAttemptTimeout(2*time.Second)).ClusterStatus(ctxT(t, 3*time.Second), "")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n.id, err)
		}
		ids = append(ids, st.Leader)
	}
	for _, n := range nodes {
		if ids[0] == n.id {
			for _, id := range ids {
				if id != ids[0] {
					return nil, fmt.Errorf("nodes disagree on the leader: %v", ids)
				}
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("no leader among the nodes: %v", ids)
}
