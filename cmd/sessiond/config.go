package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond/api"
	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/cluster/transport"
)

// envPrefix is put in front of a flag's name (upper case, '-' as '_') to
// get the environment variable it falls back on: --node-id reads
// SESSIOND_NODE_ID. A flag given on the command line wins.
const envPrefix = "SESSIOND_"

// Secrets, read from the environment or from a file, never from a flag.
const (
	envClusterKey    = "SESSIOND_CLUSTER_KEY"
	envAdminPassword = "SESSIOND_ADMIN_PASSWORD"
	envJWTKey        = "SESSIOND_JWT_KEY"
	envOdooJWTKey    = "ODOO_JWT_KEY" // the seed's name for the same key
	envUserPassword  = "SESSIOND_USER_PASSWORD"
)

// secretFlags are refused on every command line with a pointer to the
// environment variable to use instead: a flag shows in `ps` and in shell
// history.
var secretFlags = map[string]string{
	"cluster-key":    envClusterKey + " or " + envClusterKey + "_FILE",
	"admin-password": envAdminPassword + " or " + envAdminPassword + "_FILE",
	"jwt-key":        envJWTKey + " or " + envJWTKey + "_FILE",
	"odoo-jwt-key":   envOdooJWTKey + " or " + envJWTKey + "_FILE",
	"seal-key":       envSealKey + " or --seal-key-file",
	"seal-key-old":   envSealKeyOld + " or --seal-key-old-file",
	"metrics-token":  envMetricsToken + " or --metrics-token-file",
	"password":       envUserPassword + ", --password-file or stdin",
	"user-password":  envUserPassword + ", --password-file or stdin",
}

// ErrSecretFlag is returned for a secret given as a flag.
var ErrSecretFlag = errors.New("secrets are not accepted as flags")

// secret is a string that never prints: a Config logged or formatted by
// mistake shows "[redacted]".
type secret string

func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps the secret out of slog output.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// GoString keeps the secret out of %#v.
func (s secret) GoString() string { return s.String() }

// Env looks up environment variables; tests pass a map.
type Env func(key string) (string, bool)

// Config is what `sessiond serve` runs with: flags, then SESSIOND_*
// environment variables, then defaults. Only this package knows flag and
// variable names; it maps Config onto each package's own Config.
type Config struct {
	NodeID            string
	DataDir           string
	APIAddr           string // host:port the API listens on
	APIURL            string // advertised base URL; "" = derived from APIAddr once bound
	RaftAddr          string
	RaftAdvertise     string
	Join              string // base URL of any member; "" = no join
	NonVoter          bool
	Bootstrap         bool
	Consistency       cluster.Level
	MaxStale          time.Duration
	DefaultDB         string
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	HeartbeatTimeout  time.Duration
	ElectionTimeout   time.Duration
	HashMemory        uint // KiB
	HashTime          uint
	HashWorkers       int // concurrent hashes; 0 = auth.DefaultWorkers (half the CPUs)
	HashNice          int // nice value of hashing threads; default auth.DefaultNice, 0 = normal priority
	LogLevel          slog.Level
	LogFormat         string // text or json
	TLSCert, TLSKey   string
	TLSCA             string // the cluster CA: mutual TLS between nodes
	JoinTimeout       time.Duration
	ShutdownTimeout   time.Duration
	TrustedProxies    []netip.Prefix // --trusted-proxies
	AllowWeaker       bool           // --allow-weaker-consistency
	AllowPlainAPIURL  bool           // --allow-plain-api-url

	ClusterKey    secret
	ClusterKeyOld secret // rotation.go: accepted, never used
	AdminPassword secret
	JWTKey        secret
	EnvSecrets    []string    // variables secrets were taken from (secrets.go): warned about, then unset
	Seal          SealConfig  // see seal.go
	Authz         AuthzFlags  // see authzflags.go
	Events        EventsFlags // see eventsflags.go
	Portal        PortalFlags // see portalflags.go
	AuditLog      string      // --audit-log (auditlog.go)
	PprofAddr     string      // --pprof-addr (pprof.go)
	MetricsAddr   string      // --metrics-addr (metricsaddr.go)
	MetricsToken  secret      // --metrics-token-file: GET /metrics on the API port

	SecondFactor SecondFactorFlags // see secondfactorflags.go
}

// DefaultConfig is a single durable node on loopback: data in ./data, API
// on 127.0.0.1:8080, Raft on 127.0.0.1:8300, bootstrapped on first start.
func DefaultConfig() Config {
	cc := cluster.DefaultConfig()
	hp := auth.DefaultHashParams()
	c := Config{
		NodeID: "node1", DataDir: "./data", APIAddr: "127.0.0.1:8080", RaftAddr: "127.0.0.1:8300",
		Bootstrap: true, Consistency: cluster.Default, MaxStale: cc.MaxStale, DefaultDB: "sessiond",
		SnapshotThreshold: cc.SnapshotThreshold, SnapshotInterval: cc.SnapshotInterval, TrailingLogs: cc.TrailingLogs, HeartbeatTimeout: cc.HeartbeatTimeout,
		ElectionTimeout: cc.ElectionTimeout, HashMemory: uint(hp.Memory), HashTime: uint(hp.Time), HashNice: auth.DefaultNice,
		LogLevel: slog.LevelInfo, LogFormat: "text", JoinTimeout: time.Minute, ShutdownTimeout: 15 * time.Second,
		MetricsAddr: defaultMetricsAddr,
	}
	// The feature groups (portal, events, second factor, …) set their
	// defaults where they declare their flags; declaring them on a
	// throw-away set gives c those too, so a Config not parsed from flags
	// (sessiond dev, tests) runs as serve does with none given. Without
	// it dev served no portal and kept no events.
	serveFlags(newFlagSet("defaults", io.Discard), &c, &optBool{}, &secretFiles{})
	return c
}

// LogValue is what the start-up log shows of a Config: no secret, only
// whether each is set.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("node_id", c.NodeID), slog.String("data_dir", c.DataDir),
		slog.String("api_addr", c.APIAddr), slog.String("api_url", c.APIURL),
		slog.String("raft_addr", c.RaftAddr), slog.String("join", c.Join),
		slog.Bool("bootstrap", c.Bootstrap), slog.String("consistency", c.Consistency.String()),
		slog.Duration("max_stale", c.MaxStale), slog.Bool("tls", c.TLSCert != ""),
		slog.Bool("cluster_key_set", c.ClusterKey != ""), slog.Bool("admin_password_set", c.AdminPassword != ""),
		slog.Bool("jwt_key_set", c.JWTKey != ""), slog.String("seal", c.Seal.Source),
		slog.String("metrics_addr", c.MetricsAddr), slog.Bool("metrics_token_set", c.MetricsToken != ""),
	)
}

// optBool is a bool flag that remembers whether it was given.
type optBool struct{ set, val bool }

func (b *optBool) String() string   { return fmt.Sprint(b.val) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	v, err := parseBool(s)
	b.set, b.val = true, v
	return err
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "t", "true", "yes", "on":
		return true, nil
	case "0", "f", "false", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", s)
}

// levelFlag parses a consistency level.
type levelFlag struct{ l *cluster.Level }

func (f levelFlag) String() string {
	if f.l == nil {
		return ""
	}
	return f.l.String()
}
func (f levelFlag) Set(s string) (err error) { *f.l, err = cluster.ParseLevel(s); return err }

// slogLevelFlag parses debug, info, warn or error.
type slogLevelFlag struct{ l *slog.Level }

func (f slogLevelFlag) String() string {
	if f.l == nil {
		return ""
	}
	return strings.ToLower(f.l.String())
}
func (f slogLevelFlag) Set(s string) error { return f.l.UnmarshalText([]byte(s)) }

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// serveFlags declares the flags of serve and join on fs, bound to c.
func serveFlags(fs *flag.FlagSet, c *Config, bootstrap *optBool, keyFiles *secretFiles) {
	fs.StringVar(&c.NodeID, "node-id", c.NodeID, "unique, stable `id` of this node")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "`dir` for raft.db and snapshots (created 0700)")
	fs.StringVar(&c.APIAddr, "api-addr", c.APIAddr, "`host:port` the HTTP API listens on")
	fs.StringVar(&c.APIURL, "api-url", c.APIURL, "advertised API base `URL` (default http[s]://<api-addr>)")
	fs.StringVar(&c.RaftAddr, "raft-addr", c.RaftAddr, "`host:port` Raft listens on")
	fs.StringVar(&c.RaftAdvertise, "raft-advertise", c.RaftAdvertise, "`host:port` peers dial for Raft (default the bound address)")
	fs.StringVar(&c.Join, "join", c.Join, "API base `URL` of any member to join (implies --bootstrap=false)")
	fs.BoolVar(&c.NonVoter, "non-voter", c.NonVoter, "join as a non-voter (serves reads, no vote)")
	fs.Var(bootstrap, "bootstrap", "form a new one-node cluster when there is no state (default true without --join)")
	fs.Var(levelFlag{&c.Consistency}, "consistency", "default validation consistency: default, consistent or stale")
	fs.DurationVar(&c.MaxStale, "max-stale", c.MaxStale, "read lease length for the default consistency")
	fs.StringVar(&c.DefaultDB, "default-db", c.DefaultDB, "database created on a new cluster and used when a login names none")
	fs.Uint64Var(&c.SnapshotThreshold, "snapshot-threshold", c.SnapshotThreshold, "log entries between snapshots")
	fs.DurationVar(&c.SnapshotInterval, "snapshot-interval", c.SnapshotInterval, "how often to check whether a snapshot is due")
	fs.Uint64Var(&c.TrailingLogs, "trailing-logs", c.TrailingLogs, "log entries kept after a snapshot (a follower further behind gets the snapshot)")
	fs.DurationVar(&c.HeartbeatTimeout, "heartbeat-timeout", c.HeartbeatTimeout, "Raft heartbeat timeout")
	fs.DurationVar(&c.ElectionTimeout, "election-timeout", c.ElectionTimeout, "Raft election timeout")
	fs.UintVar(&c.HashMemory, "hash-memory", c.HashMemory, "argon2id memory in `KiB` (64 is the test minimum; never in production)")
	fs.UintVar(&c.HashTime, "hash-time", c.HashTime, "argon2id passes")
	fs.IntVar(&c.HashWorkers, "hash-workers", c.HashWorkers, "password hashes run at once (0: half the CPUs, at least 1); beyond 32 waiting per worker or 2 s, logins get 503 + Retry-After")
	fs.IntVar(&c.HashNice, "hash-nice", c.HashNice, "nice value (0-19) of hashing threads, so a login flood yields the CPU to validation (raises GOMAXPROCS by --hash-workers); 0 hashes at normal priority")
	fs.Var(slogLevelFlag{&c.LogLevel}, "log-level", "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate `file`: serve the API over HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key `file` for --tls-cert")
	fs.StringVar(&c.TLSCA, "tls-ca", c.TLSCA, "PEM CA `file` of the cluster: with --tls-cert, nodes use mutual TLS for Raft and internal calls")
	fs.BoolVar(&c.AllowPlainAPIURL, "allow-plain-api-url", c.AllowPlainAPIURL,
		"accept a plain http:// --api-url (this node's, or a joining member's on the leader) on a non-loopback address")
	fs.DurationVar(&c.JoinTimeout, "join-timeout", c.JoinTimeout, "how long --join keeps trying")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "grace period for in-flight requests on SIGTERM")
	fs.StringVar(&keyFiles.clusterKey, "cluster-key-file", "", "`file` holding the cluster key (or "+envClusterKey+")")
	fs.StringVar(&keyFiles.adminPassword, "admin-password-file", "", "`file` holding the first admin's password (or "+envAdminPassword+")")
	fs.StringVar(&keyFiles.jwtKey, "jwt-key-file", "", "`file` holding the JWT signing key (or "+envJWTKey+")")
	sealFlags(fs, keyFiles)
	clusterKeyOldFlag(fs, keyFiles)
	authzFlags(fs, &c.Authz)
	eventsFlags(fs, &c.Events)
	portalFlags(fs, &c.Portal)
	secondFactorFlags(fs, &c.SecondFactor)
	auditFlag(fs, c)
	pprofFlag(fs, c)
	metricsFlags(fs, c, keyFiles)
	faultClockFlag(fs)
}

// secretFiles are the *-file flags.
type secretFiles struct {
	clusterKey, adminPassword, jwtKey, sealKey, sealKeyOld, metricsToken string
	clusterKeyOld                                                        string // rotation.go
}

// parseFlags refuses secret flags, applies environment fallbacks and then
// parses args, so that a flag on the command line wins over the
// environment. With a non-nil only, just those flags read the
// environment.
func parseFlags(fs *flag.FlagSet, args []string, env Env, only map[string]bool) error {
	if err := refuseSecretFlags(args); err != nil {
		return err
	}
	if err := applyEnv(fs, env, only); err != nil {
		return err
	}
	return fs.Parse(args)
}

// applyEnv sets each flag (of only, when non-nil) from its SESSIOND_*
// variable; parsing the command line afterwards overrides them.
func applyEnv(fs *flag.FlagSet, env Env, only map[string]bool) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if (only != nil && !only[f.Name]) || f.Name == "config" || f.Name == "print-config" {
			return
		}
		key := envName(f.Name)
		if v, ok := env(key); ok && v != "" && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", key, v, err)
			}
		}
	})
	return envErr
}

// envName is the environment variable a flag falls back on.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// refuseSecretFlags fails on any flag that would carry a secret.
func refuseSecretFlags(args []string) error {
	for _, a := range args {
		if a == "--" {
			return nil
		}
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if use, ok := secretFlags[name]; ok {
			return fmt.Errorf("%w: --%s; use %s", ErrSecretFlag, name, use)
		}
	}
	return nil
}

// parseServeConfig builds the serve configuration from args and env.
// requireJoin is set for the `join` subcommand.
func parseServeConfig(name string, args []string, env Env, out io.Writer, requireJoin bool) (Config, error) {
	if err := refuseSecretFlags(args); err != nil {
		return DefaultConfig(), err
	}
	p := newServeParser(name, out)
	if err := p.prepare(args, env); err != nil {
		return p.c, err
	}
	if err := p.fs.Parse(args); err != nil {
		return p.c, err
	}
	return p.finish(env, requireJoin)
}

// Validate reports settings that cannot work together.
func (c Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("--node-id is empty")
	case c.DataDir == "":
		return errors.New("--data-dir is empty")
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.TLSCA != "" && c.TLSCert == "":
		return errors.New("--tls-ca (mutual TLS between nodes) needs --tls-cert and --tls-key")
	case c.AdminPassword != "" && c.authConfig().Policy.Check(string(c.AdminPassword)) != nil:
		return fmt.Errorf("%s does not meet the password policy (%v): the first admin could not be created; "+
			"give a password of at least %d characters", envAdminPassword, c.authConfig().Policy.Check(string(c.AdminPassword)), c.authConfig().Policy.MinLen)
	case c.Join != "" && c.ClusterKey == "":
		return fmt.Errorf("--join needs the cluster key in %s or %s_FILE", envClusterKey, envClusterKey)
	case cluster.CheckClusterKey(string(c.ClusterKey)) != nil:
		return cluster.CheckClusterKey(string(c.ClusterKey))
	case checkKeyStrength(envClusterKey, string(c.ClusterKey)) != nil:
		// Operator-facing: the cluster package keeps its length rule only,
		// so its own tests may use short keys.
		return checkKeyStrength(envClusterKey, string(c.ClusterKey))
	case c.HeartbeatTimeout <= 0 || c.ElectionTimeout < c.HeartbeatTimeout:
		return errors.New("--heartbeat-timeout must be positive and --election-timeout at least as long")
	case c.MaxStale <= 0:
		return errors.New("--max-stale must be positive")
	case c.LogFormat != "text" && c.LogFormat != "json":
		return fmt.Errorf("--log-format %q: want text or json", c.LogFormat)
	}
	if c.Join != "" {
		if err := checkURL(c.Join); err != nil {
			return fmt.Errorf("--join: %w", err)
		}
	}
	if c.APIURL != "" {
		if err := checkURL(c.APIURL); err != nil {
			return fmt.Errorf("--api-url: %w", err)
		}
		if err := checkPlainAPIURL(c.APIURL, c.AllowPlainAPIURL); err != nil {
			return err
		}
	}
	if _, _, err := net.SplitHostPort(c.APIAddr); err != nil {
		return fmt.Errorf("--api-addr: %w", err)
	}
	if _, _, err := net.SplitHostPort(c.RaftAddr); err != nil {
		return fmt.Errorf("--raft-addr: %w", err)
	}
	if err := c.Seal.check(c.DataDir); err != nil {
		return err
	}
	if err := c.checkRaftAuth(); err != nil {
		return err
	}
	if err := checkPprofAddr(c.PprofAddr); err != nil {
		return err
	}
	if err := c.checkMetrics(); err != nil {
		return err
	}
	if c.HashWorkers < 0 {
		return fmt.Errorf("--hash-workers must not be negative")
	}
	if c.HashNice < 0 || c.HashNice > 19 {
		return fmt.Errorf("--hash-nice must be 0..19, got %d", c.HashNice)
	}
	return c.hashParams().Validate()
}

// checkRaftAuth refuses a Raft address other machines can reach when
// nothing authenticates peers: Raft accepts any log entry from whoever
// connects (finding C1). On loopback a lone node needs neither.
func (c Config) checkRaftAuth() error {
	if c.TLSCA != "" || c.ClusterKey != "" {
		return nil
	}
	for _, fa := range [][2]string{{"--raft-addr", c.RaftAddr}, {"--raft-advertise", c.RaftAdvertise}} {
		if flag, addr := fa[0], fa[1]; addr != "" && !transport.IsLoopback(addr) {
			return fmt.Errorf("%s %s is not loopback, and Raft there would accept anyone: give mutual TLS "+
				"(--tls-cert, --tls-key and --tls-ca) or a cluster key (%s or %s_FILE)", flag, addr, envClusterKey, envClusterKey)
		}
	}
	return nil
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an http(s) base URL", s)
	}
	return nil
}

func apiPort(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return port
}

// defaultAPIURL advertises the bound address; a wildcard host is replaced
// by loopback (set --api-url for other machines).
// checkPlainAPIURL is cluster.CheckAPIURL in flag terms.
func checkPlainAPIURL(apiURL string, allow bool) error {
	if cluster.CheckAPIURL(apiURL, allow) != nil {
		return fmt.Errorf("the API URL %s is plain http on a non-loopback address: clients and tools that follow a "+
			"member's URL would send tokens and passwords in the clear; give --tls-cert and --tls-key, "+
			"or --allow-plain-api-url if a TLS proxy or a private network covers it", apiURL)
	}
	return nil
}

func defaultAPIURL(addr string, tls bool) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// hashParams are the argon2id parameters of the flags.
func (c Config) hashParams() auth.HashParams {
	hp := auth.DefaultHashParams()
	hp.Memory, hp.Time = uint32(c.HashMemory), uint32(c.HashTime)
	return hp
}

// clusterConfig maps Config onto cluster.Config.
func (c Config) clusterConfig() cluster.Config {
	cc := cluster.DefaultConfig()
	cc.NodeID, cc.DataDir, cc.RaftBind, cc.RaftAdvertise = c.NodeID, c.DataDir, c.RaftAddr, c.RaftAdvertise
	cc.APIURL, cc.Bootstrap, cc.ClusterKey = c.APIURL, c.Bootstrap, string(c.ClusterKey)
	if c.ClusterKeyOld != "" {
		cc.ClusterKeysAccepted = []string{string(c.ClusterKeyOld)}
	}
	cc.AllowPlainAPIURL = c.AllowPlainAPIURL
	cc.MaxStale = c.MaxStale
	if c.LogLevel <= slog.LevelDebug {
		cc.RaftLogLevel = "debug" // --log-level debug shows Raft's own debug lines too
	}
	cc.SnapshotThreshold = c.SnapshotThreshold
	cc.SnapshotInterval = c.SnapshotInterval
	cc.TrailingLogs = c.TrailingLogs
	cc.HeartbeatTimeout, cc.ElectionTimeout = c.HeartbeatTimeout, c.ElectionTimeout
	// Raft wants the leader lease no longer than the heartbeat timeout.
	cc.LeaderLeaseTimeout = min(cc.LeaderLeaseTimeout, c.HeartbeatTimeout/2)
	return cc
}

// authConfig maps Config onto auth.ServiceConfig.
func (c Config) authConfig() auth.ServiceConfig {
	ac := auth.DefaultServiceConfig()
	ac.Hash = c.hashParams()
	ac.DefaultDB = c.DefaultDB
	ac.Pool.Workers, ac.Pool.Nice = c.HashWorkers, c.HashNice
	return ac
}

// apiConfig maps Config onto api.Config.
func (c Config) apiConfig(log *slog.Logger) api.Config {
	ac := api.DefaultConfig()
	ac.BaseURL, ac.DefaultLevel, ac.TLS = c.APIURL, c.Consistency, c.TLSCert != ""
	ac.DefaultDB, ac.AdminPassword, ac.Logger = c.DefaultDB, string(c.AdminPassword), log
	ac.TrustedProxies, ac.AllowWeakerConsistency = c.TrustedProxies, c.AllowWeaker
	ac.MetricsToken = string(c.MetricsToken)
	if c.JWTKey != "" {
		ac.JWTSecret = []byte(c.JWTKey)
	}
	c.Authz.apply(&ac)
	c.Events.apply(&ac)
	c.Portal.apply(&ac)
	c.SecondFactor.apply(&ac)
	return ac
}
