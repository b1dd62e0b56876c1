package cluster

import (
	"bytes"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sessiond/sessiond/cluster/reqsign"
	"github.com/sessiond/sessiond/fsm"
)

// Every chunk's encoding fits the limit, and the chunks hold every refresh
// once, in order.
func TestRefreshChunks_FitTheLimitAndKeepEveryRefresh(t *testing.T) {
	// Parallel: no cluster, only CPU, overlapping the idle test's wait.
	t.Parallel()
	refs := make([]fsm.Refresh, maxPendingRefreshes)
	for i := range refs {
		refs[i] = fsm.Refresh{Digest: digest(fmt.Sprint(i)), At: -1 << 63}
	}
	if len(fsm.MustEncode(&fsm.RefreshSessions{Refreshes: refs})) <= maxInternalBody {
		t.Fatal("a full flush fits the body limit: the test proves nothing")
	}
	chunks := refreshChunks(refs, refreshChunkBytes)
	var joined []fsm.Refresh
	for i, c := range chunks {
		if n := len(fsm.MustEncode(c)); n > refreshChunkBytes {
			t.Fatalf("chunk %d: %d bytes, over %d", i, n, refreshChunkBytes)
		}
		joined = append(joined, c.Refreshes...)
	}
	if len(joined) != len(refs) {
		t.Fatalf("%d refreshes in chunks, want %d", len(joined), len(refs))
	}
	for i := range refs {
		if joined[i] != refs[i] {
			t.Fatalf("refresh %d changed", i)
		}
	}
}

// A follower's flush whose one command would be over the internal body
// limit goes in chunks, every refresh is applied on every node, and the
// leader neither refuses nor throttles the follower.
func TestRefresh_FlushOverTheBodyLimitGoesInChunks(t *testing.T) {
	// Parallel: production timing, so it holds beside the other
	// parallel tests; the four long waits of the package overlap.
	t.Parallel()
	// Production election timing: under -race beside other packages the
	// test timing's short leader lease stepped the leader down every
	// second, and each step-down lost a chunk in flight (CI, 2 cores).
	// Elections are not what this test is about.
	c := newTestCluster(t, 3, func(c *Config) { quiet(c); productionTiming(c) })
	l := c.waitLeader()
	f := c.followers()[0]
	uid := mustUser(t, l.Node, "bulk")
	liftSessionCap(t, l.Node)

	const k = 14_000 // about 1.2 MiB of refreshes
	ds := make([]fsm.Digest, k)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < k; i += 64 {
				ds[i] = digest(fmt.Sprintf("bulk-%d", i))
				cmd := &fsm.CreateSession{Session: fsm.Session{
					ID: fmt.Sprintf("bulk-%d", i), Digest: ds[i], Kind: fsm.KindNative, UserID: uid, Created: 1, IdleTimeout: int64(time.Hour),
				}}
				// Writes go through any node (followers forward), retried
				// as a client would when a loaded machine moves the leader.
				var err error
				for range 5 {
					if _, err = l.Apply(ctx5(t), cmd); err == nil {
						break
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	refs := make([]fsm.Refresh, k)
	at := time.Unix(0, 2)
	for i, d := range ds {
		refs[i] = fsm.Refresh{Digest: d, At: at.UnixNano()}
	}
	if n := len(fsm.MustEncode(&fsm.RefreshSessions{Refreshes: refs})); n <= maxInternalBody {
		t.Fatalf("%d refreshes encode to %d bytes, under the limit: the test proves nothing", k, n)
	}

	touchAll := func() {
		for _, d := range ds {
			f.Touch(d, at)
		}
		f.refresher.flush(ctx5(t))
	}
	touchAll()

	// Refreshes are best-effort (a chunk lost to a leader change is sent
	// again on the next touch), so a round that finds some missing
	// touches and flushes again, as the refresher would.
	last := time.Now()
	eventually(t, 120*time.Second, "every refresh applied on every node", func() bool {
		for _, n := range c.nodes {
			st := n.fsm.State()
			for _, d := range ds {
				if s, ok := st.Session(d); !ok || s.LastRefresh != at.UnixNano() {
					if time.Since(last) > 2*time.Second {
						touchAll()
						last = time.Now()
					}
					return false
				}
			}
		}
		return true
	})
	for _, n := range c.nodes {
		if v := reqFailures(n, "body") + reqFailures(n, "throttled"); v != 0 {
			t.Errorf("%s: %v internal calls refused as an authentication failure", n.ID(), v)
		}
	}
}

// A correctly signed body over the limit is answered 413 and counted as
// too_large, never as an authentication failure, and however often it
// comes it never throttles the sender; an oversized body with a bad
// signature is still an authentication failure.
func TestReqGuard_OversizedSignedBodyIs413AndNeverThrottles(t *testing.T) {
	c := newTestCluster(t, 1, quiet)
	n := c.nodes[0]
	key := reqsign.Key(testKey)
	big := bytes.Repeat([]byte{'x'}, maxInternalBody+1)

	for i := range throttleBurst + 5 {
		if code := resend(t, signedReq(t, n, batchPath, big, time.Now(), key), big); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized signed call %d: status %d, want 413", i, code)
		}
	}
	if got := testutil.ToFloat64(n.auth.reqRefused.WithLabelValues(reasonTooLarge)); got != throttleBurst+5 {
		t.Fatalf("too_large count %v, want %d", got, throttleBurst+5)
	}
	for _, r := range reqFailReasons {
		if v := reqFailures(n, r); v != 0 {
			t.Fatalf("counted as an authentication failure (%s: %v)", r, v)
		}
	}
	if code := resend(t, signedReq(t, n, "/internal/v1/readindex", nil, time.Now(), key), nil); code != http.StatusOK {
		t.Fatalf("ordinary signed call after the oversized ones: status %d (throttled?)", code)
	}

	forged := signedReq(t, n, batchPath, big, time.Now(), reqsign.Key("another-cluster-key-of-enough-length"))
	if code := resend(t, forged, big); code != http.StatusForbidden || reqFailures(n, "bad_signature") != 1 {
		t.Fatalf("oversized body with a bad signature: status %d, bad_signature %v", code, reqFailures(n, "bad_signature"))
	}
}
