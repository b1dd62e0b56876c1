package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/proctest"
)

// runBin runs the binary to its end within limit and returns its
// combined output, how long it ran and its error.
func runBin(t *testing.T, limit time.Duration, env []string, args ...string) (string, time.Duration, error) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.String(), time.Since(start), err
	case <-time.After(limit):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%q still running after %v: %s", args, limit, out.String())
	}
	return "", 0, nil
}

// A second process on a running node's data dir exits at once, naming
// the lock and the pid that holds it.
func TestOps_SecondProcessOnDataDirFailsFast(t *testing.T) {
	t.Parallel()
	n := startNode(t, "n1", cleanEnv(envAdmin()))
	waitReady(t, n)
	args := proctest.Node{ID: "n1", DataDir: n.dataDir, APIAddr: freeAddr(t), RaftAddr: freeAddr(t), FastHash: true}.Args()
	out, took, err := runBin(t, 10*time.Second, cleanEnv(), args...)
	if err == nil {
		t.Fatalf("second process ran: %s", out)
	}
	want := fmt.Sprintf("pid %d", n.Pid())
	if !strings.Contains(out, "is in use by another sessiond") || !strings.Contains(out, want) || !strings.Contains(out, "sessiond.lock") {
		t.Fatalf("output does not name the lock and %s: %s", want, out)
	}
	if took > 3*time.Second {
		t.Fatalf("took %v", took)
	}
	t.Logf("refused after %v", took)
	waitReady(t, n) // the first one is untouched
}

func envAdmin() string { return "SESSIOND_ADMIN_PASSWORD=" + adminPassword }

// A node joining under an id the cluster has at another address is
// refused at once; the real member keeps its address.
func TestOps_DuplicateIDJoinRefused(t *testing.T) {
	t.Parallel()
	env := cleanEnv(envAdmin(), "SESSIOND_CLUSTER_KEY="+clusterKey)
	n1 := startNode(t, "n1", env)
	waitReady(t, n1)
	args := proctest.Node{Subcommand: "join", ID: "n1", DataDir: t.TempDir(), APIAddr: freeAddr(t), RaftAddr: freeAddr(t),
		FastHash: true, Join: n1.apiURL}.Args()
	out, took, err := runBin(t, 20*time.Second, cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey), args...)
	if err == nil || !strings.Contains(out, "already a member") || !strings.Contains(out, "node remove") {
		t.Fatalf("duplicate id join: %v %s", err, out)
	}
	if took > 10*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	st, err := n1.client(client.WithClusterKey(clusterKey)).ClusterStatus(ctxT(t, 5*time.Second), "")
	if err != nil || len(st.Members) != 1 || st.Members[0].RaftAddr != n1.raftAddr {
		t.Fatalf("membership changed: %v %+v", err, st)
	}
	// A wrong key fails fast too, and says so.
	out, took, err = runBin(t, 20*time.Second, cleanEnv("SESSIOND_CLUSTER_KEY=cgz54eQVEHeWofdOVcCneCg0Gj89x5bSh8_ueDyoR0E"),
		proctest.Node{Subcommand: "join", ID: "n2", DataDir: t.TempDir(), APIAddr: freeAddr(t), RaftAddr: freeAddr(t), FastHash: true, Join: n1.apiURL}.Args()...)
	if err == nil || !strings.Contains(out, "cluster key") || took > 10*time.Second {
		t.Fatalf("wrong key after %v: %v %s", took, err, out)
	}
}

// version, --version and -v; the version in the first log line, in
// /metrics and in status.
func TestOps_Version(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		out, _, err := runBin(t, 10*time.Second, cleanEnv(), args...)
		if err != nil || !strings.HasPrefix(out, "sessiond ") || !strings.Contains(out, "go1.") {
			t.Fatalf("%q: %v %s", args, err, out)
		}
	}
	out, _, err := runBin(t, 10*time.Second, cleanEnv(), "version", "--json")
	if err != nil || !strings.Contains(out, `"go_version":"go1.`) || !strings.Contains(out, `"commit":`) {
		t.Fatalf("version --json: %v %s", err, out)
	}
	env := cleanEnv(envAdmin(), "SESSIOND_CLUSTER_KEY="+clusterKey)
	n := startNode(t, "n1", env)
	waitReady(t, n)
	first := ""
	for _, l := range strings.Split(n.Log(), "\n") {
		if strings.Contains(l, "starting sessiond") {
			first = l
			break
		}
	}
	if !strings.Contains(first, "version=") || !strings.Contains(first, "go=go1.") {
		t.Fatalf("start line without version: %q", first)
	}
	resp, err := http.Get(n.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !regexp.MustCompile(`sessiond_build_info\{commit="[^"]+",goversion="go1\.[^"]+",version="[^"]+"\} 1`).Match(body) {
		t.Fatalf("no sessiond_build_info in /metrics")
	}
	status, err := runCLI(t, env, "", "status", "--addr", n.apiURL)
	if err != nil || !strings.Contains(status, "VERSION") {
		t.Fatalf("status: %v %s", err, status)
	}
	lines := strings.Split(status, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "n1 ") && (strings.Contains(l, " - ") && !strings.Contains(l, "(devel)") && !strings.Contains(l, "v")) {
			t.Fatalf("status row without a version: %q", l)
		}
	}
}

// sessiond dev: one command, a node, a printed admin password that logs
// in; the printed try line (run by bash, with curl) logs in, and the
// printed export lines point the CLI at the node as its admin.
func TestOps_DevMode(t *testing.T) {
	t.Parallel()
	api := freeAddr(t)
	p := startProc(t, "dev", t.TempDir(), cleanEnv(), "dev", "--api-addr", api)
	re := regexp.MustCompile(`admin password: (\S+)`)
	var pw string
	if err := p.Wait(t.Context(), waitLong, "admin password printed", func() error {
		if m := re.FindStringSubmatch(p.Log()); m != nil {
			pw = m[1]
			return nil
		}
		return fmt.Errorf("not yet")
	}); err != nil {
		t.Fatal(err)
	}
	c := client.New([]string{"http://" + api})
	adminLogin := login(t, c, "admin", pw)
	if n := strings.Count(p.Log(), pw); n != 3 { // the line, the curl example and the export, nothing logged
		t.Fatalf("password appears %d times in the output", n)
	}
	if try := regexp.MustCompile(`(?m)^  try: (.+)$`).FindStringSubmatch(p.Log()); try == nil {
		t.Error("no try line")
	} else if _, err := exec.LookPath("curl"); err == nil {
		out, err := exec.Command("bash", "-c", try[1]).CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"token"`) {
			t.Errorf("the try line %q: %v %s", try[1], err, out)
		}
	}
	// dev runs with every default serve has: the portal's sign-in page at
	// its default prefix, and events kept (a zero retention keeps none).
	if resp, err := http.Get("http://" + api + "/auth/"); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `name="password"`) {
			t.Errorf("dev's portal: GET /auth/ = %d, want the sign-in page", resp.StatusCode)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+api+"/v1/events?timeout=0", nil)
	req.Header.Set("Authorization", "Bearer "+adminLogin.Token)
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Error(err)
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"session.created"`) {
			t.Errorf("dev's event stream: %d %s, want the admin's login", resp.StatusCode, body)
		}
	}
	env := cleanEnv()
	for _, m := range regexp.MustCompile(`(?m)^ +export (SESSIOND_\w+)=(\S+)$`).FindAllStringSubmatch(p.Log(), -1) {
		env = append(env, m[1]+"="+strings.Trim(m[2], "'"))
	}
	if out, err := runCLI(t, env, "", "user", "list"); err != nil || !strings.Contains(out, "admin") {
		t.Errorf("the CLI with the printed exports (%d): %v %q", len(env), err, out)
	}
	dir := regexp.MustCompile(`node in (\S+) `).FindStringSubmatch(p.Log())
	p.stop()
	if dir == nil {
		t.Fatal("no temp dir named")
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Fatalf("temp dir %s left behind: %v", dir[1], err)
	}
}

// A production start with a first-admin password below the policy
// refuses to start, saying why, without echoing it.
func TestOps_BadAdminPasswordRefusesStart(t *testing.T) {
	t.Parallel()
	out, _, err := runBin(t, 10*time.Second, cleanEnv("SESSIOND_ADMIN_PASSWORD=admin"),
		proctest.Node{DataDir: t.TempDir(), APIAddr: freeAddr(t), RaftAddr: freeAddr(t), FastHash: true}.Args()...)
	if err == nil || !strings.Contains(out, "SESSIOND_ADMIN_PASSWORD does not meet the password policy") || strings.Contains(out, "=admin") {
		t.Fatalf("%v %s", err, out)
	}
}

// flag > env > file > default, same names; secrets refused in the file;
// --print-config redacts them.
func TestOps_ConfigFilePrecedence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "sessiond.toml")
	os.WriteFile(file, []byte("node-id = \"from-file\"\nmax-stale = \"2s\"\nlog-level = \"warn\"\ndefault-db = \"filedb\"\nhash-time = 3\n"), 0o600)
	env := cleanEnv("SESSIOND_NODE_ID=from-env", "SESSIOND_DEFAULT_DB=envdb", "SESSIOND_CLUSTER_KEY="+clusterKey)
	out, _, err := runBin(t, 10*time.Second, env, "serve", "--config", file, "--default-db", "flagdb", "--print-config")
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for _, want := range []string{`node-id = "from-env"`, `default-db = "flagdb"`, `max-stale = "2s"`, `log-level = "warn"`,
		`hash-time = 3`, `election-timeout = "500ms"`, "# SESSIOND_CLUSTER_KEY: set, [redacted]"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, clusterKey) {
		t.Fatal("print-config shows the cluster key")
	}
	// The printed configuration reads back as a config file.
	again := filepath.Join(dir, "again.toml")
	os.WriteFile(again, []byte(out), 0o600)
	if out2, _, err := runBin(t, 10*time.Second, cleanEnv(), "serve", "--config", again, "--print-config"); err != nil || !strings.Contains(out2, `default-db = "flagdb"`) {
		t.Fatalf("round trip: %v %s", err, out2)
	}
	os.WriteFile(file, []byte("cluster-key = \""+clusterKey+"\"\n"), 0o600)
	if out, _, err := runBin(t, 10*time.Second, cleanEnv(), "serve", "--config", file, "--print-config"); err == nil ||
		!strings.Contains(out, "SESSIOND_CLUSTER_KEY") || strings.Contains(out, clusterKey) {
		t.Fatalf("secret in config file: %v %s", err, out)
	}
	os.WriteFile(file, []byte("node-idd = \"typo\"\n"), 0o600)
	if out, _, err := runBin(t, 10*time.Second, cleanEnv(), "serve", "--config", file); err == nil || !strings.Contains(out, "node-idd") {
		t.Fatalf("unknown key: %v %s", err, out)
	}
}

// Completion scripts for the three shells name the new commands; the
// bash one parses.
func TestOps_CompletionScripts(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"bash", "zsh", "fish"} {
		out, _, err := runBin(t, 10*time.Second, cleanEnv(), "completion", sh)
		if err != nil || !strings.Contains(out, "remove") || !strings.Contains(out, "unlock") || !strings.Contains(out, "trusted-proxies") {
			t.Fatalf("%s: %v %s", sh, err, out)
		}
		if sh == "bash" {
			if bash, err := exec.LookPath("bash"); err == nil {
				f := filepath.Join(t.TempDir(), "c.bash")
				os.WriteFile(f, []byte(out), 0o600)
				if b, err := exec.Command(bash, "-n", f).CombinedOutput(); err != nil {
					t.Fatalf("bash -n: %v %s", err, b)
				}
				script := "source " + f + "; COMP_WORDS=(sessiond node re); COMP_CWORD=2; _sessiond; echo ${COMPREPLY[@]}"
				if b, err := exec.Command(bash, "-c", script).CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "remove" {
					t.Fatalf("bash completes 'node re' to %q (%v)", b, err)
				}
			}
		}
	}
	if out, _, err := runBin(t, 10*time.Second, cleanEnv(), "completion", "tcsh"); err == nil || !strings.Contains(out, "bash, zsh or fish") {
		t.Fatalf("tcsh: %v %s", err, out)
	}
}

// SIGTERM while the node waits at start-up (here: joining a seed that
// is not there) ends it promptly, with status 0.
func TestOps_SignalDuringStartup(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		p := startProc(t, "joiner", t.TempDir(), cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey),
			proctest.Node{Subcommand: "join", ID: "j", DataDir: "data", APIAddr: freeAddr(t), RaftAddr: freeAddr(t),
				FastHash: true, Join: "http://" + freeAddr(t), Extra: []string{"--join-timeout", "5m"}}.Args()...)
		if err := p.Wait(t.Context(), waitLong, "joining", func() error {
			if strings.Contains(p.Log(), "joining cluster") {
				return nil
			}
			return fmt.Errorf("not yet")
		}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := p.Signal(sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%v: still running after 10s", sig)
		}
		if err := p.Err(); err != nil {
			t.Fatalf("%v: exit %v", sig, err)
		}
		t.Logf("%v during join: exited after %v", sig, time.Since(start))
	}
}

// Errors carry no repeated prefixes, and a refused cluster key names the
// variable to fix.
func TestOps_ErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	n := startNode(t, "n1", cleanEnv(envAdmin(), "SESSIOND_CLUSTER_KEY="+clusterKey))
	waitReady(t, n)
	_, err := runCLI(t, cleanEnv("SESSIOND_CLUSTER_KEY=Yfx9uhjc4c6amzGyFSdBMuj4sKFVNEO_lcFNBAGAiuc"), "", "status", "--addr", n.apiURL)
	if err == nil || !strings.Contains(err.Error(), "SESSIOND_CLUSTER_KEY") || strings.Contains(err.Error(), "sessiond: sessiond:") {
		t.Fatalf("wrong key: %v", err)
	}
	_, err = runCLI(t, cleanEnv(), "", "snapshot", "save")
	if err == nil || strings.Contains(err.Error(), "usage: usage:") || !strings.Contains(err.Error(), "exactly one FILE") {
		t.Fatalf("snapshot save without file: %v", err)
	}
	if out, err := runCLI(t, cleanEnv(), "", "user", "--help"); err != nil {
		t.Fatalf("user --help: %v %s", err, out)
	}
}
