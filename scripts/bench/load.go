package main

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// opFn runs one operation for worker w and names its kind ("validate",
// "login", ...) for the per-kind breakdown. It returns errExhausted when
// the worker's pool of tokens or users has run out.
type opFn func(ctx context.Context) (kind string, err error)

// opStats is one kind of operation's share of a run.
type opStats struct {
	Ops    int64   `json:"ops"`
	Errors int64   `json:"errors"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
	P999   float64 `json:"p999_ms"`
}

// result is one row of the report: one workload on one target.
type result struct {
	Target    string             `json:"target"`
	Workload  string             `json:"workload"`
	Node      string             `json:"node,omitempty"`  // leader, follower, all
	Level     string             `json:"level,omitempty"` // sessiond consistency level
	Conc      int                `json:"concurrency"`
	Tool      string             `json:"tool"` // go or wrk
	Round     int                `json:"round,omitempty"`
	Ops       int64              `json:"ops"`
	Seconds   float64            `json:"seconds"`
	OpsPerSec float64            `json:"ops_per_sec"`
	P50       float64            `json:"p50_ms"`
	P99       float64            `json:"p99_ms"`
	P999      float64            `json:"p999_ms"`
	Errors    int64              `json:"errors"`
	OkPerSec  float64            `json:"ok_per_sec"` // successful operations only
	Load1     string             `json:"loadavg"`    // /proc/loadavg when the run ended
	ErrSample string             `json:"error_sample,omitempty"`
	ServerCPU float64            `json:"server_cpu_s,omitempty"`
	PerOp     map[string]opStats `json:"per_op,omitempty"`
	Note      string             `json:"note,omitempty"`
}

func newHist() *hdrhistogram.Histogram { return hdrhistogram.New(1, 60_000_000, 3) } // µs

type workerStats struct {
	hist   map[string]*hdrhistogram.Histogram
	errs   map[string]int64
	sample error
}

// drive runs conc closed-loop workers, each calling the opFn newOp(i)
// returns, back to back, for warmup+d or until maxOps operations or every
// worker's pool is exhausted. Only operations that start after the
// warm-up and end inside the window are counted.
func drive(ctx context.Context, conc int, warmup, d time.Duration, maxOps int64, newOp func(i int) opFn) result {
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(d)
	ctx, cancel := context.WithDeadline(ctx, end.Add(5*time.Second))
	defer cancel()
	stats := make([]*workerStats, conc)
	var mu sync.Mutex
	var issued int64
	var lastDone time.Time
	var wg sync.WaitGroup
	for i := 0; i < conc; i++ {
		ws := &workerStats{hist: map[string]*hdrhistogram.Histogram{}, errs: map[string]int64{}}
		stats[i] = ws
		op := newOp(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if issued >= maxOps {
					mu.Unlock()
					return
				}
				issued++
				mu.Unlock()
				t0 := time.Now()
				if !t0.Before(end) || ctx.Err() != nil {
					return
				}
				kind, err := op(ctx)
				t1 := time.Now()
				if errors.Is(err, errExhausted) {
					mu.Lock()
					if t1.After(lastDone) {
						lastDone = t1
					}
					mu.Unlock()
					return
				}
				if t0.Before(measureFrom) || t1.After(end) {
					continue
				}
				h := ws.hist[kind]
				if h == nil {
					h = newHist()
					ws.hist[kind] = h
				}
				h.RecordValue(max(1, t1.Sub(t0).Microseconds()))
				if err != nil {
					ws.errs[kind]++
					if ws.sample == nil {
						ws.sample = err
					}
				}
			}
		}()
	}
	wg.Wait()
	window := d
	if !lastDone.IsZero() && lastDone.Before(end) { // pools ran out early
		window = max(lastDone.Sub(measureFrom), time.Millisecond)
	}
	return summarize(stats, conc, window)
}

func summarize(stats []*workerStats, conc int, window time.Duration) result {
	all := newHist()
	perKind := map[string]*hdrhistogram.Histogram{}
	errs := map[string]int64{}
	var sample error
	for _, ws := range stats {
		for k, h := range ws.hist {
			all.Merge(h)
			if perKind[k] == nil {
				perKind[k] = newHist()
			}
			perKind[k].Merge(h)
		}
		for k, n := range ws.errs {
			errs[k] += n
		}
		if sample == nil {
			sample = ws.sample
		}
	}
	r := result{Conc: conc, Tool: "go", Ops: all.TotalCount(), Seconds: window.Seconds()}
	r.OpsPerSec = float64(r.Ops) / window.Seconds()
	r.P50, r.P99, r.P999 = pct(all, 50), pct(all, 99), pct(all, 99.9)
	for _, n := range errs {
		r.Errors += n
	}
	r.OkPerSec = float64(r.Ops-r.Errors) / window.Seconds()
	if sample != nil {
		r.ErrSample = truncate(sample.Error(), 200)
	}
	if len(perKind) > 1 {
		r.PerOp = map[string]opStats{}
		for k, h := range perKind {
			r.PerOp[k] = opStats{Ops: h.TotalCount(), Errors: errs[k], P50: pct(h, 50), P99: pct(h, 99), P999: pct(h, 99.9)}
		}
	}
	return r
}

func pct(h *hdrhistogram.Histogram, q float64) float64 {
	return float64(h.ValueAtQuantile(q)) / 1000
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// median of the values (0 for none).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// pool hands out numbered items (tokens of a prefilled pool) to workers
// without repeats, from next up to n; take returns errExhausted when none
// is left.
type pool struct {
	mu   sync.Mutex
	next int
	n    int
}

// share carves the next 1/parts of what is left into a pool of its own,
// so one run cannot use up what later runs of the workload need.
func (p *pool) share(parts int) *pool {
	p.mu.Lock()
	defer p.mu.Unlock()
	size := (p.n - p.next) / max(parts, 1)
	sub := &pool{next: p.next, n: p.next + size}
	p.next += size
	return sub
}

func (p *pool) take() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.next >= p.n {
		return 0, errExhausted
	}
	p.next++
	return p.next - 1, nil
}

func logf(format string, args ...any) {
	fmt.Printf("%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
