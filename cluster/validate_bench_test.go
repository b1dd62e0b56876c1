package cluster

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/fsm"
)

// BenchmarkValidation measures token validation as a client sees it, at
// the Default and Consistent levels, on the follower and the leader of a
// real 3-node cluster: an HTTP request over loopback with the token in
// the Authorization header, SHA-256 of the token, LookupSession at the
// level, a small JSON answer. 64 clients (32 per GOMAXPROCS) keep
// connections alive, as the wrk runs of BENCHMARKS.md do. The handler
// stands in for api's (which cluster cannot import); what differs
// between the levels is only the node's read path, which is what issue
// 23's target (Consistent ≥ 0.5 × Default) is about: a Consistent read
// costs a share of one quorum round (protocol.go), never a log write.
//
//	go test ./cluster -run '^$' -bench 'BenchmarkValidation' -benchtime 3s
func BenchmarkValidation(b *testing.B) {
	leader, follower := readFixture(b)
	for _, node := range []struct {
		name string
		n    *Node
	}{{"follower", follower.Node}, {"leader", leader.Node}} {
		srv := httptest.NewServer(validateHandler(node.n))
		b.Cleanup(srv.Close)
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 256}}
		for _, lv := range []Level{Default, Consistent} {
			b.Run(fmt.Sprintf("%s/%s/c64", node.name, lv), func(b *testing.B) {
				url := srv.URL + "/v1/session?consistency=" + lv.String()
				rounds0 := node.n.leaderRI.Rounds.Load() + node.n.forwardRI.Rounds.Load()
				var seq atomic.Int64
				b.SetParallelism(32)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					i := int(seq.Add(1)) * 7919
					for pb.Next() {
						i++
						req, _ := http.NewRequest(http.MethodGet, url, nil)
						req.Header.Set("Authorization", "Bearer bench-token-"+strconv.Itoa(i%benchSessions))
						resp, err := client.Do(req)
						if err != nil {
							b.Error(err)
							return
						}
						io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							b.Errorf("status %d", resp.StatusCode)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
				rounds := node.n.leaderRI.Rounds.Load() + node.n.forwardRI.Rounds.Load() - rounds0
				b.ReportMetric(float64(rounds)/float64(b.N), "rounds/op")
			})
		}
	}
}

// validateHandler answers GET /v1/session for a Bearer token at the level
// named by ?consistency= (bench tokens are "bench-token-<i>", whose
// digest benchDigest makes).
func validateHandler(n *Node) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lv := Default
		if r.URL.Query().Get("consistency") == Consistent.String() {
			lv = Consistent
		}
		tok, ok := cutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		sess, err := n.LookupSession(r.Context(), lv, fsm.Digest(sha256.Sum256([]byte(tok))))
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		case sess == nil:
			http.Error(w, "unknown token", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"user_id": sess.UserID, "session": sess.ID})
	})
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || s[:len(prefix)] != prefix {
		return "", false
	}
	return s[len(prefix):], true
}
