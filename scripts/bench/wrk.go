package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkRun is one wrk invocation against one URL.
type wrkRun struct {
	url    string // base URL
	path   string // /v1/session or /ping
	level  string // consistency level, "" = node default
	tokens string // token file ("" for /ping)
	conc   int
	d      time.Duration
}

// runWrk runs wrk (a C client: on this 2-core box a Go client would take
// half the CPU from the server) with scripts/bench/wrk/validate.lua and
// parses the line its done() prints. A short unrecorded run warms the
// server first.
func (cfg *config) runWrk(ctx context.Context, w wrkRun) (result, error) {
	threads := min(2, w.conc)
	env := append(os.Environ(), "BENCH_PATH="+w.path, "BENCH_LEVEL="+w.level, "BENCH_TOKENS="+w.tokens)
	run := func(d time.Duration) ([]byte, error) {
		cctx, cancel := context.WithTimeout(ctx, d+30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(cctx, cfg.wrk, "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(w.conc),
			"-d"+strconv.Itoa(int(d.Seconds()))+"s", "--timeout", "5s", "-s", cfg.luaScript, w.url)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.Bytes(), err
	}
	if cfg.warmup > 0 {
		if out, err := run(max(cfg.warmup, time.Second)); err != nil {
			return result{}, fmt.Errorf("wrk warm-up: %v: %s", err, out)
		}
	}
	out, err := run(w.d)
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s", err, out)
	}
	var j struct {
		Requests   int64 `json:"requests"`
		DurationUS int64 `json:"duration_us"`
		P50        int64 `json:"p50_us"`
		P99        int64 `json:"p99_us"`
		P999       int64 `json:"p999_us"`
		Status     int64 `json:"status"`
		Connect    int64 `json:"connect"`
		Read       int64 `json:"read"`
		Write      int64 `json:"write"`
		Timeout    int64 `json:"timeout"`
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	found := false
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "BENCH_JSON "); ok {
			if err := json.Unmarshal([]byte(rest), &j); err != nil {
				return result{}, fmt.Errorf("wrk output: %v: %s", err, rest)
			}
			found = true
		}
	}
	if !found {
		return result{}, fmt.Errorf("wrk printed no summary: %s", out)
	}
	secs := float64(j.DurationUS) / 1e6
	r := result{
		Tool: "wrk", Conc: w.conc, Ops: j.Requests, Seconds: secs, OpsPerSec: float64(j.Requests) / secs,
		P50: float64(j.P50) / 1000, P99: float64(j.P99) / 1000, P999: float64(j.P999) / 1000,
		Errors: j.Status + j.Connect + j.Read + j.Write + j.Timeout, Level: w.level,
	}
	r.OkPerSec = float64(j.Requests-r.Errors) / secs
	if r.Errors > 0 {
		r.ErrSample = fmt.Sprintf("status %d, connect %d, read %d, write %d, timeout %d", j.Status, j.Connect, j.Read, j.Write, j.Timeout)
	}
	return r, nil
}
