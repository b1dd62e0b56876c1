package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// The attacks of findings N3, N10 and N6 through the real proxies and the
// shipped configurations of docs/deploy/: path rules walked around with
// ';' path parameters and a raw '#', identity headers forged with
// underscores, and every client behind HAProxy sharing its address.

// proxyBins finds the installed proxies by name.
func proxyBins() map[string]string {
	bins := map[string]string{}
	for _, b := range []string{"nginx", "caddy", "haproxy"} {
		if p, err := exec.LookPath(b); err == nil {
			bins[b] = p
		} else if p := "/usr/sbin/" + b; fileExists(p) {
			bins[b] = p
		}
	}
	return bins
}

// targetEcho is an app that answers 200 with the raw request target it
// received and every header that an app could read as an identity header
// (any spelling: Remote_User is REMOTE_USER to WSGI).
func targetEcho(t *testing.T) string {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids := map[string][]string{}
		for k, v := range r.Header {
			n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
			if strings.HasPrefix(n, "remote-") || strings.HasPrefix(n, "x-sessiond-") {
				ids[k] = v
			}
		}
		json.NewEncoder(w).Encode(map[string]any{"target": r.RequestURI, "headers": ids})
	}))
	t.Cleanup(hs.Close)
	return strings.TrimPrefix(hs.URL, "http://")
}

// rawGet sends target byte for byte (a raw '#' included, which no HTTP
// client library sends) and returns the status and body.
func rawGet(t *testing.T, addr, target string, headers ...string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: application/json\r\nConnection: close\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", target, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestProxyPathBypass: with the rule {"prefix": "/admin", "admin": true}
// a user who is not an admin reaches no spelling of /admin through the
// shipped nginx.conf and Caddyfile: ';' path parameters (what Tomcat,
// Jetty and Spring strip), a raw '#' (what an app that parses the target
// as a URL drops), encoded dots; an admin still passes, so the refusals
// are the rule's, not a blanket one. Client-sent underscore spellings of
// the identity headers never reach the app.
func TestProxyPathBypass(t *testing.T) {
	t.Parallel()
	bins := proxyBins()
	if bins["nginx"] == "" && bins["caddy"] == "" {
		t.Skip("neither nginx nor caddy is installed (apt-get install nginx caddy)")
	}
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.json")
	if err := os.WriteFile(rules, []byte(`{"rules": [{"prefix": "/admin", "admin": true}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword),
		"--authz-rules", rules, "--trusted-proxies", "127.0.0.1")
	waitReady(t, n)
	admin := login2(t, n, "admin", adminPassword)
	if _, err := n.client().CreateUser(ctxT(t, 10*time.Second), admin,
		client.NewUser{Login: "zoe", Password: "zoe-password-123", Email: "zoe@example.com"}); err != nil {
		t.Fatal(err)
	}
	zoe := "Authorization: Bearer " + login2(t, n, "zoe", "zoe-password-123")
	adm := "Authorization: Bearer " + admin
	c := proxyConf{Upstream: targetEcho(t), Nodes: []string{strings.TrimPrefix(n.apiURL, "http://")}}

	refused := []string{"/admin", "/admin;x=1/", "/admin;jsessionid=1/x", "/public/..;/admin", "/admin;/x",
		"/public/%2e%2e/admin", "/public/%2E%2E/admin/x", "/%61dmin", "/admin%2fx", "/public/%252e%252e/admin"}
	for _, name := range []string{"nginx", "caddy"} {
		t.Run(name, func(t *testing.T) {
			if bins[name] == "" {
				t.Skipf("%s not installed (apt-get install %s)", name, name)
			}
			base := startFront(t, name, bins, c)
			if st, body := rawGet(t, base, "/public/x", zoe); st != 200 || !strings.Contains(body, `"target":"/public/x"`) {
				t.Fatalf("control: %d %s", st, body)
			}
			for _, target := range refused {
				if st, body := rawGet(t, base, target, zoe); st != 403 {
					t.Errorf("%s as a non-admin: %d %s, want 403", target, st, body)
				}
			}
			if st, body := rawGet(t, base, "/admin;x=1/", adm); st != 200 {
				t.Errorf("/admin;x=1/ as the admin: %d %s", st, body)
			}
			// A raw '#': nginx passes it on as is, so sessiond refuses it;
			// Caddy (Go) re-encodes it as %23 for the app, which routes a
			// path that is not /admin.
			st, body := rawGet(t, base, "/admin#x", zoe)
			if st != 403 && !(st == 200 && strings.Contains(body, `"target":"/admin%23x"`)) {
				t.Errorf("raw #: %d %s", st, body)
			}
			// Forged identity headers in every spelling.
			st, body = rawGet(t, base, "/public/y", zoe, "Remote_User: admin", "X-Sessiond_Admin: true",
				"X_Sessiond_Admin: true", "Remote_Groups: admins", "REMOTE_EMAIL: ceo@example.com")
			var seen struct{ Headers map[string][]string }
			if st != 200 || json.Unmarshal([]byte(body), &seen) != nil {
				t.Fatalf("forged underscores: %d %s", st, body)
			}
			for k, v := range seen.Headers {
				if strings.Contains(k, "_") || strings.Join(v, ",") == "admin" || strings.Contains(strings.Join(v, ","), "true") ||
					strings.Contains(strings.Join(v, ","), "admins") || strings.Contains(strings.Join(v, ","), "ceo@") {
					t.Errorf("the app saw %s: %q", k, v)
				}
			}
			if got := fmt.Sprint(seen.Headers["Remote-User"]); got != "[zoe]" {
				t.Errorf("Remote-User %s", got)
			}
		})
	}
}

// TestProxyClientAddress (finding N6): behind the shipped haproxy.cfg,
// sessiond sees each client's own address (X-Forwarded-For from the one
// trusted proxy), not HAProxy's: the session records the client's, so
// throttling, the guess budget and the audit log tell clients apart.
func TestProxyClientAddress(t *testing.T) {
	t.Parallel()
	bin := proxyBins()["haproxy"]
	if bin == "" {
		t.Skip("haproxy not installed (apt-get install haproxy)")
	}
	n := startNode(t, "node1", cleanEnv("SESSIOND_CLUSTER_KEY="+clusterKey, "SESSIOND_ADMIN_PASSWORD="+adminPassword),
		"--trusted-proxies", "127.0.0.1")
	waitReady(t, n)
	lb := freeAddr(t)
	startHAProxy(t, bin, deployConf(t, "haproxy.cfg", proxyConf{Listen: lb, Nodes: []string{strings.TrimPrefix(n.apiURL, "http://")}}), lb)
	// The client connects from 127.0.0.2; HAProxy to the node from
	// 127.0.0.1, the trusted proxy.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}).DialContext}}
	do := func(method, path, body string, headers ...string) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, "http://"+lb+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", method, path, res.StatusCode, err)
		}
		return m
	}
	// A client's own X-Forwarded-For is not believed either: HAProxy
	// adds the real address after it, and the rightmost untrusted wins.
	tok := do("POST", "/v1/login", fmt.Sprintf(`{"login":"admin","password":%q}`, adminPassword), "X-Forwarded-For: 203.0.113.9")["token"].(string)
	who := do("GET", "/v1/session", "", "Authorization: Bearer "+tok)
	if got := who["session"].(map[string]any)["client_addr"]; got != "127.0.0.2" {
		t.Fatalf("the session's client address is %v, want the client's 127.0.0.2 (not HAProxy's 127.0.0.1)", got)
	}
}
