package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/sessiond/sessiond/internal/proctest"
)

// With -pprof DIR every sessiond node of the 3-node cluster serves Go's
// profiler on a loopback port of its own (--pprof-addr), and the c64
// sessiond runs of round 1 that name a profiled workload take a CPU
// profile of each node over the run's warm-up and window:
// DIR/<workload>-<node>.pprof, read with `go tool pprof -top BIN FILE`.
// That is the profile docs/BENCHMARKS.md quotes for an unmet write target:
// the server under the driver's real load, not an in-process stand-in.

// enablePprof gives each node a profiler port of its own.
func (c *sdCluster) enablePprof() error {
	for _, n := range c.nodes {
		p, err := proctest.Port()
		if err != nil {
			return err
		}
		n.pprofAddr = proctest.LoopbackAddr(p)
		n.args = append(n.args, "--pprof-addr", n.pprofAddr)
	}
	return nil
}

// profiled starts CPU profiles of every node for the run of workload
// (when -pprof is set and the workload is one of -pprof-workloads, at
// c64 in round 1) and returns a func that waits for them to be written.
func (r *runner) profiled(ctx context.Context, workload string, conc, round int) func() {
	if r.cfg.pprofDir == "" || !r.cfg.pprofWorkloads[workload] || conc != 64 || round != 1 {
		return func() {}
	}
	secs := int(math.Ceil((r.cfg.warmup + r.cfg.d).Seconds()))
	var wg sync.WaitGroup
	for _, n := range r.sd.nodes {
		if n.pprofAddr == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(r.cfg.pprofDir, strings.ReplaceAll(workload, "/", "_")+"-"+n.id+".pprof")
			if err := fetchProfile(ctx, "http://"+n.pprofAddr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), path); err != nil {
				logf("pprof %s %s: %v", workload, n.id, err)
			}
		}()
	}
	return wg.Wait
}

func fetchProfile(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
