package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestScripts_PortalDemo runs scripts/portal-demo.sh as the README shows:
// it prints url, user and password lines; through its nginx the app
// sends a browser to the portal, signing in there brings it back to the
// app, which shows the login; a signal (as Ctrl-C sends) stops
// everything and deletes the demo's files.
func TestScripts_PortalDemo(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds and runs a three-node cluster, nginx and the demo app")
	}
	for _, b := range []string{"curl", "nginx"} {
		if _, err := exec.LookPath(b); err != nil && !fileExists("/usr/sbin/"+b) {
			t.Skipf("the demo needs %s", b)
		}
	}
	port := freePorts(t, 11)
	tmp := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "scripts/portal-demo.sh", "--port", strconv.Itoa(port))
	cmd.Dir = moduleRoot
	cmd.Env = cleanEnv("TMPDIR="+tmp, "DEMO_NODE_ARGS="+strings.Join(fastArgs, " "), "PATH="+os.Getenv("PATH")+":/usr/sbin")
	cmd.Stderr = &tailWriter{t: t}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: the cleanup can reach what it started
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	lines := map[string]string{}
	sc := bufio.NewScanner(out)
	for lines["password"] == "" && sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
			lines[k] = v
		}
	}
	go io.Copy(io.Discard, out)
	base := strings.TrimSuffix(lines["url"], "/")
	if base != "http://127.0.0.1:"+strconv.Itoa(port) || lines["user"] != "demo" || len(lines["password"]) < 12 {
		t.Fatalf("the demo printed %v", lines)
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", base+"/hello?x=1", nil)
	req.Header.Set("Accept", "text/html")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != 302 || loc == nil || loc.Path != "/auth/" || loc.Query().Get("rd") != base+"/hello?x=1" {
		t.Fatalf("the app without a session: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = c.PostForm(base+"/auth/signin", url.Values{"login": {"demo"}, "password": {lines["password"]}, "rd": {base + "/hello?x=1"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 303 || res.Header.Get("Location") != base+"/hello?x=1" {
		t.Fatalf("sign-in: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = c.Get(base + "/hello?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !regexp.MustCompile(`Signed in as <strong id="login">demo</strong>`).Match(body) {
		t.Fatalf("the app after sign-in: %d %s", res.StatusCode, body)
	}
	dirs, _ := filepath.Glob(filepath.Join(tmp, "sessiond-portal-demo.*"))
	if len(dirs) != 1 {
		t.Fatalf("demo dirs %v", dirs)
	}
	// SIGTERM, not SIGINT: a shell started from a background job ignores
	// SIGINT for good (Ctrl-C in a terminal reaches it; it traps both).
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the demo did not stop within 60 s of SIGTERM")
	}
	if _, err := os.Stat(dirs[0]); !os.IsNotExist(err) {
		t.Fatalf("the demo left %s behind", dirs[0])
	}
	if _, err := http.Get(base + "/"); err == nil {
		t.Fatal("nginx still answers after the demo stopped")
	}
}

// tailWriter logs what a script writes to stderr.
type tailWriter struct{ t *testing.T }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.t.Logf("stderr: %s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
