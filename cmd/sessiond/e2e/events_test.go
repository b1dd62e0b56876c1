package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/api/client"
)

// wireEvent is an event as a receiver and the stream see it.
type wireEvent struct {
	ID        string `json:"id"`
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	SessionID string `json:"session_id"`
}

// eventKey orders event ids ("index.seq") numerically.
func eventKey(id string) [2]uint64 {
	var k [2]uint64
	fmt.Sscanf(id, "%d.%d", &k[0], &k[1])
	return k
}

func keyLess(a, b [2]uint64) bool { return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]) }

// hookReceiver is a real HTTP server that verifies each call with the
// Standard Webhooks library and records the events in arrival order.
type hookReceiver struct {
	mu     sync.Mutex
	verify *standardwebhooks.Webhook
	got    []wireEvent
	calls  int
	bad    int
	srv    *http.Server
	addr   string
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var p struct {
		Data struct {
			Events []wireEvent `json:"events"`
		} `json:"data"`
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.verify == nil || h.verify.Verify(body, r.Header) != nil || json.Unmarshal(body, &p) != nil {
		h.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h.got = append(h.got, p.Data.Events...)
}

func (h *hookReceiver) start(t *testing.T) {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatalf("receiver listen %s: %v", h.addr, err)
	}
	h.addr = ln.Addr().String()
	h.srv = &http.Server{Handler: h}
	go h.srv.Serve(ln)
}

func (h *hookReceiver) stop() { h.srv.Close() }

func (h *hookReceiver) events() []wireEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]wireEvent(nil), h.got...)
}

// apiCall is a raw JSON call to a node (the client package has no
// webhook methods: the e2e tests use the API as any HTTP caller would).
func apiCall(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctxT(t, 10*time.Second), method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && json.Unmarshal(data, out) != nil {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, data)
	}
	return res.StatusCode
}

// streamOf reads a node's whole event stream after `after`, session.ended only.
func streamOf(t *testing.T, n *node, token, after string) []wireEvent {
	t.Helper()
	var out []wireEvent
	for {
		var page struct {
			Events []wireEvent `json:"events"`
			Next   string      `json:"next"`
		}
		if st := apiCall(t, "GET", n.apiURL+"/v1/events?timeout=0&limit=1000&after="+after, token, nil, &page); st != 200 {
			t.Fatalf("events from %s: %d", n.id, st)
		}
		for _, e := range page.Events {
			if e.Type == "session.ended" {
				out = append(out, e)
			}
		}
		if len(page.Events) == 0 {
			return out
		}
		after = page.Next
	}
}

// TestEvents_WebhookThroughFailover (issue 27): logouts keep coming while
// the leader is killed (kill -9), while the receiver is down for a run of
// them, and while the new leader is cut off (SIGSTOP: it stops answering
// anyone, as a partition would, until SIGCONT). Every acknowledged
// revocation reaches the receiver at least once, verified by the
// Standard Webhooks library, in index order with no gap; and every
// node's own event stream holds them all, in the same order.
func TestEvents_WebhookThroughFailover(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, "--webhook-allow-private")
	all := client.New([]string{nodes[0].apiURL, nodes[1].apiURL, nodes[2].apiURL}, client.WithAttemptTimeout(2*time.Second))
	admin := login(t, nodes[1].client(), "admin", adminPassword)
	if _, err := nodes[1].client().CreateUser(ctxT(t, 10*time.Second), admin.Token, client.NewUser{Login: "alice", Password: "alice-password-1"}); err != nil {
		t.Fatal(err)
	}

	rc := &hookReceiver{addr: "127.0.0.1:0"}
	rc.start(t)
	t.Cleanup(rc.stop)
	var created struct {
		ID     string `json:"id"`
		Secret string `json:"secret"`
		Cursor string `json:"cursor"`
	}
	if st := apiCall(t, "POST", nodes[1].apiURL+"/v1/webhooks", admin.Token,
		map[string]any{"url": "http://" + rc.addr + "/hook", "events": []string{"session.ended"}}, &created); st != 201 {
		t.Fatalf("create webhook: %d", st)
	}
	wh, err := standardwebhooks.NewWebhook(created.Secret)
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.verify = wh
	rc.mu.Unlock()

	// Sessions to end: 3 phases of 15 logouts.
	const perPhase = 15
	tokens := make([]*client.LoginResponse, 3*perPhase)
	for i := range tokens {
		tokens[i] = login(t, all, "alice", "alice-password-1")
	}
	var acked []string // session ids whose logout was acknowledged
	var ackMu sync.Mutex
	logout := func(from, to int) {
		for _, l := range tokens[from:to] {
			if err := all.Logout(ctxT(t, 20*time.Second), l.Token); err == nil {
				ackMu.Lock()
				acked = append(acked, l.Session.ID)
				ackMu.Unlock()
			}
		}
	}
	leader := func(among []*node) *node {
		var l *node
		eventually(t, waitLong, "an agreed leader", func() (err error) { l, err = leaderOf(t, among); return err })
		return l
	}

	// Phase 1: kill -9 the leader in the middle of a burst of logouts.
	old := leader(nodes)
	var survivors []*node
	for _, n := range nodes {
		if n != old {
			survivors = append(survivors, n)
		}
	}
	var burst sync.WaitGroup
	var half atomic.Bool
	burst.Add(1)
	go func() {
		defer burst.Done()
		logout(0, perPhase/2)
		half.Store(true)
		logout(perPhase/2, perPhase)
	}()
	eventually(t, waitLong, "half the burst", func() error {
		if !half.Load() {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	old.Kill()
	burst.Wait()

	// Phase 2: the receiver is down for a run of logouts, then comes back
	// on the same address.
	rc.stop()
	logout(perPhase, 2*perPhase)
	rc.start(t)

	// Phase 3: the new leader is cut off (SIGSTOP) while logouts go on
	// through the others; then it comes back (SIGCONT) and is deposed.
	cut := leader(survivors)
	if err := cut.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	others := []string{}
	for _, n := range survivors {
		if n != cut {
			others = append(others, n.apiURL)
		}
	}
	old.restart() // the killed node returns, so a majority exists without the cut one
	others = append(others, old.apiURL)
	cutOff := client.New(others, client.WithAttemptTimeout(2*time.Second))
	for _, l := range tokens[2*perPhase:] {
		if err := cutOff.Logout(ctxT(t, 20*time.Second), l.Token); err == nil {
			acked = append(acked, l.Session.ID)
		}
	}
	if err := cut.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if len(acked) < 3*perPhase-5 {
		t.Fatalf("only %d of %d logouts acknowledged", len(acked), 3*perPhase)
	}

	// Every acknowledged revocation is delivered.
	want := map[string]bool{}
	for _, id := range acked {
		want[id] = true
	}
	eventually(t, waitLong, "every acknowledged revocation delivered", func() error {
		seen := map[string]bool{}
		for _, e := range rc.events() {
			seen[e.SessionID] = true
		}
		missing := 0
		for id := range want {
			if !seen[id] {
				missing++
			}
		}
		if missing > 0 {
			return fmt.Errorf("%d of %d not delivered yet", missing, len(want))
		}
		return nil
	})

	// In index order, no gap: what was delivered, without repeats, is the
	// stream every node holds after the subscription's start; a repeat
	// only ever goes back (a resend after failover).
	got := rc.events()
	var uniq []wireEvent
	seen := map[string]bool{}
	dups := 0
	var hi [2]uint64
	for _, e := range got {
		if seen[e.ID] {
			dups++
			continue
		}
		if k := eventKey(e.ID); keyLess(k, hi) {
			t.Fatalf("new event %s delivered after %v: out of order", e.ID, hi)
		} else {
			hi = k
		}
		seen[e.ID] = true
		uniq = append(uniq, e)
	}
	waitReady(t, nodes...)
	for _, n := range nodes {
		var stream []wireEvent
		eventually(t, waitLong, n.id+"'s stream caught up", func() error {
			stream = streamOf(t, n, admin.Token, created.Cursor)
			if len(stream) < len(uniq) {
				return fmt.Errorf("%d events, %d delivered", len(stream), len(uniq))
			}
			return nil
		})
		if len(stream) != len(uniq) {
			t.Fatalf("%s's stream has %d events, the receiver %d distinct: a gap", n.id, len(stream), len(uniq))
		}
		for i := range stream {
			if stream[i] != uniq[i] {
				t.Fatalf("%s: event %d is %+v, delivered %+v", n.id, i, stream[i], uniq[i])
			}
		}
	}
	rc.mu.Lock()
	bad, calls := rc.bad, rc.calls
	rc.mu.Unlock()
	if bad != 0 {
		t.Fatalf("%d of %d calls failed signature verification", bad, calls)
	}
	// The CLI lists the subscription with its committed cursor.
	out, err := runCLI(t, cleanEnv("SESSIOND_ADMIN_PASSWORD="+adminPassword, "SESSIOND_ADDR="+nodes[1].apiURL), "", "webhooks", "list")
	if err != nil || !strings.Contains(out, created.ID) || !strings.Contains(out, "active") {
		t.Fatalf("webhooks list: %v\n%s", err, out)
	}
	t.Logf("events: %d acknowledged revocations, %d delivered distinct, %d duplicates, 0 gaps, %d calls", len(acked), len(uniq), dups, calls)
}
