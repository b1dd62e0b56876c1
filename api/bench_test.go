package api

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/auth"
	"github.com/sessiond/sessiond/cluster"
	"github.com/sessiond/sessiond/fsm"
)

// Benchmarks of the whole validation handler (middleware, route table,
// bearer parsing, token syntax, SHA-256, the node's read path, the user
// lookup, metrics and the JSON answer) on a real single node, with no
// network: the HTTP server's own cost is what scripts/bench measures.
//
//	go test ./api -run '^$' -bench Whoami -benchmem
//	go test ./api -run '^$' -bench 'Whoami/reused/default$' -memprofile mem.out
//	go tool pprof -sample_index=alloc_objects -top api.test mem.out

// benchPrefillSessions is how many other sessions the node holds, so the
// lookup is not served from a tiny, cache-hot map.
const benchPrefillSessions = 10_000

type benchAPI struct {
	srv    *Server
	node   *cluster.Node
	tokens []string
}

// newBenchAPI starts a real single node (Raft on 127.0.0.1:0, raft.db in a
// temp dir), the login service with minimal hashing, and the API; creates
// one user and logs it in benchPrefillSessions times.
func newBenchAPI(b *testing.B) *benchAPI {
	b.Helper()
	tn := startTestNode(b, "bench1", "http://127.0.0.1:1") // one node: nothing is forwarded
	node, svc, srv := tn.node, tn.svc, tn.srv
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// One user holds every benchmark session: lift the per-user cap.
	set := svc.Settings()
	set.MaxSessionsPerUser = 0
	if _, err := svc.SetSettings(ctx, set); err != nil {
		b.Fatal(err)
	}
	uid, err := svc.CreateUser(ctx, auth.NewUser{Login: "bench", Password: "bench-password-123"})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := node.FSM().State().User(uid)
	env := &benchAPI{srv: srv, node: node, tokens: make([]string, benchPrefillSessions)}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < len(env.tokens); i = int(next.Add(1)) - 1 {
				iss, err := svc.CreateSession(ctx, u, auth.SessionOptions{Kind: fsm.KindNative, UserAgent: "bench"})
				if err != nil {
					errs <- err
					return
				}
				env.tokens[i] = iss.Token
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return env
}

// benchWriter is a ResponseWriter that keeps nothing and allocates nothing
// itself, so allocs/op are the handler's own.
type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code, w.n = 0, 0
}

// benchWhoami serves GET /v1/session (with query) for one token per
// iteration, reusing the request and the writer.
func (e *benchAPI) benchWhoami(b *testing.B, query string) { e.benchGet(b, "/v1/session"+query) }

// benchGet serves GET target for one token per iteration, reusing the
// request and the writer.
func (e *benchAPI) benchGet(b *testing.B, target string) {
	h := e.srv.Handler()
	reqs := make([]*http.Request, 64)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("GET", target, nil)
		reqs[i].Header.Set("Authorization", "Bearer "+e.tokens[i*97%len(e.tokens)])
	}
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		i++
		r.Body = http.NoBody
		w.reset()
		h.ServeHTTP(w, r)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}

// BenchmarkWhoami is the native validation endpoint through s.Handler().
//
//   - recorder: a fresh httptest request and recorder per call, as a test
//     would; their own allocations are included.
//   - reused/<level>: request and writer reused, so allocs/op are what the
//     handler itself allocates per validation.
//   - parallel/<level>: 64 callers at once (reused writers per goroutine),
//     where a consistent read shares read-index rounds.
func BenchmarkWhoami(b *testing.B) {
	e := newBenchAPI(b)
	b.Run("recorder", func(b *testing.B) {
		h := e.srv.Handler()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			r := httptest.NewRequest("GET", "/v1/session", nil)
			r.Header.Set("Authorization", "Bearer "+e.tokens[i%len(e.tokens)])
			i++
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		}
	})
	for _, lv := range []string{"default", "consistent", "stale"} {
		b.Run("reused/"+lv, func(b *testing.B) { e.benchWhoami(b, "?consistency="+lv) })
	}
	for _, lv := range []string{"default", "consistent"} {
		b.Run("parallel/"+lv, func(b *testing.B) {
			h := e.srv.Handler()
			var seq atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				g := int(seq.Add(1))
				r := httptest.NewRequest("GET", "/v1/session?consistency="+lv, nil)
				r.Header.Set("Authorization", "Bearer "+e.tokens[g*131%len(e.tokens)])
				w := &benchWriter{h: http.Header{}}
				for pb.Next() {
					r.Body = http.NoBody
					w.reset()
					h.ServeHTTP(w, r)
					if w.code != http.StatusOK {
						b.Errorf("status %d", w.code)
						return
					}
				}
			})
		})
	}
}

// BenchmarkWhoamiDefaultLevel is reused/default without the query
// string: the path every production validation takes.
func BenchmarkWhoamiDefaultLevel(b *testing.B) {
	newBenchAPI(b).benchWhoami(b, "")
}

// BenchmarkAuthz is forward auth (GET /v1/authz) on the same path as
// BenchmarkWhoamiDefaultLevel: same node, tokens and level, identity
// headers instead of a JSON body. Compare the two:
//
//	go test ./api -run '^$' -bench 'Authz|WhoamiDefaultLevel' -benchmem -count 5
func BenchmarkAuthz(b *testing.B) {
	newBenchAPI(b).benchGet(b, "/v1/authz")
}

// BenchmarkWhoamiHTTP serves the API on a real loopback listener through
// s.HTTPServer and drives it with wrk (-t2 -c64, 5 s; skipped without wrk
// in PATH), next to a minimal net/http handler in the same process and
// run. It exists to profile the server side under realistic load:
//
//	go test ./api -run '^$' -bench WhoamiHTTP -cpuprofile cpu.out
//	go tool pprof -top api.test cpu.out
func BenchmarkWhoamiHTTP(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("wrk not installed")
	}
	e := newBenchAPI(b)
	tokens := filepath.Join(b.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte(strings.Join(e.tokens, "\n")+"\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	ping := http.NewServeMux()
	ping.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	for _, tc := range []struct {
		name, path string
		h          http.Handler
	}{{"ping", "/ping", ping}, {"whoami", "/v1/session", e.srv.Handler()}} {
		b.Run(tc.name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := e.srv.HTTPServer(ln.Addr().String())
			hs.Handler = tc.h
			go hs.Serve(ln)
			defer hs.Close()
			b.ReportMetric(driveWrk(b, wrk, "http://"+ln.Addr().String()+tc.path, tokens, 5*time.Second), "req/s")
		})
	}
}
