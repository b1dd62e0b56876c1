package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// testEnv is a real single-node cluster with the API in front of it, served
// by httptest on loopback. There are no fakes: the node runs Raft, writes
// raft.db and applies through the FSM.
type testEnv struct {
	t     *testing.T
	node  *cluster.Node
	svc   *auth.Service
	srv   *Server
	http  *httptest.Server
	URL   string
	admin string // the admin's native token
	now   func() time.Time
}

const testAdminPassword = "admin-password-123"

type envOpt func(*cluster.Config, *auth.ServiceConfig, *Config)

// newTestEnv starts a node, waits until it is ready and seeded, and logs
// the admin in.
func newTestEnv(t *testing.T, opts ...envOpt) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ccfg := cluster.DefaultConfig()
	ccfg.NodeID, ccfg.DataDir, ccfg.RaftBind = "t1", t.TempDir(), "127.0.0.1:0"
	ccfg.APIURL = "http://" + ln.Addr().String()
	ccfg.ClusterKey = "test-cluster-key-0123456789"
	ccfg.HeartbeatTimeout, ccfg.ElectionTimeout, ccfg.LeaderLeaseTimeout = 100*time.Millisecond, 100*time.Millisecond, 50*time.Millisecond
	ccfg.MaxStale = 300 * time.Millisecond
	ccfg.LogOutput = io.Discard
	acfg := auth.DefaultServiceConfig()
	acfg.Hash = auth.MinimalHashParams()
	cfg := DefaultConfig()
	cfg.AdminPassword = testAdminPassword
	cfg.JWTSecret = []byte("0123456789abcdef0123456789abcdef-test-jwt-key")
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, o := range opts {
		o(&ccfg, &acfg, &cfg)
	}
	node, err := cluster.Open(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.NewService(acfg, node, node.FSM())
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, node, svc)
	if err != nil {
		t.Fatal(err)
	}
	node.SetOnLeader(srv.OnLeader)
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	e := &testEnv{t: t, node: node, svc: svc, srv: srv, http: hs, URL: hs.URL, now: acfg.Now}
	t.Cleanup(func() {
		hs.Close()
		node.Shutdown(context.Background())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := node.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if cfg.AdminPassword != "" {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, ok := node.FSM().State().UserByLogin(cfg.DefaultDB, "admin"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("admin was not seeded")
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
		e.admin = e.login("admin", testAdminPassword)
	}
	return e
}

// resp is a decoded response.
type resp struct {
	Status int
	Header http.Header
	Body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("response is not a JSON object: %v: %s", err, r.Body)
	}
	return m
}

// do sends a request; body may be a string (sent as is) or any other value
// (sent as JSON). Headers are "Name: value" strings.
func (e *testEnv) do(method, path string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
		ct = "application/json"
	case []byte:
		rd = bytes.NewReader(b)
		ct = "application/json"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, e.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return resp{Status: res.StatusCode, Header: res.Header, Body: data}
}

// login logs in through the native API and returns the token.
func (e *testEnv) login(login, password string) string {
	e.t.Helper()
	r := e.do("POST", "/v1/login", map[string]string{"login": login, "password": password})
	if r.Status != http.StatusCreated {
		e.t.Fatalf("login %s: %d %s", login, r.Status, r.Body)
	}
	return r.json(e.t)["token"].(string)
}

// createUser creates a user through the admin API and returns its ID.
func (e *testEnv) createUser(login, password string, extra map[string]any) uint64 {
	e.t.Helper()
	body := map[string]any{"login": login, "password": password}
	for k, v := range extra {
		body[k] = v
	}
	r := e.do("POST", "/v1/users", body, "Authorization: Bearer "+e.admin)
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create user %s: %d %s", login, r.Status, r.Body)
	}
	return uint64(r.json(e.t)["id"].(float64))
}

func bearerH(tok string) string { return "Authorization: Bearer " + tok }
