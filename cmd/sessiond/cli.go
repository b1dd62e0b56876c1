package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/cluster"
)

const usageText = `sessiond — session and token authentication, replicated with Raft

usage:
  sessiond [serve] [flags]          run a node (no arguments: one durable node,
                                    data in ./data, API 127.0.0.1:8080, Raft 127.0.0.1:8300)
  sessiond join --join URL [flags]  run a node that joins the cluster at URL
                                    (the same as: sessiond serve --join URL)
  sessiond status [--addr URL] [--json]
                                    members, roles, leader, indexes and lag
  sessiond user add|passwd|disable|enable|list [flags] [login]
                                    manage users through a running node
  sessiond snapshot save|restore FILE
                                    consistent backup from any node; restore
                                    into the cluster through the leader

Every flag falls back on SESSIOND_<FLAG> (--node-id: SESSIOND_NODE_ID); a flag
wins. Secrets come only from the environment or files, never from flags:
  SESSIOND_CLUSTER_KEY[_FILE]     authenticates nodes to each other (and status)
  SESSIOND_ADMIN_PASSWORD[_FILE]  first admin of a new cluster; admin for the CLI
  SESSIOND_JWT_KEY[_FILE], ODOO_JWT_KEY   JWT signing key of a new cluster
  SESSIOND_USER_PASSWORD          new password for 'user add' and 'user passwd'

'sessiond <command> -h' lists a command's flags.
`

// Main is the program: it parses arguments and runs a command. Run blocks
// until a command is done, or for serve until ctx ends; Close then stops
// what Run started.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            Env

	server *Server
}

// NewMain returns a Main wired to the process.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.LookupEnv}
}

// Run runs the command named by args[0] (serve when there is none).
func (m *Main) Run(ctx context.Context, args []string) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return m.runServe(ctx, "serve", args, false)
	case "join":
		return m.runServe(ctx, "join", args, true)
	case "status":
		return m.runStatus(ctx, args)
	case "user", "users":
		return m.runUser(ctx, args)
	case "snapshot":
		return m.runSnapshot(ctx, args)
	case "help":
		fmt.Fprint(m.Stdout, usageText)
		return nil
	}
	fmt.Fprint(m.Stderr, usageText)
	return fmt.Errorf("unknown command %q", cmd)
}

// Close stops a server started by Run. Safe to call when none runs.
func (m *Main) Close() error {
	if m.server != nil {
		return m.server.Close()
	}
	return nil
}

// exitCode reports err and picks the process exit status: 0 for success
// and -h, 2 for bad usage, 1 otherwise.
func (m *Main) exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, ErrSecretFlag):
		fmt.Fprintln(m.Stderr, "sessiond:", err)
		return 2
	}
	fmt.Fprintln(m.Stderr, "sessiond:", err)
	return 1
}

// errUsage marks a command line that cannot be run.
var errUsage = errors.New("usage")

func usageErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, a...))
}

// runServe runs a node until ctx ends (SIGTERM, SIGINT) or its HTTP
// server fails.
func (m *Main) runServe(ctx context.Context, name string, args []string, requireJoin bool) error {
	cfg, err := parseServeConfig(name, args, m.Env, m.Stderr, requireJoin)
	if err != nil {
		return err
	}
	log := newLogger(m.Stderr, cfg.LogFormat, cfg.LogLevel)
	log.Info("starting sessiond", "config", cfg)
	if hp, def := cfg.hashParams(), DefaultConfig(); hp.Memory < uint32(def.HashMemory) || hp.Time < uint32(def.HashTime) {
		log.Warn("password hashing is weaker than the production default: for tests and benchmarks only",
			"hash_memory_kib", hp.Memory, "hash_time", hp.Time)
	}
	if cfg.AdminPassword == "" {
		log.Info(envAdminPassword + " is not set: this node will not create the first admin")
	}
	// SIGHUP reloads certificates; caught from the start, since by
	// default it would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m.server = NewServer(cfg, log)
	if err := m.server.Open(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped by a signal while starting
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down", "cause", context.Cause(ctx))
			return nil
		case err := <-m.server.Err():
			return fmt.Errorf("api server: %w", err)
		case <-hup:
			m.server.ReloadCerts()
		}
	}
}

// cliFlags are the flags every client command shares.
type cliFlags struct {
	addr           string
	tlsCA          string
	tlsCert        string // a node certificate, for cluster-key calls under mutual TLS
	tlsKey         string
	timeout        time.Duration
	adminLogin     string
	adminDB        string
	adminPassFile  string
	clusterKeyFile string
}

// cliEnvFlags are the client flags that fall back on the environment:
// where and as whom to connect. A command's own flags (--admin, --db...)
// do not, so a stray variable cannot change what a command does.
var cliEnvFlags = map[string]bool{
	"addr": true, "tls-ca": true, "tls-cert": true, "tls-key": true, "timeout": true, "admin-login": true,
	"admin-db": true, "admin-password-file": true, "cluster-key-file": true,
}

func (f *cliFlags) register(fs *flag.FlagSet) {
	f.addr, f.adminLogin, f.timeout = "http://127.0.0.1:8080", "admin", 15*time.Second
	fs.StringVar(&f.addr, "addr", f.addr, "API base `URL`s of nodes, comma-separated (tried in turn)")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA `file` for HTTPS nodes")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "PEM node certificate `file`: under mutual TLS, cluster-key calls need one (admin-token calls do not)")
	fs.StringVar(&f.tlsKey, "tls-key", "", "PEM private key `file` for --tls-cert")
	fs.DurationVar(&f.timeout, "timeout", f.timeout, "give up after this long")
	fs.StringVar(&f.adminLogin, "admin-login", f.adminLogin, "admin `login` to act as")
	fs.StringVar(&f.adminDB, "admin-db", "", "`db` of the admin (default: the server's)")
	fs.StringVar(&f.adminPassFile, "admin-password-file", "", "`file` holding the admin's password (or "+envAdminPassword+")")
	fs.StringVar(&f.clusterKeyFile, "cluster-key-file", "", "`file` holding the cluster key (or "+envClusterKey+")")
}

// client builds an API client over --addr.
func (m *Main) client(f *cliFlags, opts ...client.Option) (*client.Client, error) {
	var addrs []string
	for _, a := range strings.Split(f.addr, ",") {
		if a = strings.TrimSpace(a); a != "" {
			if err := checkURL(a); err != nil {
				return nil, usageErr("--addr: %v", err)
			}
			addrs = append(addrs, a)
		}
	}
	if len(addrs) == 0 {
		return nil, usageErr("--addr is empty")
	}
	hc, err := f.httpClient()
	if err != nil {
		return nil, err
	}
	if hc != http.DefaultClient {
		opts = append(opts, client.WithHTTPClient(hc))
	}
	opts = append(opts, client.WithUserAgent("sessiond-cli"))
	return client.New(addrs, opts...), nil
}

// httpClient trusts --tls-ca and presents --tls-cert when given; with
// neither it is http.DefaultClient.
func (f *cliFlags) httpClient() (*http.Client, error) {
	if f.tlsCA == "" && f.tlsCert == "" {
		return http.DefaultClient, nil
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, usageErr("--tls-cert and --tls-key go together")
	}
	cfg := cluster.TLSPolicy(&tls.Config{})
	if f.tlsCA != "" {
		pool, err := loadCAPool(f.tlsCA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.tlsCert != "" {
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}, nil
}

// adminSession logs the admin in and returns the token and a function
// that logs it out again, so the CLI leaves no session behind.
func (m *Main) adminSession(ctx context.Context, c *client.Client, f *cliFlags) (string, func(), error) {
	pw, err := readSecret(m.Env, envAdminPassword, f.adminPassFile)
	if err != nil {
		return "", nil, err
	}
	if pw == "" {
		return "", nil, usageErr("admin password needed: set %s or %s_FILE, or give --admin-password-file", envAdminPassword, envAdminPassword)
	}
	res, err := c.Login(ctx, client.LoginRequest{DB: f.adminDB, Login: f.adminLogin, Password: string(pw), Name: "sessiond-cli"})
	if err != nil {
		return "", nil, fmt.Errorf("admin login as %q: %w", f.adminLogin, err)
	}
	logout := func() {
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c.Logout(lctx, res.Token)
	}
	return res.Token, logout, nil
}

// parseCommand parses flags that may come before or after positional
// arguments (`user add alice --admin`) and returns the positionals.
func parseCommand(fs *flag.FlagSet, args []string, env Env) ([]string, error) {
	if err := parseFlags(fs, args, env, cliEnvFlags); err != nil {
		return nil, err
	}
	var pos []string
	for fs.NArg() > 0 {
		pos = append(pos, fs.Arg(0))
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return nil, err
		}
	}
	return pos, nil
}

// newPassword reads a user's new password from --password-file, else
// SESSIOND_USER_PASSWORD, else stdin (asked twice, without echo, on a
// terminal; the first line otherwise).
func (m *Main) newPassword(file string) (string, error) {
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		return nonEmpty(strings.TrimRight(string(data), "\r\n"))
	}
	if v, ok := m.Env(envUserPassword); ok && v != "" {
		return v, nil
	}
	in := bufio.NewReader(m.Stdin)
	tty := isTerminal(m.Stdin)
	if !tty {
		return readLine(in)
	}
	restore := noEcho()
	defer restore()
	fmt.Fprint(m.Stderr, "new password: ")
	pw, err := readLine(in)
	fmt.Fprintln(m.Stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(m.Stderr, "again: ")
	again, err := readLine(in)
	fmt.Fprintln(m.Stderr)
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("reading the password from stdin: %w (or set %s, or give --password-file)", err, envUserPassword)
	}
	return nonEmpty(strings.TrimRight(line, "\r\n"))
}

func nonEmpty(pw string) (string, error) {
	if pw == "" {
		return "", errors.New("the password is empty")
	}
	return pw, nil
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// noEcho turns terminal echo off while a password is typed, with stty
// (best effort: without it the password is echoed).
func noEcho() (restore func()) {
	stty := func(arg string) error {
		cmd := exec.Command("stty", arg)
		cmd.Stdin = os.Stdin
		return cmd.Run()
	}
	if stty("-echo") != nil {
		return func() {}
	}
	return func() { stty("echo") }
}
