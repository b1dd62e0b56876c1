package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"github.com/sessiond/sessiond/auth"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/cluster"
)

// mapEnv is an environment for tests.
func mapEnv(kv ...string) Env {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const testKey = "3P6RDVLPQtO1I3tjZYzOcenYZUvgiC3jyyabRBfgX-8" // from sessiond keygen: serve refuses weak keys

func parse(t *testing.T, args []string, env Env) Config {
	t.Helper()
	c, err := parseServeConfig("serve", args, env, io.Discard, false)
	if err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	return c
}

func TestConfig_NoArgumentsIsOneDurableLocalNode(t *testing.T) {
	c := parse(t, nil, mapEnv())
	want := map[string]bool{
		"node id": c.NodeID == "node1", "data dir": c.DataDir == "./data",
		"api addr": c.APIAddr == "127.0.0.1:8080", "api url": c.APIURL == "http://127.0.0.1:8080",
		"raft addr": c.RaftAddr == "127.0.0.1:8300", "bootstrap": c.Bootstrap, "no join": c.Join == "",
		"consistency": c.Consistency == cluster.Default, "max stale": c.MaxStale == time.Second,
		"default db": c.DefaultDB == "sessiond", "hash memory": c.HashMemory == 19456, "hash time": c.HashTime == 2,
		"log": c.LogFormat == "text" && c.LogLevel == slog.LevelInfo, "no tls": c.TLSCert == "",
		"no secrets": c.ClusterKey == "" && c.AdminPassword == "" && c.JWTKey == "",
	}
	for name, ok := range want {
		if !ok {
			t.Errorf("default %s wrong: %+v", name, c)
		}
	}
	cc := c.clusterConfig()
	if cc.NodeID != "node1" || cc.DataDir != "./data" || cc.RaftBind != "127.0.0.1:8300" || !cc.Bootstrap ||
		cc.APIURL != "http://127.0.0.1:8080" || cc.ClusterKey != "" {
		t.Errorf("cluster config %+v", cc)
	}
	if err := cc.Validate(); err != nil {
		t.Errorf("cluster config invalid: %v", err)
	}
	if err := c.authConfig().Validate(); err != nil {
		t.Errorf("auth config invalid: %v", err)
	}
	if ac := c.apiConfig(slog.Default()); ac.DefaultDB != "sessiond" || ac.TLS || ac.JWTSecret != nil {
		t.Errorf("api config %+v", ac)
	}
}

func TestConfig_EnvFallback(t *testing.T) {
	c := parse(t, nil, mapEnv(
		"SESSIOND_NODE_ID", "n7", "SESSIOND_DATA_DIR", "/var/lib/s", "SESSIOND_API_ADDR", "127.0.0.1:9001",
		"SESSIOND_RAFT_ADDR", "127.0.0.1:9301", "SESSIOND_CONSISTENCY", "consistent", "SESSIOND_MAX_STALE", "250ms",
		"SESSIOND_HASH_MEMORY", "64", "SESSIOND_HASH_TIME", "1", "SESSIOND_LOG_FORMAT", "json", "SESSIOND_LOG_LEVEL", "debug",
		"SESSIOND_SNAPSHOT_THRESHOLD", "100", "SESSIOND_HEARTBEAT_TIMEOUT", "200ms", "SESSIOND_ELECTION_TIMEOUT", "300ms",
	))
	if c.NodeID != "n7" || c.DataDir != "/var/lib/s" || c.APIAddr != "127.0.0.1:9001" || c.APIURL != "http://127.0.0.1:9001" ||
		c.RaftAddr != "127.0.0.1:9301" || c.Consistency != cluster.Consistent || c.MaxStale != 250*time.Millisecond ||
		c.HashMemory != 64 || c.HashTime != 1 || c.LogFormat != "json" || c.LogLevel != slog.LevelDebug ||
		c.SnapshotThreshold != 100 || c.HeartbeatTimeout != 200*time.Millisecond || c.ElectionTimeout != 300*time.Millisecond {
		t.Fatalf("env not applied: %+v", c)
	}
	if cc := c.clusterConfig(); cc.LeaderLeaseTimeout > cc.HeartbeatTimeout || c.apiConfig(nil).DefaultLevel != cluster.Consistent {
		t.Fatalf("cluster config %+v", cc)
	}
}

func TestConfig_FlagWinsOverEnv(t *testing.T) {
	env := mapEnv("SESSIOND_NODE_ID", "from-env", "SESSIOND_CONSISTENCY", "stale", "SESSIOND_BOOTSTRAP", "false")
	c := parse(t, []string{"--node-id", "from-flag", "--consistency=consistent", "--bootstrap"}, env)
	if c.NodeID != "from-flag" || c.Consistency != cluster.Consistent || !c.Bootstrap {
		t.Fatalf("flags did not win: %+v", c)
	}
	if c := parse(t, nil, env); c.NodeID != "from-env" || c.Bootstrap {
		t.Fatalf("env not used without flags: %+v", c)
	}
}

func TestConfig_BadValuesAreErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  Env
		want string
	}{
		{nil, mapEnv("SESSIOND_MAX_STALE", "soon"), "SESSIOND_MAX_STALE"},
		{[]string{"--consistency", "eventual"}, mapEnv(), "consistency"},
		{[]string{"--log-format", "xml"}, mapEnv(), "log-format"},
		{[]string{"--tls-cert", "c.pem"}, mapEnv(), "tls-key"},
		{[]string{"--hash-memory", "1"}, mapEnv(), "hash"},
		{[]string{"--hash-nice", "20"}, mapEnv(), "hash-nice"},
		{nil, mapEnv("SESSIOND_HASH_NICE", "-1"), "hash-nice"},
		{[]string{"--hash-workers", "-2"}, mapEnv(), "hash-workers"},
		{[]string{"--election-timeout", "100ms", "--heartbeat-timeout", "1s"}, mapEnv(), "election"},
		{[]string{"--join", "http://127.0.0.1:8081"}, mapEnv(), envClusterKey},
		{[]string{"--join", "127.0.0.1:8081"}, mapEnv(envClusterKey, testKey), "join"},
		{[]string{"--join", "http://127.0.0.1:8081", "--bootstrap"}, mapEnv(envClusterKey, testKey), "bootstrap"},
		{nil, mapEnv(envClusterKey, "short"), "16"},
		{[]string{"stray"}, mapEnv(), "stray"},
		{[]string{"--api-url", "http://10.0.0.1:8080"}, mapEnv(), "--allow-plain-api-url"},
	} {
		_, err := parseServeConfig("serve", tc.args, tc.env, io.Discard, false)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err %v, want one mentioning %q", tc.args, err, tc.want)
		}
	}
}

func TestConfig_HashPoolFlags(t *testing.T) {
	c := parse(t, []string{"--hash-workers", "3", "--hash-nice", "10"}, mapEnv())
	if ac := c.authConfig(); ac.Pool.Workers != 3 || ac.Pool.Nice != 10 {
		t.Fatalf("pool config %+v", ac.Pool)
	}
	// Issue 16: hashing is bounded and niced by default; 0 turns nice off.
	if ac := parse(t, nil, mapEnv()).authConfig(); ac.Pool.Nice != auth.DefaultNice || ac.Pool.Workers != 0 {
		t.Fatalf("default pool %+v, want Nice %d and the default worker share", ac.Pool, auth.DefaultNice)
	}
	if ac := parse(t, []string{"--hash-nice", "0"}, mapEnv()).authConfig(); ac.Pool.Nice != 0 {
		t.Fatalf("--hash-nice 0: %+v", ac.Pool)
	}
}

func TestConfig_JoinImpliesNoBootstrap(t *testing.T) {
	c := parse(t, []string{"--join", "http://127.0.0.1:8081/"}, mapEnv(envClusterKey, testKey))
	if c.Bootstrap || c.Join != "http://127.0.0.1:8081/" || string(c.ClusterKey) != testKey {
		t.Fatalf("%+v", c)
	}
	if _, err := parseServeConfig("join", nil, mapEnv(envClusterKey, testKey), io.Discard, true); err == nil {
		t.Fatal("join without --join accepted")
	}
	c, err := parseServeConfig("join", nil, mapEnv(envClusterKey, testKey, "SESSIOND_JOIN", "http://h:1"), io.Discard, true)
	if err != nil || c.Join != "http://h:1" || c.Bootstrap {
		t.Fatalf("join from env: %v %+v", err, c)
	}
}

func TestConfig_SecretsRefusedAsFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--cluster-key", testKey},
		{"--cluster-key=" + testKey},
		{"-cluster-key", testKey},
		{"--node-id", "n1", "--admin-password", "pw"},
		{"--jwt-key=k"},
		{"--odoo-jwt-key", "k"},
	} {
		_, err := parseServeConfig("serve", args, mapEnv(), io.Discard, false)
		if !errors.Is(err, ErrSecretFlag) {
			t.Errorf("%q: err %v, want ErrSecretFlag", args, err)
		}
		if err != nil && (strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), "pw\"")) {
			t.Errorf("error repeats the secret: %v", err)
		}
	}
	// The same for client commands, and through Main with exit status 2.
	for _, args := range [][]string{
		{"user", "add", "bob", "--password", "pw"},
		{"user", "passwd", "--user-password=pw", "bob"},
		{"status", "--cluster-key", testKey},
		{"--admin-password", "pw"},
	} {
		var stderr bytes.Buffer
		m := &Main{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr, Env: mapEnv()}
		err := m.Run(t.Context(), args)
		if !errors.Is(err, ErrSecretFlag) || m.exitCode(err) != 2 {
			t.Errorf("%q: err %v", args, err)
		}
	}
	// After "--" nothing is a flag.
	if err := refuseSecretFlags([]string{"--", "--cluster-key"}); err != nil {
		t.Errorf("after --: %v", err)
	}
	// The *-file flags are fine.
	if err := refuseSecretFlags([]string{"--cluster-key-file", "f", "--password-file=f"}); err != nil {
		t.Errorf("file flags refused: %v", err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfig_SecretsFromEnvOrFile(t *testing.T) {
	keyFile := writeFile(t, testKey+"\n")
	pwFile := writeFile(t, "admin-from-file\r\n")
	for name, tc := range map[string]struct {
		args    []string
		env     Env
		key, pw string
		jwt     string
	}{
		"env":          {nil, mapEnv(envClusterKey, testKey, envAdminPassword, "pw-env-123"), testKey, "pw-env-123", ""},
		"env _FILE":    {nil, mapEnv(envClusterKey+"_FILE", keyFile, envAdminPassword+"_FILE", pwFile), testKey, "admin-from-file", ""},
		"file flags":   {[]string{"--cluster-key-file", keyFile, "--admin-password-file=" + pwFile}, mapEnv(), testKey, "admin-from-file", ""},
		"odoo jwt key": {nil, mapEnv(envOdooJWTKey, "odoo-key"), "", "", "odoo-key"},
		"jwt key wins": {nil, mapEnv(envOdooJWTKey, "odoo-key", envJWTKey, "own-key"), "", "", "own-key"},
	} {
		c, err := parseServeConfig("serve", tc.args, tc.env, io.Discard, false)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if string(c.ClusterKey) != tc.key || string(c.AdminPassword) != tc.pw || string(c.JWTKey) != tc.jwt {
			t.Errorf("%s: got key %q pw %q jwt %q", name, string(c.ClusterKey), string(c.AdminPassword), string(c.JWTKey))
		}
	}
	_, err := parseServeConfig("serve", nil, mapEnv(envClusterKey, testKey, envClusterKey+"_FILE", keyFile), io.Discard, false)
	if err == nil {
		t.Error("both a value and a file accepted")
	}
	_, err = parseServeConfig("serve", []string{"--admin-password-file", filepath.Join(t.TempDir(), "missing")}, mapEnv(), io.Discard, false)
	if err == nil {
		t.Error("missing secret file accepted")
	}
}

func TestConfig_SecretsNeverPrinted(t *testing.T) {
	c := parse(t, nil, mapEnv(envClusterKey, testKey, envAdminPassword, "admin-pw-xyz", envJWTKey, "jwt-key-xyz-0123456789abcdef0123"))
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", c)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "key", c.ClusterKey)
	fmt.Fprintf(&buf, "%v %+v %#v %s", c, c, c, c.AdminPassword)
	for _, s := range []string{testKey, "admin-pw-xyz", "jwt-key-xyz"} {
		if strings.Contains(buf.String(), s) {
			t.Fatalf("secret %q printed: %s", s, buf.String())
		}
	}
	if !strings.Contains(buf.String(), `"cluster_key_set":true`) {
		t.Fatalf("log lacks the set flags: %s", buf.String())
	}
}

func TestConfig_APIURL(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--api-addr", "127.0.0.1:9000"}, "http://127.0.0.1:9000"},
		{[]string{"--api-addr", ":9000"}, "http://127.0.0.1:9000"},
		{[]string{"--api-addr", "0.0.0.0:9000"}, "http://127.0.0.1:9000"},
		{[]string{"--api-addr", "[::1]:9000"}, "http://[::1]:9000"},
		{[]string{"--api-addr", "127.0.0.1:0"}, ""}, // known once bound
		{[]string{"--api-url", "https://auth.example.com"}, "https://auth.example.com"},
		{[]string{"--api-url", "http://10.0.0.1:8080", "--allow-plain-api-url"}, "http://10.0.0.1:8080"},
	} {
		if c := parse(t, tc.args, mapEnv()); c.APIURL != tc.want {
			t.Errorf("%q: api url %q, want %q", tc.args, c.APIURL, tc.want)
		}
	}
	if got := defaultAPIURL("127.0.0.1:8443", true); got != "https://127.0.0.1:8443" {
		t.Errorf("tls url %q", got)
	}
}

func TestParseCommand_FlagsAroundPositionals(t *testing.T) {
	fs := newFlagSet("t", io.Discard)
	admin := fs.Bool("admin", false, "")
	db := fs.String("db", "", "")
	pos, err := parseCommand(fs, []string{"alice", "--admin", "--db", "x"}, mapEnv())
	if err != nil || len(pos) != 1 || pos[0] != "alice" || !*admin || *db != "x" {
		t.Fatalf("%v %q admin=%v db=%q", err, pos, *admin, *db)
	}
	// Only the connection flags read the environment.
	fs = newFlagSet("t", io.Discard)
	var f cliFlags
	f.register(fs)
	admin = fs.Bool("admin", false, "")
	if _, err := parseCommand(fs, nil, mapEnv("SESSIOND_ADMIN", "true", "SESSIOND_ADDR", "http://h:1")); err != nil || *admin || f.addr != "http://h:1" {
		t.Fatalf("env: %v admin=%v addr=%q", err, *admin, f.addr)
	}
	fs = newFlagSet("t", io.Discard)
	fs.Bool("h2", false, "")
	if _, err := parseCommand(fs, []string{"-h"}, mapEnv()); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

func TestNewPassword_Sources(t *testing.T) {
	m := &Main{Stdin: strings.NewReader("from-stdin-123\nrest"), Stderr: io.Discard, Env: mapEnv()}
	if pw, err := m.newPassword(""); err != nil || pw != "from-stdin-123" {
		t.Fatalf("stdin: %q %v", pw, err)
	}
	m.Env = mapEnv(envUserPassword, "from-env-123")
	if pw, err := m.newPassword(""); err != nil || pw != "from-env-123" {
		t.Fatalf("env: %q %v", pw, err)
	}
	if pw, err := m.newPassword(writeFile(t, "from-file-123\n")); err != nil || pw != "from-file-123" {
		t.Fatalf("file: %q %v", pw, err)
	}
	m.Env = mapEnv(envUserPassword+"_FILE", writeFile(t, "from-env-file-123\n"))
	if pw, err := m.newPassword(""); err != nil || pw != "from-env-file-123" {
		t.Fatalf("%s_FILE: %q %v", envUserPassword, pw, err)
	}
	m = &Main{Stdin: strings.NewReader("\n"), Stderr: io.Discard, Env: mapEnv()}
	if _, err := m.newPassword(""); err == nil {
		t.Fatal("empty password accepted")
	}
}

func TestMain_Commands(t *testing.T) {
	var out, errOut bytes.Buffer
	m := &Main{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut, Env: mapEnv()}
	if err := m.Run(t.Context(), []string{"help"}); err != nil || !strings.Contains(out.String(), "sessiond join") {
		t.Fatalf("help: %v %s", err, out.String())
	}
	if err := m.Run(t.Context(), []string{"frobnicate"}); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := m.Run(t.Context(), []string{"user"}); m.exitCode(err) != 2 {
		t.Fatalf("user without verb: %v", err)
	}
	if err := m.Run(t.Context(), []string{"user", "add"}); m.exitCode(err) != 2 {
		t.Fatalf("user add without login: %v", err)
	}
	if err := m.Run(t.Context(), []string{"serve", "-h"}); !errors.Is(err, flag.ErrHelp) || m.exitCode(err) != 0 {
		t.Fatalf("serve -h: %v", err)
	}
	// A client command without admin credentials says what it needs
	// before it contacts anything.
	m.Env = mapEnv(envUserPassword, "bob-password-1")
	err := m.Run(t.Context(), []string{"user", "add", "bob", "--addr", "http://127.0.0.1:1"})
	if err == nil || !strings.Contains(err.Error(), envAdminPassword) {
		t.Fatalf("user add without admin password: %v", err)
	}
}

func TestRaftLogWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &raftLogWriter{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	io.WriteString(w, "2025-01-01T00:00:00.000Z [WARN]  raft: heartbeat timeout reached\n2025-01-01T00:00:00.000Z [ERR")
	io.WriteString(w, "OR] raft: failed to contact\n")
	got := buf.String()
	if !strings.Contains(got, `"level":"WARN","msg":"raft","detail":"raft: heartbeat timeout reached"`) ||
		!strings.Contains(got, `"level":"ERROR","msg":"raft","detail":"raft: failed to contact"`) {
		t.Fatalf("%s", got)
	}
}
