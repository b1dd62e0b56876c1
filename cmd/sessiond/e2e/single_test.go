package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/api/client"
)

// TestSingleNode_SessionsSurviveRestart runs one node the way `sessiond`
// with no flags does — bootstrapped, data in ./data of its working
// directory — on free ports instead of 8080/8300 (the defaults themselves
// are checked by cmd/sessiond's config tests). A session survives SIGTERM
// and a restart; a logged-out one stays refused.
func TestSingleNode_SessionsSurviveRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	api, raft, metrics := freeAddr(t), freeAddr(t), freeAddr(t)
	url := "http://" + api
	env := cleanEnv("SESSIOND_ADMIN_PASSWORD=" + adminPassword)
	p := startProc(t, "single", dir, env, append([]string{"--api-addr", api, "--raft-addr", raft, "--metrics-addr", metrics}, fastArgs...)...)
	n := &node{proc: p, id: "node1", apiURL: url}
	waitReady(t, n)
	c := n.client()

	kept := login(t, c, "admin", adminPassword)
	ended := login(t, c, "admin", adminPassword)
	if kept.TokenType != "Bearer" || len(kept.Token) != 64 || kept.User.Login != "admin" || !kept.User.Admin || kept.Session.Kind != "native" {
		t.Fatalf("login answer %+v", kept)
	}
	who, err := c.Session(ctxT(t, 5*time.Second), kept.Token, "")
	if err != nil || who.User.ID != kept.User.ID || who.Session.ID != kept.Session.ID || who.Meta.Node != "node1" || who.Meta.Index == 0 {
		t.Fatalf("whoami: %v %+v", err, who)
	}
	if err := c.Logout(ctxT(t, 5*time.Second), ended.Token); err != nil {
		t.Fatalf("logout: %v", err)
	}
	assertRefused(t, url, ended.Token)
	assertMetrics(t, "http://"+metrics, url)

	p.stop()
	if !strings.Contains(p.Log(), "stopped") {
		t.Errorf("no clean stop in the log")
	}
	st, err := os.Stat(filepath.Join(dir, "data"))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("data dir in the working directory: %v %v", err, st)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "raft.db")); err != nil {
		t.Fatal(err)
	}

	p.restart()
	waitReady(t, n)
	for _, level := range []string{client.ConsistencyConsistent, client.ConsistencyDefault} {
		if _, err := c.Session(ctxT(t, 5*time.Second), kept.Token, level); err != nil {
			t.Fatalf("%s read of the kept session after restart: %v", level, err)
		}
		if _, err := c.Session(ctxT(t, 5*time.Second), ended.Token, level); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("%s read of the logged-out session after restart: %v", level, err)
		}
	}
	p.stop()
	assertNoSecrets(t, []string{p.LogPath}, []string{filepath.Join(dir, "data")}, kept.Token, ended.Token, adminPassword)
}

// assertRefused checks the raw answer to a revoked token: 401 with the
// error JSON and the node headers.
func assertRefused(t *testing.T, url, token string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/v1/session", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	data, _ := io.ReadAll(res.Body)
	if res.StatusCode != 401 || json.Unmarshal(data, &body) != nil || body.Error.Code != "invalid_token" {
		t.Fatalf("revoked token: %d %s", res.StatusCode, data)
	}
	if res.Header.Get("X-Sessiond-Node") == "" || res.Header.Get("X-Sessiond-Index") == "" {
		t.Fatalf("missing node headers: %v", res.Header)
	}
}

// TestSingleNode_FirstAdminHint: without SESSIOND_ADMIN_PASSWORD a new
// node has no users and says how to create the admin; doing what it says
// (restart with the variable set) creates it.
func TestSingleNode_FirstAdminHint(t *testing.T) {
	t.Parallel()
	n := startNode(t, "node1", cleanEnv())
	waitReady(t, n)
	eventually(t, waitLong, "admin hint in the log", func() error {
		if !strings.Contains(n.Log(), "SESSIOND_ADMIN_PASSWORD=<password> to create user admin") {
			return errors.New("no hint yet")
		}
		return nil
	})
	_, err := n.client().Login(ctxT(t, 5*time.Second), client.LoginRequest{Login: "admin", Password: adminPassword})
	if !errors.Is(err, client.ErrBadCredentials) {
		t.Fatalf("login without an admin: %v", err)
	}
	n.stop()
	n.Env = cleanEnv("SESSIOND_ADMIN_PASSWORD=" + adminPassword)
	n.restart()
	waitReady(t, n)
	login(t, n.client(), "admin", adminPassword)
}

// assertMetrics checks that the metrics address serves sessiond's
// series and the process's own, and that the API port gives an
// anonymous caller none of them (finding L7).
func assertMetrics(t *testing.T, metricsURL, apiURL string) {
	t.Helper()
	get := func(url string) (int, string) {
		res, err := http.Get(url + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(data)
	}
	code, data := get(metricsURL)
	for _, name := range []string{"sessiond_sessions", "process_resident_memory_bytes", "go_goroutines"} {
		if code != 200 || !strings.Contains(data, name) {
			t.Fatalf("metrics address /metrics: %d, no %s", code, name)
		}
	}
	if code, data := get(apiURL); code != http.StatusNotFound || strings.Contains(data, "sessiond_sessions") || strings.Contains(data, "sessiond_users") {
		t.Fatalf("API port /metrics, anonymous: %d, %.200s", code, data)
	}
}
