package api

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkWhoamiVsBareHTTP is validation through HTTP next to a bare
// net/http handler, side by side in one run: both behind an http.Server
// from s.HTTPServer (same timeouts) on loopback, driven by the same Go
// client (keep-alive, benchHTTPConns connections in a closed loop), in
// interleaved windows (bare, whoami, whoami, bare, ...), so drift on a
// shared machine hits both alike. The bare handler answers /ping with 16
// bytes and is sent the same Authorization header, so both parse the same
// request. Reported: each one's req/s (medians) and ratio, the median of
// the per-round whoami ÷ bare; with wrk also cpu-ratio, the server
// process's CPU per answer, bare ÷ whoami. The load comes from wrk (-t2 -c64, the
// rotating-token script of scripts/bench) when it is installed, else from
// a Go client; either shares the two cores with the server, alike for
// both handlers.
//
//	go test ./api -run '^$' -bench WhoamiVsBareHTTP -benchtime 1x -count 3
func BenchmarkWhoamiVsBareHTTP(b *testing.B) {
	e := newBenchAPI(b)
	bare := http.NewServeMux()
	bare.HandleFunc("GET /ping", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	urls := map[string]string{}
	for name, h := range map[string]http.Handler{"bare": bare, "whoami": e.srv.Handler()} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		hs := e.srv.HTTPServer(ln.Addr().String())
		hs.Handler = h
		go hs.Serve(ln)
		b.Cleanup(func() { hs.Close() })
		path := "/ping"
		if name == "whoami" {
			path = "/v1/session"
		}
		urls[name] = "http://" + ln.Addr().String() + path
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchHTTPConns, DisableCompression: true}}
	drive := func(url string) float64 { return driveHTTP(b, client, url, e.tokens, benchHTTPWindow) }
	useWrk := false
	if wrk, err := exec.LookPath("wrk"); err == nil {
		tokens := filepath.Join(b.TempDir(), "tokens")
		if err := os.WriteFile(tokens, []byte(strings.Join(e.tokens, "\n")+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
		drive = func(url string) float64 { return driveWrk(b, wrk, url, tokens, benchHTTPWindow) }
		useWrk = true
	}
	const rounds = 5
	var bareRates, whoRates, ratios, cpuRatios []float64
	for round := range rounds {
		order := []string{"bare", "whoami"}
		if round%2 == 1 {
			order = []string{"whoami", "bare"}
		}
		rate, cpu := map[string]float64{}, map[string]float64{}
		for _, name := range order {
			cpu0 := processCPU()
			rate[name] = drive(urls[name])
			cpu[name] = float64(processCPU()-cpu0) / (rate[name] * benchHTTPWindow.Seconds()) // server CPU ns per answer
		}
		bareRates, whoRates = append(bareRates, rate["bare"]), append(whoRates, rate["whoami"])
		ratios = append(ratios, rate["whoami"]/rate["bare"])
		cpuRatios = append(cpuRatios, cpu["bare"]/cpu["whoami"])
	}
	b.ReportMetric(medianF(bareRates), "bare-req/s")
	b.ReportMetric(medianF(whoRates), "whoami-req/s")
	b.ReportMetric(medianF(ratios), "ratio")
	if useWrk && cpuRatios[0] > 0 {
		// The server's own CPU per answer, bare ÷ whoami: the throughput
		// ratio a server alone on its cores would reach, and far steadier
		// than req/s on a machine others share (wrk's CPU is not counted).
		b.ReportMetric(medianF(cpuRatios), "cpu-ratio")
	}
	b.Logf("per round: bare %.0f, whoami %.0f, ratio %.3f, cpu-ratio %.3f", bareRates, whoRates, ratios, cpuRatios)
}

const (
	benchHTTPConns  = 16
	benchHTTPWindow = 2 * time.Second
)

// driveHTTP sends GETs to url from benchHTTPConns goroutines for d, each
// with a Bearer token from tokens, and returns the answers per second.
// Every answer must be 200.
func driveHTTP(b *testing.B, client *http.Client, url string, tokens []string, d time.Duration) float64 {
	var done atomic.Int64
	var failed atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range benchHTTPConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Now().Before(stop); i += benchHTTPConns {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i*97%len(tokens)])
				res, err := client.Do(req)
				if err != nil {
					failed.Store(err.Error())
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					failed.Store(res.Status)
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f != nil {
		b.Fatalf("%s: %v", url, f)
	}
	return float64(done.Load()) / d.Seconds()
}

// driveWrk runs wrk -t2 -c64 against url for d with the validation
// script (a rotating Bearer token on every request) and returns req/s.
func driveWrk(b *testing.B, wrk, url, tokens string, d time.Duration) float64 {
	host, path, _ := strings.Cut(strings.TrimPrefix(url, "http://"), "/")
	cmd := exec.Command(wrk, "-t2", "-c64", "-d"+strconv.Itoa(int(d.Seconds()))+"s", "-s", "../scripts/bench/wrk/validate.lua", "http://"+host)
	cmd.Env = append(os.Environ(), "BENCH_PATH=/"+path, "BENCH_TOKENS="+tokens)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v: %s", err, out)
	}
	_, rest, ok := strings.Cut(string(out), "BENCH_JSON ")
	if !ok {
		b.Fatalf("wrk output: %s", out)
	}
	var j struct {
		Requests   float64 `json:"requests"`
		DurationUS float64 `json:"duration_us"`
		Status     int     `json:"status"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(rest)), &j); err != nil || j.Status > 0 {
		b.Fatalf("wrk: %v, %d non-2xx: %s", err, j.Status, out)
	}
	return j.Requests / (j.DurationUS / 1e6)
}

func medianF(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
