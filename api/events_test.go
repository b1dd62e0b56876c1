package api

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
	"github.com/sessiond/sessiond/internal/webhook"
)

// withWebhooks lets webhooks reach the test's loopback receivers and
// retries fast.
func withWebhooks(pauseAfter time.Duration) envOpt {
	return func(_ *cluster.Config, _ *auth.ServiceConfig, c *Config) {
		c.Webhooks.AllowPrivate = true
		c.Webhooks.BackoffMin, c.Webhooks.BackoffMax = 20*time.Millisecond, 100*time.Millisecond
		c.Webhooks.CommitEvery = 50 * time.Millisecond
		c.Webhooks.PauseAfter = pauseAfter
	}
}

// receiver is a real HTTP server that verifies every Standard Webhooks
// call with the reference library (not sessiond's signing code) and
// records the events in arrival order. Failing makes it answer 503.
type receiver struct {
	t      *testing.T
	hs     *httptest.Server
	mu     sync.Mutex
	verify *standardwebhooks.Webhook
	got    []fsm.Event
	bad    int
	fail   bool
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.hs = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.hs.Close)
	return rc
}

func (rc *receiver) setSecret(secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		rc.t.Fatal(err)
	}
	rc.mu.Lock()
	rc.verify = wh
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if rc.verify == nil || rc.verify.Verify(body, r.Header) != nil {
		rc.bad++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Type != webhook.PayloadType {
		rc.bad++
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, p.Data.Events...)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) setFail(f bool) { rc.mu.Lock(); rc.fail = f; rc.mu.Unlock() }

func (rc *receiver) events() []fsm.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]fsm.Event(nil), rc.got...)
}

// wantDelivered waits until rc holds every event of want (by id), then
// checks at-least-once, index order (duplicates only as a repeated run),
// no gaps and no bad signature.
func wantDelivered(t *testing.T, rc *receiver, want []fsm.Event) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events delivered", len(want)), func() bool {
		seen := map[fsm.EventID]bool{}
		for _, e := range rc.events() {
			seen[e.ID] = true
		}
		for _, e := range want {
			if !seen[e.ID] {
				return false
			}
		}
		return true
	})
	checkOrder(t, rc.events(), want)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.bad != 0 {
		t.Fatalf("%d calls failed verification", rc.bad)
	}
}

// checkOrder: got, with repeats removed, must be want exactly (no gap, no
// stranger), and a repeat may only go back (a resend after a failover),
// never skip ahead.
func checkOrder(t *testing.T, got, want []fsm.Event) (dups int) {
	t.Helper()
	var uniq []fsm.Event
	var hi fsm.EventID
	seen := map[fsm.EventID]bool{}
	for _, e := range got {
		if seen[e.ID] {
			dups++
			continue
		}
		if len(uniq) > 0 && e.ID.Less(hi) {
			t.Fatalf("new event %s after %s: out of order", e.ID, hi)
		}
		seen[e.ID], hi = true, e.ID
		uniq = append(uniq, e)
	}
	if len(uniq) != len(want) {
		t.Fatalf("delivered %d distinct events, want %d", len(uniq), len(want))
	}
	for i := range want {
		if uniq[i].ID != want[i].ID || uniq[i].Type != want[i].Type || uniq[i].SessionID != want[i].SessionID {
			t.Fatalf("event %d: got %+v, want %+v", i, uniq[i], want[i])
		}
	}
	return dups
}

// nodeEvents is what the node's log holds after `after` that w takes.
func nodeEvents(t *testing.T, e *testEnv, w *fsm.Webhook, after fsm.EventID) []fsm.Event {
	t.Helper()
	evs, _, err := e.node.FSM().State().EventsAfter(after, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var out []fsm.Event
	for i := range evs {
		if w.Wants(&evs[i]) {
			out = append(out, evs[i])
		}
	}
	return out
}

func (e *testEnv) createWebhook(body map[string]any) (id, secret string) {
	e.t.Helper()
	r := e.do("POST", "/v1/webhooks", body, bearerH(e.admin))
	if r.Status != http.StatusCreated {
		e.t.Fatalf("create webhook: %d %s", r.Status, r.Body)
	}
	m := r.json(e.t)
	return m["id"].(string), m["secret"].(string)
}

// TestWebhooks_LogoutsDeliveredSignedInOrder: logins and logouts reach a
// real receiver, verified by the Standard Webhooks library, in index
// order, each once, none missing; a receiver stopped for a run of
// logouts and brought back on the same address gets every one of them.
func TestWebhooks_LogoutsDeliveredSignedInOrder(t *testing.T) {
	e := newTestEnv(t, withWebhooks(time.Hour))
	rc := newReceiver(t)
	id, secret := e.createWebhook(map[string]any{"url": rc.hs.URL + "/hook", "events": []string{"session.created", "session.ended"}})
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("secret %q", secret)
	}
	rc.setSecret(secret)
	w, _ := e.svc.Webhook(id)
	start := w.Cursor
	e.createUser("ann", "ann-password-1", nil)
	for i := 0; i < 10; i++ {
		tok := e.login("ann", "ann-password-1")
		if r := e.do("POST", "/v1/logout", nil, bearerH(tok)); r.Status != http.StatusNoContent && r.Status != http.StatusOK {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
	}
	wantDelivered(t, rc, nodeEvents(t, e, w, start))

	// Stop the receiver (its address refuses connections), log out N more
	// times, bring it back on the same address.
	addr := rc.hs.Listener.Addr().String()
	rc.hs.Close()
	for i := 0; i < 8; i++ {
		tok := e.login("ann", "ann-password-1")
		e.do("POST", "/v1/logout", nil, bearerH(tok))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	back := &http.Server{Handler: http.HandlerFunc(rc.serve)}
	go back.Serve(ln)
	t.Cleanup(func() { back.Close() })
	wantDelivered(t, rc, nodeEvents(t, e, w, start))
	// The cursor is committed: the replicated state says how far it got.
	waitFor(t, "cursor committed", func() bool {
		w, _ := e.svc.Webhook(id)
		_, _, last := e.node.FSM().State().EventBounds()
		return !w.Cursor.Less(last)
	})
	// The secret is in the state only sealed or as raw bytes, never in its
	// whsec_ form, and no answer lists it.
	if r := e.do("GET", "/v1/webhooks/"+id, nil, bearerH(e.admin)); strings.Contains(string(r.Body), "whsec_") || r.Status != 200 {
		t.Fatalf("GET webhook: %d %s", r.Status, r.Body)
	}
}

// TestWebhooks_PausedAfterFailingThenResumed: a receiver that keeps
// failing gets its subscription paused (reported, not dropped); fixed
// and unpaused, it receives everything from the cursor on.
func TestWebhooks_PausedAfterFailingThenResumed(t *testing.T) {
	e := newTestEnv(t, withWebhooks(300*time.Millisecond))
	rc := newReceiver(t)
	rc.setFail(true)
	id, secret := e.createWebhook(map[string]any{"url": rc.hs.URL})
	rc.setSecret(secret)
	w, _ := e.svc.Webhook(id)
	start := w.Cursor
	e.createUser("bea", "bea-password-1", nil)
	tok := e.login("bea", "bea-password-1")
	e.do("POST", "/v1/logout", nil, bearerH(tok))
	waitFor(t, "the subscription paused", func() bool { w, _ := e.svc.Webhook(id); return w.Paused })
	m := e.do("GET", "/v1/webhooks/"+id, nil, bearerH(e.admin)).json(t)
	if m["paused"] != true || !strings.Contains(m["pause_reason"].(string), "failing since") {
		t.Fatalf("paused webhook shows %v", m)
	}
	if got := metricValue(t, e, `sessiond_webhook_pauses_total{webhook="`+id+`"}`); got != "1" {
		t.Fatalf("pauses metric %q", got)
	}
	rc.setFail(false)
	if r := e.do("PATCH", "/v1/webhooks/"+id, map[string]any{"paused": false}, bearerH(e.admin)); r.Status != 200 {
		t.Fatalf("unpause: %d %s", r.Status, r.Body)
	}
	wantDelivered(t, rc, nodeEvents(t, e, w, start))
}

// metricValue scrapes the node's registry for one sample.
func metricValue(t *testing.T, e *testEnv, series string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(e.srv.Registry(), promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, series+" ") {
			return strings.TrimPrefix(line, series+" ")
		}
	}
	return ""
}

// TestWebhooks_BadInput: a URL that is not absolute, not http(s),
// private without the flag, or huge, and an unknown event type, are
// refused with a clear error and change nothing; an admin cannot
// subscribe to another db.
func TestWebhooks_BadInput(t *testing.T) {
	e := newTestEnv(t) // no --webhook-allow-private
	for name, body := range map[string]map[string]any{
		"relative":   {"url": "/hook"},
		"ftp":        {"url": "ftp://example.com/hook"},
		"loopback":   {"url": "http://127.0.0.1:9/hook"},
		"localhost":  {"url": "http://localhost:9/hook"},
		"private":    {"url": "https://10.1.2.3/hook"},
		"link-local": {"url": "http://169.254.169.254/latest/meta-data"},
		"v6 mapped":  {"url": "http://[::ffff:127.0.0.1]/"},
		"userinfo":   {"url": "https://u:p@example.com/"},
		"huge":       {"url": "https://example.com/" + strings.Repeat("a", 3000)},
		"event type": {"url": "https://203.0.113.9/hook", "events": []string{"session.exploded"}},
		"no url":     {"events": []string{"session.ended"}},
	} {
		r := e.do("POST", "/v1/webhooks", body, bearerH(e.admin))
		if r.Status != http.StatusBadRequest && r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
	}
	e.createUser("t2admin", "t2admin-password", map[string]any{"db": "tenant2", "admin": true})
	r := e.do("POST", "/v1/login", map[string]string{"db": "tenant2", "login": "t2admin", "password": "t2admin-password"})
	t2 := r.json(t)["token"].(string)
	if r := e.do("POST", "/v1/webhooks", map[string]any{"url": "https://203.0.113.9/h", "db": "sessiond"}, bearerH(t2)); r.Status != http.StatusForbidden {
		t.Errorf("another db's webhook: %d %s", r.Status, r.Body)
	}
	if n := len(e.svc.Webhooks()); n != 0 {
		t.Fatalf("refused requests left %d webhooks", n)
	}
	// A tenant admin's own subscription is bound to its db; the operator
	// sees it, another tenant does not.
	r = e.do("POST", "/v1/webhooks", map[string]any{"url": "https://203.0.113.9/h"}, bearerH(t2))
	if r.Status != http.StatusCreated || r.json(t)["db"] != "tenant2" {
		t.Fatalf("tenant webhook: %d %s", r.Status, r.Body)
	}
	if l := e.do("GET", "/v1/webhooks", nil, bearerH(e.admin)).json(t)["webhooks"].([]any); len(l) != 1 {
		t.Fatalf("operator lists %v", l)
	}
}

// TestEvents_LongPollSSEAndGone: the stream answers what the log holds,
// waits for the next event, streams SSE resumable by Last-Event-ID, and
// refuses a bad, future or forgotten after.
func TestEvents_LongPollSSEAndGone(t *testing.T) {
	e := newTestEnv(t)
	e.createUser("cy", "cy-password-12", nil)
	tok := e.login("cy", "cy-password-12")
	r := e.do("GET", "/v1/events?after=0&timeout=0", nil, bearerH(e.admin))
	var page struct {
		Events []fsm.Event `json:"events"`
		Next   string      `json:"next"`
	}
	if err := json.Unmarshal(r.Body, &page); err != nil || r.Status != 200 || len(page.Events) == 0 {
		t.Fatalf("events: %d %s", r.Status, r.Body)
	}
	if strings.Contains(string(r.Body), "digest") || strings.Contains(string(r.Body), tok) {
		t.Fatal("an event carries a token or digest")
	}
	// Long poll: a logout during the wait ends it with the logout's event.
	done := make(chan resp, 1)
	go func() { done <- e.do("GET", "/v1/events?after="+page.Next+"&timeout=20", nil, bearerH(e.admin)) }()
	time.Sleep(50 * time.Millisecond) // let the poll start waiting; the test holds either way
	e.do("POST", "/v1/logout", nil, bearerH(tok))
	select {
	case r := <-done:
		if !strings.Contains(string(r.Body), `"reason":"logout"`) {
			t.Fatalf("long poll answered %d %s", r.Status, r.Body)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("long poll not woken by the logout")
	}

	// SSE from the start; then resume after the first with Last-Event-ID.
	ids := sse(t, e, "", 2)
	if len(ids) != 2 {
		t.Fatalf("sse ids %v", ids)
	}
	if again := sse(t, e, ids[0], 1); again[0] != ids[1] {
		t.Fatalf("resumed after %s at %s, want %s", ids[0], again[0], ids[1])
	}

	for q, want := range map[string]int{"after=x": 400, "after=1.x": 400, "after=99999999": 400, "timeout=61": 400, "limit=0": 400} {
		if r := e.do("GET", "/v1/events?"+q, nil, bearerH(e.admin)); r.Status != want {
			t.Errorf("%s: %d %s", q, r.Status, r.Body)
		}
	}
	fsm.SetEventRetention(1)
	defer fsm.SetEventRetention(fsm.DefaultEventRetention)
	e.login("cy", "cy-password-12")
	e.login("cy", "cy-password-12")
	r = e.do("GET", "/v1/events?after=1", nil, bearerH(e.admin))
	if r.Status != http.StatusGone || r.json(t)["oldest_id"] == "" {
		t.Fatalf("forgotten after: %d %s", r.Status, r.Body)
	}
}

// sse reads n events from the stream (after lastID when set) and returns
// their ids.
func sse(t *testing.T, e *testEnv, lastID string, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", e.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.admin)
	req.Header.Set("Accept", "text/event-stream")
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var ids []string
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() && len(ids) < n {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestBackchannelLogout_TokenVerifiesWithJWKS: a service client with a
// backchannel_logout_uri receives, per ended session, a logout_token that
// go-jose verifies against the JWKS sessiond serves, with the claims of
// OpenID Connect Back-Channel Logout 1.0.
func TestBackchannelLogout_TokenVerifiesWithJWKS(t *testing.T) {
	e := newTestEnv(t, withWebhooks(time.Hour))
	if _, err := e.svc.AddKey(context.Background(), auth.AlgEdDSA, false); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var tokens []string
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" || r.ParseForm() != nil {
			w.WriteHeader(400)
			return
		}
		mu.Lock()
		tokens = append(tokens, r.PostForm.Get("logout_token"))
		mu.Unlock()
	}))
	t.Cleanup(rp.Close)
	r := e.do("POST", "/v1/clients", map[string]any{"name": "rp", "backchannel_logout_uri": rp.URL + "/bcl"}, bearerH(e.admin))
	if r.Status != http.StatusCreated {
		t.Fatalf("client: %d %s", r.Status, r.Body)
	}
	clientID := r.json(t)["id"].(string)
	uid := e.createUser("dee", "dee-password-1", nil)
	tok := e.login("dee", "dee-password-1")
	e.do("POST", "/v1/logout", nil, bearerH(tok))
	_, _, last := e.node.FSM().State().EventBounds()
	ended, _, _ := e.node.FSM().State().EventsAfter(fsm.EventID{Index: last.Index - 1}, 1)
	if len(ended) != 1 || ended[0].Type != fsm.EventSessionEnded {
		t.Fatalf("last event %+v", ended)
	}
	sid := ended[0].SessionID
	waitFor(t, "a logout token", func() bool { mu.Lock(); defer mu.Unlock(); return len(tokens) > 0 })

	var jwks jose.JSONWebKeySet
	if err := json.Unmarshal(e.do("GET", "/.well-known/jwks.json", nil).Body, &jwks); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	raw := tokens[0]
	mu.Unlock()
	parsed, err := josejwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256, jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	h := parsed.Headers[0]
	if h.ExtraHeaders["typ"] != "logout+jwt" {
		t.Fatalf("typ %v", h.ExtraHeaders)
	}
	keys := jwks.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %s not in the JWKS", h.KeyID)
	}
	var std josejwt.Claims
	var extra struct {
		Sid    string                    `json:"sid"`
		Events map[string]map[string]any `json:"events"`
		Nonce  *string                   `json:"nonce"`
	}
	if err := parsed.Claims(keys[0].Key, &std, &extra); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := std.Validate(josejwt.Expected{Issuer: e.srv.issuer(), AnyAudience: []string{clientID}, Subject: fmt.Sprint(uid), Time: time.Now()}); err != nil {
		t.Fatalf("claims: %v (%+v)", err, std)
	}
	if std.ID == "" || std.IssuedAt == nil || std.Expiry.Time().Sub(std.IssuedAt.Time()) > 2*time.Minute {
		t.Fatalf("jti/iat/exp: %+v", std)
	}
	if _, ok := extra.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok || extra.Nonce != nil {
		t.Fatalf("events/nonce: %+v", extra)
	}
	if extra.Sid != sid || sid == "" {
		t.Fatalf("sid %q, want %q", extra.Sid, sid)
	}
}
