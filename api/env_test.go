package api

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
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
	withSecrets := func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.AdminPassword = testAdminPassword
		c.JWTSecret = []byte("0123456789abcdef0123456789abcdef-test-jwt-key")
	}
	tn := startTestNode(t, "t1", "http://"+ln.Addr().String(), append([]envOpt{withSecrets}, opts...)...)
	hs := httptest.NewUnstartedServer(tn.srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	e := &testEnv{t: t, node: tn.node, svc: tn.svc, srv: tn.srv, http: hs, URL: hs.URL, now: tn.acfg.Now}
	if tn.cfg.AdminPassword != "" {
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
	var text string
	switch b := body.(type) {
	case nil:
		return e.raw(method, path, "", "", headers...)
	case string:
		text = b
	case []byte:
		text = string(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		text = string(data)
	}
	return e.raw(method, path, text, "application/json", headers...)
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
