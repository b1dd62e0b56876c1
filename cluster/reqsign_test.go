package cluster

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

// keyForms are the ways the cluster key, or a key derived from it, could
// show up in captured traffic.
func keyForms(key string) []string {
	var out []string
	for _, k := range [][]byte{[]byte(key), reqsign.Key(key), streamProofKey(key, "client"), streamProofKey(key, "server")} {
		out = append(out, string(k), hex.EncodeToString(k), strings.ToUpper(hex.EncodeToString(k)),
			base64.StdEncoding.EncodeToString(k), base64.RawStdEncoding.EncodeToString(k),
			base64.URLEncoding.EncodeToString(k), base64.RawURLEncoding.EncodeToString(k))
	}
	return out
}

// streamProofKey derives the Raft stream's proof keys the way
// transport/streamauth.go does, from the outside.
func streamProofKey(key, side string) []byte {
	k, err := hkdf.Key(sha256.New, []byte(key), nil, "sessiond/v1/raft-stream/"+side+"-proof", 32)
	if err != nil {
		panic(err)
	}
	return k
}

// A forged PutNode (finding C1) points the leader's recorded API URL at a
// fake. Calls between members no longer follow recorded API URLs: they go
// to Raft addresses over the authenticated channel (finding N2), so the
// follower's forwarded calls reach the real leader and succeed, and the
// fake gets nothing from them. A join pointed at the fake sends it only
// the signed question for its Raft address. Nothing it captures carries
// the key or anything derived from it.
func TestReqSign_FakeLeaderLearnsNoKey(t *testing.T) {
	var mu sync.Mutex
	var seen bytes.Buffer
	paths := map[string]bool{}
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, _ := httputil.DumpRequest(r, true)
		mu.Lock()
		seen.Write(dump)
		if r.Header.Get(reqsign.Header) != "" {
			paths[r.URL.Path] = true
		}
		mu.Unlock()
		w.WriteHeader(http.StatusBadRequest) // not retryable: one capture per call
		io.WriteString(w, `{"error":{"code":"bad_request","message":"captured"}}`)
	}))
	defer fake.Close()

	c := newTestCluster(t, 2, quiet)
	leader, follower := c.waitLeader(), c.followers()[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := leader.Apply(ctx, &fsm.PutNode{Node: fsm.Node{ID: leader.id, RaftAddr: leader.raftAddr, APIAddr: fake.URL}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the follower to see the forged leader URL", func() bool { return follower.LeaderURL() == fake.URL })

	if _, err := follower.Apply(ctx, &fsm.CreateDB{Name: "after-forgery"}); err != nil {
		t.Errorf("apply through the follower: %v", err)
	}
	if err := follower.ReadBarrier(ctx, Consistent, false); err != nil {
		t.Errorf("read index through the follower: %v", err)
	}
	jctx, jcancel := context.WithTimeout(ctx, 2*time.Second)
	defer jcancel()
	if err := follower.JoinVia(jctx, fake.URL, false); err == nil {
		t.Error("a join via the fake succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	for p := range paths {
		if p != "/internal/v1/raftaddr" {
			t.Errorf("the fake leader got a signed %s", p)
		}
	}
	got := seen.String()
	if strings.Contains(strings.ToLower(got), strings.ToLower(KeyHeader)) {
		t.Error("a request carried the cluster key header")
	}
	for _, f := range keyForms(testKey) {
		if strings.Contains(got, f) {
			t.Fatalf("captured traffic contains the key (or a derived key) as %q", f)
		}
	}
}

// signedReq builds a signed internal call to n, addressed to n.
func signedReq(t *testing.T, n *testNode, path string, body []byte, at time.Time, key []byte) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.cfg.APIURL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	reqsign.SignSum(req, key, n.id, sha256.Sum256(body), at)
	return req
}

// resend sends a copy of a captured request: same headers, same body.
func resend(t *testing.T, req *http.Request, body []byte) int {
	t.Helper()
	r2, _ := http.NewRequest(req.Method, req.URL.String(), bytes.NewReader(body))
	r2.Header = req.Header.Clone()
	resp, err := http.DefaultClient.Do(r2)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func reqFailures(n *testNode, reason string) float64 {
	return testutil.ToFloat64(n.auth.reqFailures.WithLabelValues(reason))
}

func TestReqSign_ReplayAndWindow(t *testing.T) {
	c := newTestCluster(t, 1, quiet)
	n := c.nodes[0]
	key := reqsign.Key(testKey)
	now := time.Now()

	captured := signedReq(t, n, "/internal/v1/readindex", nil, now, key)
	if code := resend(t, captured, nil); code != http.StatusOK {
		t.Fatalf("signed call: status %d", code)
	}
	if code := resend(t, captured, nil); code != http.StatusForbidden || reqFailures(n, "replay") != 1 {
		t.Fatalf("replay inside the window: status %d, replay count %v", code, reqFailures(n, "replay"))
	}
	for _, at := range []time.Time{now.Add(-reqsign.Window - 2*time.Second), now.Add(reqsign.Window + 2*time.Second)} {
		if code := resend(t, signedReq(t, n, "/internal/v1/readindex", nil, at, key), nil); code != http.StatusForbidden {
			t.Fatalf("timestamp %v off: status %d", at.Sub(now), code)
		}
	}
	if reqFailures(n, "stale") != 2 {
		t.Fatalf("stale count %v", reqFailures(n, "stale"))
	}

	// The captured call replayed once the window has passed, on a guard
	// whose clock has moved on (a fresh guard: no data race with the
	// node's handlers).
	later := newReqGuard(n.Node)
	later.now = func() time.Time { return now.Add(reqsign.Window + time.Second) }
	r := httptest.NewRequest(captured.Method, captured.URL.RequestURI(), nil)
	r.Header = captured.Header.Clone()
	rec := httptest.NewRecorder()
	if _, _, ok := later.admit(rec, r, maxInternalBody); ok || rec.Code != http.StatusForbidden {
		t.Fatalf("replay after the window: admitted=%v status %d", ok, rec.Code)
	}

	// A signed body cannot be swapped, another key does not sign, and the
	// raw key itself is refused outright.
	body := []byte(`{"id":"x"}`)
	tampered := signedReq(t, n, "/internal/v1/remove", body, now, key)
	if code := resend(t, tampered, []byte(`{"id":"n1"}`)); code != http.StatusForbidden {
		t.Fatalf("tampered body: status %d", code)
	}
	if code := resend(t, signedReq(t, n, "/internal/v1/readindex", nil, now, reqsign.Key("another-key-0123456789")), nil); code != http.StatusForbidden {
		t.Fatalf("wrong key: status %d", code)
	}
	raw, _ := http.NewRequest(http.MethodPost, n.cfg.APIURL+"/internal/v1/readindex", nil)
	raw.Header.Set(KeyHeader, testKey)
	if code := resend(t, raw, nil); code != http.StatusForbidden || reqFailures(n, "raw_key") != 1 {
		t.Fatalf("raw key: status %d, count %v", code, reqFailures(n, "raw_key"))
	}
	if reqFailures(n, "bad_signature") != 2 {
		t.Fatalf("bad signature count %v", reqFailures(n, "bad_signature"))
	}
}

// Failed attempts are throttled per address: after the burst, even a valid
// call from that address waits.
func TestReqSign_FailuresThrottled(t *testing.T) {
	c := newTestCluster(t, 1, quiet)
	n := c.nodes[0]
	bad := reqsign.Key("guess-0123456789abcdef")
	for i := 0; i < throttleBurst; i++ {
		if code := resend(t, signedReq(t, n, "/internal/v1/readindex", nil, time.Now(), bad), nil); code != http.StatusForbidden {
			t.Fatalf("guess %d: status %d", i, code)
		}
	}
	good := signedReq(t, n, "/internal/v1/readindex", nil, time.Now(), reqsign.Key(testKey))
	if code := resend(t, good, nil); code != http.StatusTooManyRequests || reqFailures(n, "throttled") != 1 {
		t.Fatalf("after %d failures: status %d, throttled %v", throttleBurst, code, reqFailures(n, "throttled"))
	}
}

// KeyGate lets signed operator calls reach the cluster-key routes, and
// nothing else: not the raw key, not a guessed capability token.
func TestReqSign_KeyGate(t *testing.T) {
	c := newTestCluster(t, 1, quiet)
	n := c.nodes[0]
	type seen struct {
		ok  bool
		sum [32]byte
	}
	got := make(chan seen, 1)
	gate := httptest.NewServer(n.KeyGate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get(KeyHeader) != "" {
			t.Error("a capability reached the handler in a header")
		}
		got <- seen{KeyVerified(r.Context()), sha256.Sum256(b)}
	})))
	defer gate.Close()
	do := func(req *http.Request) (int, *seen) {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		select {
		case s := <-got:
			return resp.StatusCode, &s
		default:
			return resp.StatusCode, nil
		}
	}
	key := reqsign.Key(testKey)
	big := bytes.Repeat([]byte("0123456789abcdef"), 3<<16) // 3 MiB: spooled to disk
	req, _ := http.NewRequest(http.MethodPost, gate.URL+"/v1/cluster/restore", bytes.NewReader(big))
	if err := reqsign.Sign(req, key, n.id); err != nil {
		t.Fatal(err)
	}
	if code, s := do(req); code != http.StatusOK || s == nil || !s.ok || s.sum != sha256.Sum256(big) {
		t.Fatalf("signed restore: status %d, handler saw %+v", code, s)
	}
	plain, _ := http.NewRequest(http.MethodGet, gate.URL+"/v1/cluster/snapshot", nil)
	if code, s := do(plain); code != http.StatusOK || s == nil || s.ok {
		t.Fatalf("unsigned call: status %d, handler saw %+v", code, s)
	}
	for _, v := range []string{testKey, "true"} {
		r, _ := http.NewRequest(http.MethodGet, gate.URL+"/v1/cluster/snapshot", nil)
		r.Header.Set(KeyHeader, v)
		if code, s := do(r); code != http.StatusForbidden || s != nil {
			t.Fatalf("key header %q: status %d, handler reached: %v", v[:4], code, s != nil)
		}
	}
}

// TestReqSign_CapturedCallAcceptedOnce is finding N8's attack: a signed
// call made to node A is captured and replayed to member B, then to A
// again. B refuses it (it names A), A refuses the second copy (replay),
// and a call naming no node, or the old unaddressed format, is refused
// everywhere.
func TestReqSign_CapturedCallAcceptedOnce(t *testing.T) {
	c := newTestCluster(t, 2, quiet)
	a, b := c.nodes[0], c.nodes[1]
	key := reqsign.Key(testKey)
	captured := signedReq(t, a, "/internal/v1/readindex", nil, time.Now(), key)
	toB, _ := http.NewRequest(captured.Method, b.cfg.APIURL+captured.URL.RequestURI(), nil)
	toB.Header = captured.Header.Clone()
	if code := resend(t, toB, nil); code != http.StatusForbidden || reqFailures(b, "wrong_target") != 1 {
		t.Fatalf("A's call replayed to B: status %d, wrong_target %v", code, reqFailures(b, "wrong_target"))
	}
	if code := resend(t, captured, nil); code != http.StatusOK {
		t.Fatalf("the call to A itself: status %d", code)
	}
	if code := resend(t, captured, nil); code != http.StatusForbidden || reqFailures(a, "replay") != 1 {
		t.Fatalf("A's call replayed to A: status %d, replay %v", code, reqFailures(a, "replay"))
	}
	// The signed node id cannot be swapped for B's: the MAC covers it.
	swapped := toB.Header.Get(reqsign.Header)
	swapped = strings.Replace(swapped, "d="+a.id, "d="+b.id, 1)
	toB.Header.Set(reqsign.Header, swapped)
	if code := resend(t, toB, nil); code != http.StatusForbidden || reqFailures(b, "bad_signature") != 1 {
		t.Fatalf("target rewritten to B: status %d, bad_signature %v", code, reqFailures(b, "bad_signature"))
	}
	// The previous release's format (no target), which signers still
	// add for old nodes during an upgrade, is not accepted on its own:
	// the legacy header of a fresh call to A, stripped of the v2 one.
	v1 := signedReq(t, a, "/internal/v1/readindex", nil, time.Now(), key)
	v1.Header.Del(reqsign.Header)
	if code := resend(t, v1, nil); code != http.StatusForbidden || reqFailures(a, "old_format") != 1 {
		t.Fatalf("v1 header alone: status %d, old_format %v", code, reqFailures(a, "old_format"))
	}
}
