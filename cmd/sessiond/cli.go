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
	"github.com/sessiond/sessiond/cluster/transport"
)

// Main is the program: it parses arguments and runs a command. Run blocks
// until a command is done, or for serve until ctx ends; Close then stops
// what Run started.
type Main struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Env            Env
	// Unsetenv removes a secret variable once read (os.Unsetenv; tests
	// record the calls instead).
	Unsetenv func(string) error

	server *Server
}

// NewMain returns a Main wired to the process.
func NewMain() *Main {
	return &Main{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Env: os.LookupEnv, Unsetenv: os.Unsetenv}
}

// unsetenv is m.Unsetenv, or nothing for a Main built without one (its
// Env is not the process's).
func (m *Main) unsetenv(k string) error {
	if m.Unsetenv == nil {
		return nil
	}
	return m.Unsetenv(k)
}

// Run runs the command named by args (serve when the first argument is
// a flag or there is none).
func (m *Main) Run(ctx context.Context, args []string) error {
	if err := refuseSecretFlags(args); err != nil {
		return err
	}
	if len(args) == 0 || (strings.HasPrefix(args[0], "-") && !rootFlags[strings.SplitN(args[0], "=", 2)[0]]) {
		args = append([]string{"serve"}, args...)
	}
	root := m.commands(args)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageErr("%v (run 'sessiond help')", err)
	}
	return root.Run(ctx)
}

// rootFlags are the flags of sessiond itself rather than of serve.
var rootFlags = map[string]bool{"-h": true, "-help": true, "--help": true, "-v": true, "-version": true, "--version": true}

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
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(m.Stderr, "sessiond: "+errorText(err))
	if errors.Is(err, errUsage) || errors.Is(err, ErrSecretFlag) {
		return 2
	}
	return 1
}

// errorText is err's message without the package prefixes that wrapping
// repeats ("sessiond: sessiond: ...", "client: ...", "cluster: ...").
func errorText(err error) string {
	msg := err.Error()
	for _, p := range []string{"sessiond: ", "client: ", "cluster: "} {
		for strings.HasPrefix(msg, p) {
			msg = strings.TrimPrefix(msg, p)
		}
	}
	return msg
}

// errUsage marks a command line that cannot be run; it adds no words of
// its own to the message.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usageErr(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// runServe runs a node until ctx ends (SIGTERM, SIGINT) or its HTTP
// server fails.
func (m *Main) runServe(ctx context.Context, name string, args []string, requireJoin bool) error {
	if err := refuseSecretFlags(args); err != nil {
		return err
	}
	p := newServeParser(name, m.Stderr)
	p.fs.Usage = func() {}
	if err := p.prepare(args, m.Env); err != nil {
		return err
	}
	if err := p.fs.Parse(args); err != nil {
		return usageErr("%v", err)
	}
	cfg, err := p.finish(m.Env, requireJoin)
	if err != nil {
		return err
	}
	if p.printConfig {
		printConfig(m.Stdout, p.fs, cfg)
		return nil
	}
	return m.serve(ctx, cfg)
}

// serve runs a node with cfg until ctx ends.
func (m *Main) serve(ctx context.Context, cfg Config) error {
	bi := readBuildInfo()
	log := newLogger(m.Stderr, cfg.LogFormat, cfg.LogLevel)
	log.Info("starting sessiond", "version", bi.Version, "commit", bi.Commit, "go", bi.GoVersion, "config", cfg)
	scrubEnvSecrets(log, cfg.EnvSecrets, m.unsetenv)
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
	m.server.build = bi
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
	opts = append(opts, client.WithUserAgent("sessiond-cli"), client.WithFailFastRefused())
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
	cfg := transport.TLSPolicy(&tls.Config{})
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

// newPassword reads a user's new password from --password-file (or
// SESSIOND_USER_PASSWORD_FILE), else SESSIOND_USER_PASSWORD, else stdin
// (asked twice, without echo, on a terminal; the first line otherwise).
func (m *Main) newPassword(file string) (string, error) {
	if file == "" {
		file, _ = m.Env(envUserPassword + "_FILE")
	}
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
