package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
	"github.com/sessiond/sessiond/internal/proctest"
)

// Forward auth through the real proxies from Debian (nginx, caddy,
// haproxy; .ci/run installs them), in front of a 3-node cluster and a
// protected upstream that echoes the identity headers it received. The
// configurations are those of docs/deploy/, with ports and paths filled
// in. HAProxy has no forward auth without Lua or SPOE, so it is tested as
// what docs/deploy/haproxy.cfg makes it: the load balancer in front of the
// cluster, with /readyz checks, behind nginx's auth_request.

// echoedHeaders are what the upstream reports back.
var echoedHeaders = []string{"Remote-User", "Remote-Email", "Remote-Name", "Remote-Groups",
	"X-Sessiond-User-Id", "X-Sessiond-Login", "X-Sessiond-Session-Kind", "X-Sessiond-Admin", "Cookie"}

// upstream is the protected app: it answers 200 with every value of the
// identity headers it got, as JSON.
func upstream(t *testing.T) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := map[string][]string{}
		for _, h := range echoedHeaders {
			out[h] = r.Header.Values(h)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://")
}

// proxyConf is where one subtest's proxies run.
type proxyConf struct {
	Dir, Listen, Upstream string
	Nodes                 []string // host:port of each node
}

// deployConf reads docs/deploy/<file> and swaps its example addresses
// for the test's: what is tested is the documented configuration.
func deployConf(t *testing.T, file string, c proxyConf) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(moduleRoot, "docs", "deploy", file))
	if err != nil {
		t.Fatal(err)
	}
	n := c.Nodes
	for len(n) < 3 {
		n = append(n, n[0])
	}
	return strings.NewReplacer("10.0.0.11:8080", n[0], "10.0.0.12:8080", n[1], "10.0.0.13:8080", n[2],
		"127.0.0.1:3000", c.Upstream, "listen 80;", "listen "+c.Listen+";",
		"app.example.com {", "http://"+c.Listen+" {", "bind :8080", "bind "+c.Listen,
		// nginx: a scratch prefix instead of /var/lib/nginx and /var/log/nginx.
		"http {\n", "http {\n    access_log off;\n    client_body_temp_path tmp/body;\n    proxy_temp_path tmp/proxy;\n"+
			"    fastcgi_temp_path tmp/fastcgi;\n    uwsgi_temp_path tmp/uwsgi;\n    scgi_temp_path tmp/scgi;\n",
	).Replace(string(b))
}

// startProxy writes conf and runs bin with args (the conf's path is
// {{conf}}), then waits until listen accepts connections.
func startProxy(t *testing.T, name, bin, dir, conf, listen string, args ...string) {
	t.Helper()
	path := filepath.Join(dir, name+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		args[i] = strings.ReplaceAll(a, "{{conf}}", path)
	}
	p := &proctest.Proc{Name: name, Bin: bin, Args: args, Dir: dir, LogPath: filepath.Join(dir, name+".log"),
		Env: proctest.CleanEnv("HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)}
	p.StartT(t)
	err := p.Wait(ctxT(t, waitLong), waitLong, name+" listening", func() error {
		res, err := http.Get("http://" + listen + "/__probe")
		if err == nil {
			res.Body.Close()
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// dialectTokens logs zoe in through each dialect on n and returns the
// request header that carries each token, by session kind.
func dialectTokens(t *testing.T, n *node, login, password string) map[string][2]string {
	t.Helper()
	post := func(path, ctype, body string) map[string]any {
		res, err := http.Post(n.apiURL+path, ctype, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode >= 300 {
			t.Fatalf("%s: %d %v", path, res.StatusCode, err)
		}
		return m
	}
	creds := fmt.Sprintf(`{"login":%q,"password":%q}`, login, password)
	native := login2(t, n, login, password)
	knox := post("/auth/login/", "application/json", fmt.Sprintf(`{"username":%q,"password":%q}`, login, password))["token"].(string)
	jwt := post("/api/login", "application/x-www-form-urlencoded", url.Values{"email": {login}, "password": {password}}.Encode())["data"].(map[string]any)["token"].(string)
	sid := post("/session/auth/login", "application/json", creds)["session"].(map[string]any)["sid"].(string)
	return map[string][2]string{
		"native":      {"native", "Authorization: Bearer " + native},
		"knox":        {"knox", "Authorization: Token " + knox},
		"jwt":         {"jwt", "Authorization: Bearer " + jwt},
		"odoo-cookie": {"odoo", "Cookie: session_id=" + sid},
		"odoo-header": {"odoo", "X-Openerp-Session-Id: " + sid},
	}
}

func login2(t *testing.T, n *node, user, password string) string {
	return login(t, n.client(), user, password).Token
}

// get sends a request through the proxy; headers are "Name: value".
func get(t *testing.T, base string, headers ...string) (int, map[string][]string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+base+"/app/page", nil)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		return 0, nil
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	var seen map[string][]string
	if res.StatusCode == 200 {
		if err := json.Unmarshal(body, &seen); err != nil {
			t.Fatalf("upstream answer: %v: %s", err, body)
		}
	}
	return res.StatusCode, seen
}

func TestProxy(t *testing.T) {
	t.Parallel()
	bins := proxyBins()
	if len(bins) == 0 {
		t.Skip("none of nginx, caddy, haproxy is installed (apt-get install nginx caddy haproxy)")
	}
	nodes := startCluster(t)
	admin := login2(t, nodes[0], "admin", adminPassword)
	if _, err := nodes[0].client().CreateUser(ctxT(t, 10*time.Second), admin,
		client.NewUser{Login: "zoe", Password: "zoe-password-123", Name: "Zoë Q", Email: "zoe@example.com"}); err != nil {
		t.Fatal(err)
	}
	up := upstream(t)
	c := proxyConf{Upstream: up}
	for _, n := range nodes {
		c.Nodes = append(c.Nodes, strings.TrimPrefix(n.apiURL, "http://"))
	}
	for i, name := range []string{"nginx", "caddy", "haproxy"} {
		t.Run(name, func(t *testing.T) {
			need := name
			if name == "haproxy" && bins["nginx"] == "" {
				need = "nginx" // haproxy is tested behind nginx
			}
			if bins[name] == "" || bins[need] == "" {
				t.Skipf("%s not installed (apt-get install %s)", need, name)
			}
			base := startFront(t, name, bins, c)
			checkProxy(t, base, nodes, nodes[i])
		})
	}
}

// startFront starts the proxy of one subtest and returns its listen
// address.
func startFront(t *testing.T, name string, bins map[string]string, c proxyConf) string {
	c.Dir, c.Listen = t.TempDir(), freeAddr(t)
	if name == "haproxy" {
		lb := c
		lb.Listen = freeAddr(t)
		startHAProxy(t, bins["haproxy"], deployConf(t, "haproxy.cfg", lb), lb.Listen)
		c.Nodes = []string{lb.Listen} // nginx's one auth upstream is haproxy
		name = "nginx"
	}
	switch name {
	case "nginx":
		if err := os.MkdirAll(filepath.Join(c.Dir, "tmp"), 0o700); err != nil {
			t.Fatal(err)
		}
		global := "daemon off; pid nginx.pid;"
		if os.Geteuid() == 0 {
			global += " user root;" // workers must reach the scratch prefix
		}
		startProxy(t, "nginx", bins["nginx"], c.Dir, deployConf(t, "nginx.conf", c), c.Listen,
			"-p", c.Dir, "-c", "{{conf}}", "-e", "stderr", "-g", global)
	case "caddy":
		caddyfile := "{\n\tadmin off\n\tauto_https off\n}\n" + deployConf(t, "Caddyfile", c)
		startProxy(t, "caddy", bins["caddy"], c.Dir, caddyfile, c.Listen, "run", "--adapter", "caddyfile", "--config", "{{conf}}")
	}
	return c.Listen
}

// startHAProxy runs haproxy in the foreground and waits until its
// frontend answers /readyz through a node.
func startHAProxy(t *testing.T, bin, conf, listen string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proctest.Proc{Name: "haproxy", Bin: bin, Args: []string{"-db", "-f", path}, Dir: dir, LogPath: filepath.Join(dir, "haproxy.log")}
	p.StartT(t)
	err := p.Wait(ctxT(t, waitLong), waitLong, "haproxy serving /readyz", func() error {
		res, err := http.Get("http://" + listen + "/readyz")
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// checkProxy runs the checks through one proxy at base; victim
// is the node it kills -9 (and restarts at the end).
func checkProxy(t *testing.T, base string, nodes []*node, victim *node) {
	if st, _ := get(t, base); st != 401 {
		t.Fatalf("no token: %d, want 401", st)
	}
	for name, tc := range dialectTokens(t, nodes[1], "zoe", "zoe-password-123") {
		st, seen := get(t, base, tc[1])
		if st != 200 {
			t.Fatalf("%s: %d", name, st)
		}
		want := map[string]string{"Remote-User": "zoe", "Remote-Email": "zoe@example.com", "Remote-Name": "Zoë Q",
			"Remote-Groups": "users", "X-Sessiond-Login": "zoe", "X-Sessiond-Session-Kind": tc[0], "X-Sessiond-Admin": "false"}
		for k, v := range want {
			if got := seen[k]; len(got) != 1 || got[0] != v {
				t.Errorf("%s: upstream saw %s = %q, want %q", name, k, got, v)
			}
		}
	}
	// Attack: identity headers sent by the client never reach the app.
	tok := "Authorization: Bearer " + login2(t, nodes[2], "zoe", "zoe-password-123")
	// The portal's cookie (both spellings) is taken out of what the app
	// gets; the app's own cookies stay.
	if st, seen := get(t, base, tok, "Cookie: a=1; __Host-sessiond=x; sessiond=y; b=2"); st != 200 || fmt.Sprint(seen["Cookie"]) != "[a=1; b=2]" {
		t.Fatalf("cookies the app got: %d %q", st, seen["Cookie"])
	}
	forged := []string{"Remote-User: admin", "Remote-Groups: admins", "X-Sessiond-Login: admin", "X-Sessiond-Admin: true"}
	if st, seen := get(t, base, append([]string{tok}, forged...)...); st != 200 || fmt.Sprint(seen["Remote-User"]) != "[zoe]" ||
		fmt.Sprint(seen["Remote-Groups"]) != "[users]" || fmt.Sprint(seen["X-Sessiond-Login"]) != "[zoe]" || fmt.Sprint(seen["X-Sessiond-Admin"]) != "[false]" {
		t.Fatalf("forged headers: %d %v", st, seen)
	}
	if st, seen := get(t, base, forged...); st != 401 || seen != nil {
		t.Fatalf("forged headers, no token: %d %v", st, seen)
	}
	// Logout through one node: the next request asking for a consistent
	// read is refused at once, and at the default level every request is
	// refused within the read lease (--max-stale, 1 s) and stays refused.
	gone := login2(t, nodes[0], "zoe", "zoe-password-123")
	if st, _ := get(t, base, "Authorization: Bearer "+gone); st != 200 {
		t.Fatalf("before logout: %d", st)
	}
	if err := nodes[1].client().Logout(ctxT(t, 10*time.Second), gone); err != nil {
		t.Fatal(err)
	}
	if st, _ := get(t, base, "Authorization: Bearer "+gone, "X-Sessiond-Consistency: consistent"); st != 401 {
		t.Fatalf("after logout, consistent: %d", st)
	}
	refusedByAll := func() error { // nine in a row: every node, whatever the pool's order
		for i := 0; i < 9; i++ {
			if st, _ := get(t, base, "Authorization: Bearer "+gone); st != 401 {
				return fmt.Errorf("request %d: status %d", i, st)
			}
		}
		return nil
	}
	eventually(t, 3*time.Second, "the logout to reach every node", refusedByAll)
	if err := refusedByAll(); err != nil {
		t.Fatalf("a logged-out token passed again: %v", err)
	}
	// kill -9 of one node: once the survivors have a leader and the pool
	// has moved on, no protected request fails.
	if err := victim.Kill(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		victim.restart()
		waitReady(t, nodes...)
	}()
	var alive []*node
	for _, n := range nodes {
		if n != victim {
			alive = append(alive, n)
		}
	}
	waitReady(t, alive...)
	eventually(t, waitLong, "a request through the proxy after the kill", func() error {
		if st, _ := get(t, base, tok); st != 200 {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
	failed := 0
	for i := 0; i < 60; i++ {
		if st, seen := get(t, base, tok); st != 200 || fmt.Sprint(seen["Remote-User"]) != "[zoe]" {
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 60 requests failed after %s was killed and marked down", failed, victim.id)
	}
}
