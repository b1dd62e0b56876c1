package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"
)

// The events workload (issue 27, docs/BENCHMARKS.md "Events"): logout
// throughput with three webhook subscriptions delivering against none,
// measured in alternating runs, and the delivery lag of logouts paced at
// 1,000/s (ack to the receiver's arrival). Receivers are plain HTTP
// servers in this process that read each call and answer 204.

// hookSink is one receiver: it counts events and, when timing, notes when
// each ended session arrived.
type hookSink struct {
	srv *http.Server
	url string

	mu      sync.Mutex
	events  int
	arrived map[string]time.Time // session id -> first arrival (timing only)
}

func startSink() (*hookSink, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &hookSink{url: "http://" + ln.Addr().String() + "/hook"}
	s.srv = &http.Server{Handler: s}
	go s.srv.Serve(ln)
	return s, nil
}

func (s *hookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	timing := s.arrived != nil
	if !timing {
		// Counting only: the receivers share the 2 cores with the nodes, so
		// they do the least work that still sees every event.
		s.events += bytes.Count(body, []byte(`{"id":`))
		s.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mu.Unlock()
	var p struct {
		Data struct {
			Events []struct {
				Type      string `json:"type"`
				SessionID string `json:"session_id"`
			} `json:"events"`
		} `json:"data"`
	}
	json.Unmarshal(body, &p)
	s.mu.Lock()
	s.events += len(p.Data.Events)
	if s.arrived != nil {
		for _, e := range p.Data.Events {
			if _, seen := s.arrived[e.SessionID]; !seen && e.Type == "session.ended" {
				s.arrived[e.SessionID] = now
			}
		}
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *hookSink) count() int { s.mu.Lock(); defer s.mu.Unlock(); return s.events }

// adminJSON is an operator call with the admin's Bearer token.
func (r *runner) adminJSON(ctx context.Context, method, path string, body any, out any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequestWithContext(ctx, method, r.sd.nodes[0].url+path, rd)
	req.Header.Set("Authorization", "Bearer "+r.sd.admin)
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.sd.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, data)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// subscribe creates one session.ended subscription per sink; unsubscribe
// deletes them all.
func (r *runner) subscribe(ctx context.Context, sinks []*hookSink) ([]string, error) {
	var ids []string
	for _, s := range sinks {
		var out struct {
			ID string `json:"id"`
		}
		if err := r.adminJSON(ctx, "POST", "/v1/webhooks", map[string]any{"url": s.url, "events": []string{"session.ended"}}, &out); err != nil {
			return ids, err
		}
		ids = append(ids, out.ID)
	}
	return ids, nil
}

func (r *runner) unsubscribe(ctx context.Context, ids []string) {
	for _, id := range ids {
		if err := r.adminJSON(ctx, "DELETE", "/v1/webhooks/"+id, nil, nil); err != nil {
			logf("events: delete %s: %v", id, err)
		}
	}
}

// drained waits until the sinks' counts stop moving (the backlog of a
// run is delivered before the next run starts), at most 60 s.
func drained(ctx context.Context, sinks []*hookSink) {
	last, still := -1, 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; {
		n := 0
		for _, s := range sinks {
			n += s.count()
		}
		if n == last {
			if still++; still == 4 {
				return
			}
		} else {
			last, still = n, 0
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (r *runner) phaseEvents(ctx context.Context, round int) error {
	if round != 1 {
		return nil // its runs alternate by themselves
	}
	tok, err := r.sd.login(ctx, r.sd.nodes[0], "admin", benchAdminPassword)
	if err != nil {
		return err
	}
	r.sd.admin = tok
	var sinks []*hookSink
	for i := 0; i < 3; i++ {
		s, err := startSink()
		if err != nil {
			return err
		}
		defer s.srv.Close()
		sinks = append(sinks, s)
	}
	const c = 64
	runs := 2 * r.cfg.rounds
	parts := runs + 1 // and the lag run
	// Each round is a pair of runs, alternating which goes first; the
	// ratio reported is the median of the rounds' ratios (each pair ran
	// under the same background load), next to the ratio of medians.
	var with, without, pairs, cpuPairs []float64
	for i := 0; i < r.cfg.rounds; i++ {
		order := [][]*hookSink{nil, sinks}
		if i%2 == 1 {
			order = [][]*hookSink{sinks, nil}
		}
		var got [2]result
		for _, subs := range order {
			res, err := r.eventsRun(ctx, c, subs, parts, i+1)
			if err != nil {
				return err
			}
			parts--
			if len(subs) > 0 {
				got[1] = res
				with = append(with, res.OpsPerSec)
			} else {
				got[0] = res
				without = append(without, res.OpsPerSec)
			}
		}
		pairs = append(pairs, got[1].OpsPerSec/got[0].OpsPerSec)
		cpuPairs = append(cpuPairs, (got[1].ServerCPU/float64(got[1].Ops))/(got[0].ServerCPU/float64(got[0].Ops)))
	}
	ratio := median(pairs)
	logf("events: logout with 3 subscriptions ÷ without: median of %d paired rounds %.3f (ratio of medians %.0f/%.0f = %.3f); server CPU per logout with ÷ without %.3f",
		len(pairs), ratio, median(with), median(without), median(with)/median(without), median(cpuPairs))
	r.extras["events_logout_ratio"] = ratio
	r.extras["events_logout_pair_ratios"] = pairs
	r.extras["events_logout_ratio_of_medians"] = median(with) / median(without)
	r.extras["events_cpu_per_logout_ratio"] = median(cpuPairs)
	return r.eventsLag(ctx, sinks, parts)
}

// eventsRun is one logout run at concurrency c with subs subscribed.
func (r *runner) eventsRun(ctx context.Context, c int, subs []*hookSink, parts, round int) (result, error) {
	ids, err := r.subscribe(ctx, subs)
	if err != nil {
		return result{}, err
	}
	t := r.sdTarget("sessiond", r.sd.nodes, "", c)
	name := "logout-0subs"
	if len(subs) > 0 {
		name = "logout-3subs"
	}
	wait := r.profiled(ctx, name, c, round)
	res := r.record(r.goRun(ctx, r.sd.cpuSeconds, c, logoutOp(t, r.sdLogout.share(parts))), "sessiond", name, "all", round)
	wait()
	if len(subs) > 0 {
		drained(ctx, subs)
	}
	r.unsubscribe(ctx, ids)
	return res, nil
}

// eventsLag paces logouts at 1,000/s for the measured window with three
// subscriptions, and takes, per ended session, the time from the logout's
// acknowledgement to its arrival at the first receiver.
func (r *runner) eventsLag(ctx context.Context, sinks []*hookSink, parts int) error {
	ids, err := r.subscribe(ctx, sinks)
	if err != nil {
		return err
	}
	defer r.unsubscribe(ctx, ids)
	s := sinks[0]
	s.mu.Lock()
	s.arrived = map[string]time.Time{}
	s.mu.Unlock()
	const rate, workers = 1000, 128 // enough workers that logout latency under load does not hold the pace back
	p := r.sdLogout.share(parts)
	t := r.sdTarget("sessiond", r.sd.nodes, "", workers)
	var mu sync.Mutex
	acked := map[string]time.Time{}
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(r.cfg.d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			every := time.Second * workers / rate
			for next := start.Add(every * time.Duration(w) / workers); next.Before(end) && ctx.Err() == nil; next = next.Add(every) {
				time.Sleep(time.Until(next))
				k, err := p.take()
				if err != nil {
					return
				}
				if t.logout(ctx, w, tokenFor(kindLogout, k)) == nil {
					mu.Lock()
					acked[sessionID(kindLogout, k)] = time.Now()
					mu.Unlock()
				}
			}
		}(w)
	}
	wg.Wait()
	rate1 := float64(len(acked)) / time.Since(start).Seconds()
	drained(ctx, sinks)
	s.mu.Lock()
	var lags []float64
	missing := 0
	for id, at := range acked {
		got, ok := s.arrived[id]
		if !ok {
			missing++
			continue
		}
		lags = append(lags, max(0, got.Sub(at).Seconds()*1000))
	}
	s.arrived = nil
	s.mu.Unlock()
	if len(lags) == 0 {
		return fmt.Errorf("events lag: nothing delivered (%d acknowledged)", len(acked))
	}
	sort.Float64s(lags)
	q := func(f float64) float64 { return lags[min(len(lags)-1, int(f*float64(len(lags))))] }
	logf("events: lag at %.0f logouts/s (3 subscriptions): p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d acknowledged, %d not delivered",
		rate1, q(0.5), q(0.99), lags[len(lags)-1], len(acked), missing)
	r.extras["events_lag"] = map[string]any{"rate": rate1, "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lags[len(lags)-1],
		"acknowledged": len(acked), "undelivered": missing}
	return nil
}
