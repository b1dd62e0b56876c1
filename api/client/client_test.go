package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/cluster/reqsign"
)

// These tests run the client against real HTTP servers that answer canned
// JSON: what is under test is the client's own failover and error logic,
// not the API.

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// fakeNode is an httptest server that counts its requests.
type fakeNode struct {
	*httptest.Server
	hits atomic.Int32
}

func newFakeNode(t *testing.T, name string, h http.HandlerFunc) *fakeNode {
	t.Helper()
	f := &fakeNode{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.Header().Set("X-Sessiond-Node", name)
		w.Header().Set("X-Sessiond-Index", "42")
		h(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string, retryAfter string) {
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code + " happened"}})
}

var whoamiBody = map[string]any{
	"session": map[string]any{"id": "s1", "kind": "native", "created": "2025-01-02T03:04:05Z", "expires_at": nil, "last_refresh": "2025-01-02T03:04:05Z"},
	"user":    map[string]any{"id": 7, "db": "sessiond", "login": "alice", "admin": false, "disabled": false, "created": "2025-01-01T00:00:00Z"},
}

func okWhoami(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, whoamiBody) }

// unavailable stays 503 no_leader.
func unavailable(w http.ResponseWriter, r *http.Request) {
	writeErr(w, http.StatusServiceUnavailable, "no_leader", "1")
}

// dropConn closes the connection after reading the request: the request
// arrived, its outcome is unknown to the client.
func dropConn(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// deadAddr returns the URL of a server that has been shut down.
func deadAddr(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func noTokenIn(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), testToken) {
		t.Fatalf("error text contains the token: %v", err)
	}
}

func TestClient_LoginSendsJSONAndDecodes(t *testing.T) {
	n := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/login" || r.Header.Get("Content-Type") != "application/json" {
			writeErr(w, 400, "bad_request", "")
			return
		}
		var lr LoginRequest
		if err := json.NewDecoder(r.Body).Decode(&lr); err != nil || lr.Login != "alice" || lr.Password != "pw-secret-1" || lr.DB != "" {
			writeErr(w, 400, "bad_json", "")
			return
		}
		writeJSON(w, 201, map[string]any{"token": testToken, "token_type": "Bearer",
			"session": whoamiBody["session"], "user": whoamiBody["user"]})
	})
	c := New([]string{n.URL + "/"})
	res, err := c.Login(ctxTimeout(t, 5*time.Second), LoginRequest{Login: "alice", Password: "pw-secret-1"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Token != testToken || res.TokenType != "Bearer" || res.User.ID != 7 || res.User.Login != "alice" || res.Session.ID != "s1" {
		t.Fatalf("decoded %+v", res)
	}
	if res.Session.ExpiresAt != nil || res.Session.Created.IsZero() {
		t.Fatalf("session times: %+v", res.Session)
	}
	if res.Meta.Node != "node1" || res.Meta.Index != 42 || res.Meta.Addr != n.URL {
		t.Fatalf("meta %+v", res.Meta)
	}
}

func TestClient_SessionSendsBearerAndConsistency(t *testing.T) {
	n := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+testToken || r.URL.Query().Get("consistency") != "consistent" {
			writeErr(w, 401, "invalid_token", "")
			return
		}
		okWhoami(w, r)
	})
	who, err := New([]string{n.URL}).Session(ctxTimeout(t, 5*time.Second), testToken, ConsistencyConsistent)
	if err != nil {
		t.Fatal(err)
	}
	if who.User.Login != "alice" || who.Meta.Index != 42 {
		t.Fatalf("whoami %+v", who)
	}
}

func TestClient_FailsOverOnConnectionError(t *testing.T) {
	b := newFakeNode(t, "node2", okWhoami)
	c := New([]string{deadAddr(t), b.URL})
	who, err := c.Session(ctxTimeout(t, 5*time.Second), testToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if who.Meta.Node != "node2" || b.hits.Load() != 1 {
		t.Fatalf("answered by %q, node2 hits %d", who.Meta.Node, b.hits.Load())
	}
}

func TestClient_FailsOverWhenServerKilled(t *testing.T) {
	a := newFakeNode(t, "node1", okWhoami)
	b := newFakeNode(t, "node2", okWhoami)
	c := New([]string{a.URL, b.URL})
	ctx := ctxTimeout(t, 5*time.Second)
	if who, err := c.Session(ctx, testToken, ""); err != nil || who.Meta.Node != "node1" {
		t.Fatalf("first call: %v %+v", err, who)
	}
	a.CloseClientConnections()
	a.Close()
	who, err := c.Session(ctx, testToken, "")
	if err != nil {
		t.Fatal(err)
	}
	if who.Meta.Node != "node2" {
		t.Fatalf("answered by %q after node1 died", who.Meta.Node)
	}
}

func TestClient_503ThenNextNode(t *testing.T) {
	a := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusServiceUnavailable, "no_leader", "5")
	})
	b := newFakeNode(t, "node2", okWhoami)
	c := New([]string{a.URL, b.URL}, WithMaxRetryAfter(10*time.Second))
	start := time.Now()
	who, err := c.Session(ctxTimeout(t, 20*time.Second), testToken, "")
	if err != nil {
		t.Fatal(err)
	}
	// The next node is tried at once; Retry-After only delays a new round.
	if who.Meta.Node != "node2" || a.hits.Load() != 1 || time.Since(start) > 4*time.Second {
		t.Fatalf("node %q, node1 hits %d, took %v", who.Meta.Node, a.hits.Load(), time.Since(start))
	}
	// The node that answered is asked first next time.
	if _, err := c.Session(ctxTimeout(t, 5*time.Second), testToken, ""); err != nil || a.hits.Load() != 1 {
		t.Fatalf("second call: %v, node1 hits %d", err, a.hits.Load())
	}
}

func TestClient_HonoursRetryAfterUpToCap(t *testing.T) {
	var calls atomic.Int32
	n := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			writeErr(w, 503, "not_caught_up", "60")
			return
		}
		okWhoami(w, r)
	})
	c := New([]string{n.URL}, WithMaxRetryAfter(150*time.Millisecond))
	start := time.Now()
	if _, err := c.Session(ctxTimeout(t, 10*time.Second), testToken, ""); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond || d > 3*time.Second {
		t.Fatalf("took %v: want the capped Retry-After of 150ms", d)
	}
	if calls.Load() != 2 {
		t.Fatalf("%d calls", calls.Load())
	}
}

func TestClient_4xxNotRetried(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
		want   error
	}{
		{401, "bad_credentials", ErrBadCredentials},
		{401, "invalid_token", ErrInvalidToken},
		{401, "no_credentials", ErrNoCredentials},
		{403, "forbidden", ErrForbidden},
		{404, "user_not_found", ErrNotFound},
		{409, "user_exists", ErrUserExists},
		{429, "account_locked", ErrLocked},
		{400, "password_too_short", ErrBadRequest},
		{418, "", ErrBadRequest},
	} {
		t.Run(tc.code, func(t *testing.T) {
			a := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) { writeErr(w, tc.status, tc.code, "") })
			b := newFakeNode(t, "node2", okWhoami)
			_, err := New([]string{a.URL, b.URL}).Session(ctxTimeout(t, 5*time.Second), testToken, "")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			var e *Error
			if !errors.As(err, &e) || e.Status != tc.status || e.Code != tc.code || e.Node != "node1" {
				t.Fatalf("error %#v", err)
			}
			if a.hits.Load() != 1 || b.hits.Load() != 0 {
				t.Fatalf("hits node1=%d node2=%d: a 4xx must not be retried", a.hits.Load(), b.hits.Load())
			}
			noTokenIn(t, err)
		})
	}
}

func TestClient_GivesUpAtDeadline(t *testing.T) {
	a := newFakeNode(t, "node1", unavailable)
	b := newFakeNode(t, "node2", unavailable)
	c := New([]string{a.URL, b.URL}, WithMaxRetryAfter(50*time.Millisecond))
	start := time.Now()
	_, err := c.Session(ctxTimeout(t, time.Second), testToken, "")
	if !errors.Is(err, ErrNoLeader) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v, want no leader / unavailable", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != "no_leader" {
		t.Fatalf("err %#v: want the server's answer", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v past a 1s deadline", d)
	}
	if a.hits.Load() < 2 || b.hits.Load() < 2 {
		t.Fatalf("hits node1=%d node2=%d: want several rounds", a.hits.Load(), b.hits.Load())
	}
	noTokenIn(t, err)
}

func TestClient_AllNodesDownIsUnavailable(t *testing.T) {
	c := New([]string{deadAddr(t), deadAddr(t)})
	_, err := c.Login(ctxTimeout(t, 300*time.Millisecond), LoginRequest{Login: "a", Password: "pw-secret-1"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "pw-secret-1") {
		t.Fatalf("password in error: %v", err)
	}
}

func TestClient_HungNodeCostsOneAttemptTimeout(t *testing.T) {
	release := make(chan struct{})
	a := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	b := newFakeNode(t, "node2", okWhoami)
	c := New([]string{a.URL, b.URL}, WithAttemptTimeout(200*time.Millisecond))
	who, err := c.Session(ctxTimeout(t, 5*time.Second), testToken, "")
	if err != nil || who.Meta.Node != "node2" {
		t.Fatalf("%v %+v", err, who)
	}
}

func TestClient_CreateUserNotRepeatedAfterAmbiguousFailure(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"dropped connection": dropConn,
		"503 timeout":        func(w http.ResponseWriter, r *http.Request) { writeErr(w, 503, "timeout", "1") },
	} {
		t.Run(name, func(t *testing.T) {
			a := newFakeNode(t, "node1", h)
			b := newFakeNode(t, "node2", func(w http.ResponseWriter, r *http.Request) {
				writeJSON(w, 201, whoamiBody["user"])
			})
			_, err := New([]string{a.URL, b.URL}).CreateUser(ctxTimeout(t, 5*time.Second), testToken,
				NewUser{Login: "bob", Password: "pw-secret-2"})
			if !errors.Is(err, ErrUnknownOutcome) {
				t.Fatalf("err %v, want unknown outcome", err)
			}
			if b.hits.Load() != 0 {
				t.Fatal("a create with an unknown outcome was sent again")
			}
			noTokenIn(t, err)
		})
	}
}

func TestClient_CreateUserRetriedWhenNothingApplied(t *testing.T) {
	a := newFakeNode(t, "node1", unavailable) // no_leader: refused before the log
	b := newFakeNode(t, "node2", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 201, whoamiBody["user"]) })
	u, err := New([]string{deadAddr(t), a.URL, b.URL}).CreateUser(ctxTimeout(t, 5*time.Second), testToken,
		NewUser{Login: "alice", Password: "pw-secret-2"})
	if err != nil || u.ID != 7 {
		t.Fatalf("%v %+v", err, u)
	}
}

func TestClient_LogoutRepeatAfterDropCountsAsDone(t *testing.T) {
	a := newFakeNode(t, "node1", dropConn)
	b := newFakeNode(t, "node2", func(w http.ResponseWriter, r *http.Request) { writeErr(w, 401, "invalid_token", "") })
	if err := New([]string{a.URL, b.URL}).Logout(ctxTimeout(t, 5*time.Second), testToken); err != nil {
		t.Fatalf("logout: %v", err)
	}
	// Without an ambiguous attempt before it, invalid_token is reported.
	err := New([]string{b.URL}).Logout(ctxTimeout(t, 5*time.Second), testToken)
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err %v", err)
	}
}

func TestClient_ProxyErrorPage(t *testing.T) {
	a := newFakeNode(t, "", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, "<html>oops</html>")
	})
	_, err := New([]string{a.URL}).Session(ctxTimeout(t, 5*time.Second), testToken, "")
	var e *Error
	if !errors.As(err, &e) || e.Status != 500 || e.Code != "" || !errors.Is(err, ErrInternal) || a.hits.Load() != 1 {
		t.Fatalf("err %#v", err)
	}
}

func TestClient_ClusterStatusWithClusterKey(t *testing.T) {
	n := newFakeNode(t, "node1", func(w http.ResponseWriter, r *http.Request) {
		sig, err := reqsign.Parse(r.Header.Get(reqsign.Header))
		if err != nil || sig.Target != "node1" || !sig.Valid(reqsign.Key("k-0123456789abcdef"), r.Method, r.RequestURI, sha256.Sum256(nil)) ||
			r.Header.Get(ClusterKeyHeader) != "" || r.Header.Get("Authorization") != "" {
			writeErr(w, 403, "forbidden", "")
			return
		}
		writeJSON(w, 200, map[string]any{"node_id": "node1", "state": "Leader", "leader": "node1", "commit_index": 9,
			"members": []map[string]any{{"id": "node1", "raft_addr": "127.0.0.1:8301", "suffrage": "Voter", "leader": true}}})
	})
	st, err := New([]string{n.URL}, WithClusterKey("k-0123456789abcdef")).ClusterStatus(ctxTimeout(t, 5*time.Second), "")
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != "node1" || st.CommitIndex != 9 || len(st.Members) != 1 || !st.Members[0].Leader {
		t.Fatalf("%+v", st)
	}
}

func TestClient_ReadyAsksEachNodeOnce(t *testing.T) {
	a := newFakeNode(t, "node1", unavailable)
	c := New([]string{a.URL})
	start := time.Now()
	if err := c.Ready(ctxTimeout(t, 5*time.Second)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
	if a.hits.Load() != 1 || time.Since(start) > time.Second {
		t.Fatalf("hits %d in %v", a.hits.Load(), time.Since(start))
	}
	b := newFakeNode(t, "node2", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"status": "ready"}) })
	if err := New([]string{a.URL, b.URL}).Ready(ctxTimeout(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestClient_NoAddrs(t *testing.T) {
	if err := New(nil).Health(context.Background()); !errors.Is(err, ErrNoAddrs) {
		t.Fatalf("err %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"-1":                            0,
		"soon":                          0,
		"Wed, 01 Jan 2025 00:00:05 GMT": 5 * time.Second,
		"Tue, 31 Dec 2024 00:00:05 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestClient_DeadlineMidAttemptKeepsServerAnswer(t *testing.T) {
	a := newFakeNode(t, "node1", unavailable)
	b := newFakeNode(t, "node2", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }) // hangs
	_, err := New([]string{a.URL, b.URL}).Session(ctxTimeout(t, 500*time.Millisecond), testToken, "")
	var e *Error
	if !errors.As(err, &e) || e.Code != "no_leader" || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err %v", err)
	}
}
