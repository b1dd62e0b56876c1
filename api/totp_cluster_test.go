package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
)

// joinTestEnv starts a real node (127.0.0.1:0) that joins first's
// cluster instead of bootstrapping its own, serves its API, and returns
// once it holds the seeded state.
func joinTestEnv(t *testing.T, first *testEnv, id string, opts ...envOpt) *testEnv {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	noBoot := func(c *cluster.Config, _ *auth.ServiceConfig, _ *Config) { c.Bootstrap = false }
	tn := startTestNode(t, id, "http://"+ln.Addr().String(), append(opts, noBoot)...)
	hs := httptest.NewUnstartedServer(tn.srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tn.node.JoinVia(ctx, first.URL, false); err != nil {
		t.Fatalf("join %s: %v", id, err)
	}
	tn.waitSeeded(t)
	return &testEnv{t: t, node: tn.node, svc: tn.svc, srv: tn.srv, http: hs, URL: hs.URL, now: tn.acfg.Now, admin: first.admin}
}

// oneUseModel is a TOTP account as the log must behave: a use of step s
// succeeds iff no use of s or a later step succeeded before it.
var oneUseModel = porcupine.Model{
	Init: func() any { return int64(0) },
	Step: func(state, input, output any) (bool, any) {
		last, step, ok := state.(int64), input.(int64), output.(bool)
		if ok {
			return step > last, step
		}
		return step <= last, last
	},
}

// TestTOTP_SameCodeTwoNodesOnceCluster sends the same code to two nodes
// of a three-node cluster at the same instant, round after round (a
// shared fake clock moves one step per round): exactly one of the two
// logins succeeds each time, the code replayed on the third node after
// that is refused, and the whole history is linearizable against a
// one-use-per-step model (porcupine).
func TestTOTP_SameCodeTwoNodesOnceCluster(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	opt := func(_ *cluster.Config, a *auth.ServiceConfig, c *Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		a.Now = clock
		a.Limiter.Burst = 100000
	}
	a := newTestEnv(t, opt)
	b := joinTestEnv(t, a, "t2", opt)
	c := joinTestEnv(t, a, "t3", opt)
	a.createUser("eve", "eve-password-123", nil)
	waitFor(t, "eve on every node", func() bool {
		_, okB := b.node.FSM().State().UserByLogin("sessiond", "eve")
		_, okC := c.node.FSM().State().UserByLogin("sessiond", "eve")
		return okB && okC
	})
	secret, _ := a.enrolTOTP(a.login("eve", "eve-password-123"), clock())

	rounds := 40
	if testing.Short() {
		rounds = 8
	}
	var (
		mu      sync.Mutex
		history []porcupine.Operation
		start   = time.Now()
	)
	stamp := func() int64 { return int64(time.Since(start)) }
	login := func(e *testEnv, client int, step int64, code string) bool {
		call := stamp()
		r := e.do("POST", "/v1/login", map[string]string{"login": "eve", "password": "eve-password-123", "otp": code}, from("198.51.100.77"))
		ret := stamp()
		ok := r.Status == http.StatusCreated
		if !ok && errCode(t, r) != "bad_second_factor" {
			t.Errorf("node %d: %d %s", client, r.Status, r.Body)
		}
		mu.Lock()
		history = append(history, porcupine.Operation{ClientId: client, Input: step, Call: call, Output: ok, Return: ret})
		mu.Unlock()
		return ok
	}
	attempts, successes := 0, 0
	for round := 0; round < rounds; round++ {
		now.Add(int64(30 * time.Second))
		step := clock().Unix() / 30
		code := totpCode(t, secret, clock())
		var wg sync.WaitGroup
		var won atomic.Int32
		gate := make(chan struct{})
		for i, e := range []*testEnv{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				if login(e, i, step, code) {
					won.Add(1)
				}
			}()
		}
		close(gate)
		wg.Wait()
		attempts += 2
		successes += int(won.Load())
		if won.Load() != 1 {
			t.Fatalf("round %d: %d of 2 simultaneous logins with one code succeeded, want exactly 1", round, won.Load())
		}
		attempts++
		if login(c, 2, step, code) {
			t.Fatalf("round %d: the code replayed on a third node was accepted", round)
		}
	}
	t.Logf("%d rounds: %d attempts, %d successes (1 per code)", rounds, attempts, successes)
	if res := porcupine.CheckOperations(oneUseModel, history); !res {
		t.Fatal("history is not linearizable against one use per step")
	}
}
