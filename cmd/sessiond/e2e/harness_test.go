package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// binPath is the sessiond binary TestMain builds once for every test.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sessiond-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binPath = filepath.Join(dir, "sessiond")
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	args := []string{"build", "-o", binPath}
	if raceBuild {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "./cmd/sessiond")...)
	if moduleRoot, err = findModuleRoot(wd); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	build.Dir = moduleRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: go build ./cmd/sessiond: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Timeouts that keep elections quick but not twitchy on a loaded 2-core
// machine, and the cheapest password hashing (the tests are about
// replication and processes, not hashing).
var fastArgs = []string{"--hash-memory", "64", "--hash-time", "1", "--heartbeat-timeout", "500ms", "--election-timeout", "500ms"}

const (
	adminPassword = "e2e-admin-password-1"
	clusterKey    = "e2e-cluster-key-0123456789abcdef"
	waitLong      = 30 * time.Second
)

// proc is one sessiond process.
type proc struct {
	t       *testing.T
	name    string
	dir     string // working directory
	args    []string
	env     []string
	logPath string
	cmd     *exec.Cmd
	done    chan struct{}
	waitErr error
}

// node is a sessiond node with its addresses.
type node struct {
	*proc
	id       string
	apiURL   string
	raftAddr string
	dataDir  string
	opts     []client.Option // for HTTPS nodes: the CA
}

// Ports for the nodes come from below the kernel's ephemeral range
// (32768 and up on Linux by default), where nothing else running on the
// machine — other tests' ":0" listeners, outgoing connections — is handed
// a port between our check and the node's bind.
const (
	portLow  = 20000
	portHigh = 32000
)

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{}
)

// freePorts returns the first of n consecutive loopback ports that are
// free now and were not handed out before in this process.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	portMu.Lock()
	defer portMu.Unlock()
	for try := 0; try < 200; try++ {
		base := portLow + mrand.IntN(portHigh-portLow-n)
		ok := true
		for p := base; p < base+n && ok; p++ {
			ok = !portUsed[p] && portFree(p)
		}
		if ok {
			for p := base; p < base+n; p++ {
				portUsed[p] = true
			}
			return base
		}
	}
	t.Fatalf("no %d free consecutive ports in %d-%d", n, portLow, portHigh)
	return 0
}

func portFree(p int) bool {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", freePorts(t, 1))
}

// cleanEnv is this process's environment without any sessiond setting,
// so that a developer's shell cannot change what a test runs.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIOND_") && !strings.HasPrefix(kv, "ODOO_JWT_KEY=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProc runs the binary in dir with args and env; its output goes to a
// log file shown when the test fails. It is killed at cleanup.
func startProc(t *testing.T, name, dir string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, dir: dir, args: args, env: env,
		logPath: filepath.Join(t.TempDir(), name+".log")}
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- %s log (last lines) ----\n%s", p.name, tail(p.logText(), 60))
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd = exec.Command(binPath, p.args...)
	p.cmd.Dir, p.cmd.Env, p.cmd.Stdout, p.cmd.Stderr = p.dir, p.env, logf, logf
	if err := p.cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() {
		p.waitErr = p.cmd.Wait()
		logf.Close()
		close(p.done)
	}()
}

func (p *proc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM and waits for the exit; it fails the test unless
// the process exits 0 in time.
func (p *proc) stop() {
	p.t.Helper()
	if !p.running() {
		p.t.Fatalf("%s already exited: %v", p.name, p.waitErr)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(waitLong):
		p.kill()
		p.t.Fatalf("%s did not exit within %v of SIGTERM", p.name, waitLong)
	}
	if p.waitErr != nil {
		p.t.Fatalf("%s exited with %v after SIGTERM", p.name, p.waitErr)
	}
}

// kill sends SIGKILL and waits; harmless when the process is gone.
func (p *proc) kill() {
	if p.cmd == nil || p.done == nil || !p.running() {
		return
	}
	p.cmd.Process.Kill()
	<-p.done
}

// restart starts the process again with the same arguments.
func (p *proc) restart() {
	p.t.Helper()
	if p.running() {
		p.t.Fatalf("%s still running", p.name)
	}
	p.start()
}

func (p *proc) logText() string {
	data, _ := os.ReadFile(p.logPath)
	return string(data)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// startNode starts a node with its own data dir under a fresh working
// directory, on free loopback ports.
func startNode(t *testing.T, id string, env []string, extra ...string) *node {
	t.Helper()
	dir := t.TempDir()
	api, raft := freeAddr(t), freeAddr(t)
	n := &node{id: id, apiURL: "http://" + api, raftAddr: raft, dataDir: filepath.Join(dir, "data")}
	for _, a := range extra {
		if a == "--tls-cert" {
			n.apiURL = "https://" + api
		}
	}
	var args []string
	if len(extra) > 0 && !strings.HasPrefix(extra[0], "-") { // a subcommand comes first
		args, extra = append(args, extra[0]), extra[1:]
	}
	args = append(args, "--node-id", id, "--api-addr", api, "--raft-addr", raft)
	args = append(args, fastArgs...)
	n.proc = startProc(t, id, dir, env, append(args, extra...)...)
	return n
}

func (n *node) client(opts ...client.Option) *client.Client {
	return client.New([]string{n.apiURL}, append(append([]client.Option(nil), n.opts...), opts...)...)
}

// eventually polls fn until it returns nil or the deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not synchronisation
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitReady polls /readyz of each node until it answers 200.
func waitReady(t *testing.T, nodes ...*node) {
	t.Helper()
	for _, n := range nodes {
		n := n
		eventually(t, waitLong, n.id+" ready", func() error {
			if !n.running() {
				t.Fatalf("%s exited: %v", n.id, n.waitErr)
			}
			return n.client().Ready(ctxT(t, 2*time.Second))
		})
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

func httpStatus(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// moduleRoot is the directory holding go.mod, where scripts run from.
var moduleRoot string

// findModuleRoot walks up from dir to the directory that holds go.mod.
func findModuleRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
	}
}
