package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sessiond/sessiond/cluster/transport"
	"github.com/sessiond/sessiond/fsm"
)

// Level is a read consistency level (fsm.Level, so that auth can pass it
// through without importing the cluster).
type Level = fsm.Level

// Consistency levels, see the package doc.
const (
	Default    = fsm.Default
	Consistent = fsm.Consistent
	Stale      = fsm.Stale
)

// ParseLevel parses "default", "consistent" or "stale".
func ParseLevel(s string) (Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "default", "":
		return Default, nil
	case "consistent", "linearizable":
		return Consistent, nil
	case "stale":
		return Stale, nil
	}
	return Default, fmt.Errorf("%w: %q", ErrBadLevel, s)
}

// Config is everything a node needs. Only cmd/sessiond maps flags and
// environment variables onto it.
type Config struct {
	NodeID   string // unique, stable across restarts
	DataDir  string // raft.db and snapshots/ live here (0700)
	RaftBind string // host:port to listen on for Raft; port 0 picks one
	// RaftAdvertise is the address peers dial; defaults to the bound one.
	RaftAdvertise string
	// APIURL is this node's advertised API base URL (http://host:port),
	// used by followers to forward writes here when this node leads.
	APIURL string
	// Bootstrap makes a node with no existing state form a one-node
	// cluster. A node with state never re-bootstraps.
	Bootstrap bool
	// ClusterKey authenticates internal endpoints (forwarding, read-index,
	// join). Empty disables them: a single node needs none.
	ClusterKey string
	// ClusterKeysAccepted are cluster keys this node accepts from peers
	// and tools but never uses itself: the other key of a rotation
	// (docs/OPERATIONS.md, "Rotating the cluster key"). Install the new key
	// here on every node, then make it ClusterKey (the old one here) on
	// every node, then drop the old one.
	ClusterKeysAccepted []string
	// BackupKeys MAC backups (see transport/backupmac.go): the first makes the MAC
	// of every backup written, any of them verifies one restored. They
	// are derived from the seal secret. Empty: backups carry no MAC and
	// restores need none (tests and tools only; sessiond always sets it).
	BackupKeys [][]byte

	MaxStale     time.Duration // read lease length for the Default level
	ApplyTimeout time.Duration // deadline for a write when the caller has none
	// ReadTimeout bounds a read that must reach the leader (a miss, or no
	// lease) when the caller set no deadline: past it the read fails with
	// ErrTimeout (503 + Retry-After) rather than hang behind a frozen
	// leader.
	ReadTimeout time.Duration

	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	SnapshotThreshold  uint64
	SnapshotInterval   time.Duration
	TrailingLogs       uint64
	SnapshotRetain     int

	PurgeInterval   time.Duration // leader's expired-session sweep
	PurgeBatch      int
	RefreshInterval time.Duration // batching window for idle refreshes

	// TLS, when set, runs Raft over mutual TLS and makes internal calls
	// with this node's certificate (APIURL should then be https).
	TLS *transport.CertReloader

	// AllowPlainAPIURL lets APIURL (and a joining member's) be plain
	// http:// on an address other than loopback. Clients and tools that
	// follow a member's URL would send tokens and passwords in the clear,
	// so it takes the operator's explicit word (finding N2).
	AllowPlainAPIURL bool

	// HTTPClient reaches a seed's API URL at join (JoinVia) to learn its
	// Raft address; nil = a default with timeouts. Calls between members
	// never use it: they run over the Raft port (peerhttp.go).
	HTTPClient *http.Client
	LogOutput  io.Writer // Raft library logs; nil = stderr
	// AuditLog receives the node's audit lines (each cluster-key call);
	// nil = a text logger on LogOutput.
	AuditLog *slog.Logger
	// RaftLogLevel is the Raft library's level: trace, debug, info, warn
	// or error; "" = warn, so a healthy cluster's heartbeats stay quiet
	// while --log-level debug can still show them.
	RaftLogLevel string
	// Version is the binary's version, reported in Status so that
	// `sessiond status` shows which member runs what during an upgrade.
	Version string
	Now     func() time.Time
	FSM     *fsm.FSM // nil = a new empty one
	// OnLeader, when set, is the leader hook (see Node.SetOnLeader)
	// registered before Raft starts, so the first leader's first entries
	// after its own record are the seed whoever wins the election.
	OnLeader func(context.Context)

	// claimFormat, when set, is the format this node announces instead of
	// fsm.CurrentFormat: tests play a member running an older binary.
	claimFormat *int
	// Tests only. wrapInternal wraps the internal API's handler (to hold a
	// node's answers); peerAddr rewrites a member's Raft address before a
	// dial (to put a relay on the path, as a network attacker would be).
	wrapInternal func(http.Handler) http.Handler
	peerAddr     func(raftAddr string) string
}

// DefaultConfig returns production defaults for a single node on loopback.
func DefaultConfig() Config {
	return Config{
		NodeID:             "node1",
		DataDir:            "data",
		RaftBind:           "127.0.0.1:8300",
		APIURL:             "http://127.0.0.1:8080",
		Bootstrap:          true,
		MaxStale:           time.Second,
		ApplyTimeout:       5 * time.Second,
		ReadTimeout:        2 * time.Second,
		HeartbeatTimeout:   500 * time.Millisecond,
		ElectionTimeout:    500 * time.Millisecond,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   120 * time.Second,
		TrailingLogs:       10240,
		SnapshotRetain:     2,
		PurgeInterval:      30 * time.Second,
		PurgeBatch:         1000,
		RefreshInterval:    time.Second,
	}
}

// Validate checks the configuration for values that cannot work.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return fmt.Errorf("%w: node id is empty", ErrConfig)
	case c.DataDir == "":
		return fmt.Errorf("%w: data dir is empty", ErrConfig)
	case c.RaftBind == "":
		return fmt.Errorf("%w: raft address is empty", ErrConfig)
	case c.MaxStale <= 0:
		return fmt.Errorf("%w: max-stale must be positive", ErrConfig)
	case c.ApplyTimeout <= 0:
		return fmt.Errorf("%w: apply timeout must be positive", ErrConfig)
	case CheckClusterKey(c.ClusterKey) != nil:
		return CheckClusterKey(c.ClusterKey)
	case checkAccepted(c.ClusterKeysAccepted) != nil:
		return checkAccepted(c.ClusterKeysAccepted)
	case len(c.ClusterKeysAccepted) > 0 && c.ClusterKey == "":
		return fmt.Errorf("%w: an accepted (previous or next) cluster key needs a cluster key to use", ErrConfig)
	case c.RaftLogLevel != "" && hclog.LevelFromString(c.RaftLogLevel) == hclog.NoLevel:
		return fmt.Errorf("%w: raft log level %q: want trace, debug, info, warn or error", ErrConfig, c.RaftLogLevel)
	}
	return nil
}

// raftLogLevel is the hclog level of RaftLogLevel.
func (c *Config) raftLogLevel() hclog.Level {
	if l := hclog.LevelFromString(c.RaftLogLevel); l != hclog.NoLevel {
		return l
	}
	return hclog.Warn
}

func (c *Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Config) logOutput() io.Writer {
	if c.LogOutput != nil {
		return c.LogOutput
	}
	return os.Stderr
}

func checkAccepted(keys []string) error {
	for _, k := range keys {
		if err := CheckClusterKey(k); err != nil {
			return err
		}
	}
	return nil
}

// MinClusterKeyLen is the shortest cluster key accepted.
const MinClusterKeyLen = 16

// CheckClusterKey is the one rule for a cluster key ("" = none, allowed
// for a single node); cmd checks flags with it before opening a node.
func CheckClusterKey(key string) error {
	if key != "" && len(key) < MinClusterKeyLen {
		return fmt.Errorf("%w: the cluster key must be at least %d characters", ErrConfig, MinClusterKeyLen)
	}
	return nil
}

// Errors the node returns; api maps them to status codes in one place.
var (
	ErrConfig       = errors.New("cluster: invalid configuration")
	ErrBadLevel     = errors.New("cluster: unknown consistency level")
	ErrNoLeader     = errors.New("cluster: no leader")
	ErrNotLeader    = errors.New("cluster: not the leader")
	ErrTimeout      = errors.New("cluster: timed out")
	ErrShutdown     = errors.New("cluster: node is shutting down")
	ErrUnauthorized = errors.New("cluster: bad cluster key")
	ErrForward      = errors.New("cluster: forwarding to the leader failed")
	ErrNotCaughtUp  = errors.New("cluster: node has not caught up")
	ErrUnknownNode  = errors.New("cluster: unknown node")
	// ErrOnlyVoter refuses removing or demoting the cluster's only voter:
	// the cluster would have no quorum left, ever.
	ErrOnlyVoter = errors.New("cluster: it is the only voter; promote or add another voter first")
	// ErrMemberExists: a join named an id or Raft address the cluster
	// already has; only the node itself may refresh its own record.
	ErrMemberExists = errors.New("cluster: already a member")
	// ErrUpgrading: a write needs a log format some member does not
	// understand yet (format.go); it succeeds once every member runs a
	// binary that does.
	ErrUpgrading = errors.New("cluster: upgrading")
)

// errorCodes gives each error a stable code so that it survives the
// forwarding hop; codeError reverses it. The codes are the ones the API
// answers with (api's error table uses the same strings; a test in api
// ties them together), so one failure has one name from the leader to the
// client. Ordered: the first match wins when an error wraps two.
var errorCodes = []struct {
	err  error
	code string
}{
	{ErrNoLeader, "no_leader"},
	{ErrNotLeader, "not_leader"},
	{ErrTimeout, "timeout"},
	{ErrShutdown, "shutting_down"},
	{ErrUnauthorized, "bad_cluster_key"},
	{ErrNotCaughtUp, "not_caught_up"},
	{ErrUnknownNode, "unknown_node"},
	{ErrMemberExists, "member_exists"},
	{ErrOnlyVoter, "only_voter"},
	{ErrUpgrading, "cluster_upgrading"},
	{ErrConfig, "bad_request"},
	{ErrBadBackup, "bad_backup"},
	{ErrBadLevel, "bad_consistency"},
	{ErrForward, "forward_failed"},
}

// legacyCodes are codes older binaries sent over the hop, read during a
// rolling upgrade.
var legacyCodes = map[string]string{"shutdown": "shutting_down", "unauthorized": "bad_cluster_key"}

// ErrorCode is the stable code of a cluster error ("internal" for others).
func ErrorCode(err error) string { return codeOf(err) }

func codeOf(err error) string {
	for _, row := range errorCodes {
		if errors.Is(err, row.err) {
			return row.code
		}
	}
	return "internal"
}

func codeError(code, msg string) error {
	if c, ok := legacyCodes[code]; ok {
		code = c
	}
	for _, row := range errorCodes {
		if row.code == code {
			return fmt.Errorf("%w: %s", row.err, msg)
		}
	}
	return fmt.Errorf("%w: %s", ErrForward, msg)
}

func (c *Config) auditLog() *slog.Logger {
	if c.AuditLog != nil {
		return c.AuditLog
	}
	return slog.New(slog.NewTextHandler(c.logOutput(), nil))
}
