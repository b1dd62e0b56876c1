// Command bench is sessiond's load driver (issue 5). It starts what it
// measures on loopback — a 3-node sessiond cluster from the built binary,
// a minimal net/http baseline (this program's own "baseline" subcommand),
// and optionally Redis and a 3-node etcd from Debian's packages — prefills
// users and sessions, drives the workloads, and reports ops/s,
// p50/p99/p99.9 and errors as a table and as JSON. Everything it starts
// it stops, on return and on SIGINT/SIGTERM. Every loop is bounded in
// count and time.
//
// Raw validation throughput is measured with wrk (a C client): a Go
// client on the same 2 cores would take half of the CPU from the server.
// Writes, the mixed workload, the comparisons with Redis and etcd and the
// latency percentiles use the Go driver in load.go.
//
// scripts/bench.sh builds the binaries and runs this; see
// docs/BENCHMARKS.md for the method and the recorded results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin, wrk, redisBin, etcdBin string
	luaScript                   string
	out, root                   string
	targets, workloads, levels  map[string]bool
	d, warmup                   time.Duration
	rounds                      int
	plan                        plan
	wrkTokens                   int
	failovers                   int
	floodConc, floodValConc     int
	maxOps                      int64
	nodeFlags                   []string // extra sessiond serve flags
	floorBatch                  bool     // the raftfloor target packs logouts into one entry
	deadline                    time.Duration
	memorySessions              int             // the memory phase's own count (0: -sessions)
	pprofDir                    string          // -pprof (profile.go)
	pprofWorkloads              map[string]bool // -pprof-workloads
}

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			m[v] = true
		}
	}
	return m
}

const allWorkloads = "validate-wrk,validate-go,login,logout,logoutall,mixed,flood,flood1,proxy,snapshot,failover,startup,memory,events"

func parseConfig(args []string) (*config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	c := &config{}
	var targets, workloads, levels, nodeFlags, pprofWorkloads string
	fs.StringVar(&c.bin, "bin", "", "sessiond binary (required)")
	fs.StringVar(&c.pprofDir, "pprof", "", "directory for CPU profiles of every node during the c64 runs of round 1 (profile.go)")
	fs.StringVar(&pprofWorkloads, "pprof-workloads", "login-minhash,logout,mixed-90/8/2", "workloads profiled with -pprof")
	fs.StringVar(&c.wrk, "wrk", "wrk", "wrk binary")
	fs.StringVar(&c.redisBin, "redis-server", "redis-server", "redis-server binary (target redis)")
	fs.StringVar(&c.etcdBin, "etcd", "etcd", "etcd binary (target etcd)")
	fs.StringVar(&c.luaScript, "lua", "", "wrk script (default wrk/validate.lua next to this program's source)")
	fs.StringVar(&c.out, "out", "", "results directory (default <tmp>/results)")
	fs.StringVar(&targets, "targets", "sessiond,baseline", "sessiond, baseline, redis, etcd, raftfloor (the Raft floor of a logout, raftfloor.go)")
	fs.StringVar(&workloads, "workloads", allWorkloads, "workloads to run")
	fs.StringVar(&levels, "levels", "default,consistent,stale", "consistency levels for validation")
	fs.DurationVar(&c.d, "d", 5*time.Second, "measured window per workload")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "warm-up before each window (not measured)")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds of the headline comparisons (medians are reported)")
	fs.IntVar(&c.plan.Sessions, "sessions", 100000, "prefilled sessions that are validated")
	fs.IntVar(&c.plan.MinUsers, "users", 1000, "prefilled users with minimal argon2id hashes")
	fs.IntVar(&c.plan.ProdUsers, "prod-users", 200, "prefilled users with production argon2id hashes")
	fs.IntVar(&c.plan.LogoutPool, "logout-pool", 60000, "prefilled sessions to log out (bounds the logout runs)")
	fs.IntVar(&c.plan.LogoutAllPool, "logoutall-pool", 30000, "prefilled users with one session to logoutall")
	fs.IntVar(&c.wrkTokens, "wrk-tokens", 100000, "tokens wrk rotates through")
	fs.IntVar(&c.failovers, "failovers", 5, "kill -9 rounds for the failover measure")
	fs.IntVar(&c.floodConc, "flood-c", 16, "concurrent production-hash logins in the flood")
	fs.IntVar(&c.floodValConc, "flood-val-c", 8, "concurrent validations measured with and without the flood")
	fs.Int64Var(&c.maxOps, "max-ops", 5_000_000, "upper bound of operations in one run")
	fs.IntVar(&c.memorySessions, "memory-sessions", 0, "sessions of the in-process memory phase (default -sessions): it needs no cluster, so it can go past what the cluster's restore takes")
	fs.DurationVar(&c.deadline, "deadline", 0, "give up (and stop everything) after this long; 0 = no limit")
	fs.BoolVar(&c.floorBatch, "floor-batch", false, "the raftfloor target packs concurrent logouts into one entry (raftfloor.go)")
	fs.StringVar(&nodeFlags, "node-flags", "", "extra flags for every sessiond node, space separated (e.g. \"--heartbeat-timeout 500ms --election-timeout 500ms\")")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.bin == "" {
		return nil, fmt.Errorf("-bin is required")
	}
	c.targets, c.workloads, c.levels = setOf(targets), setOf(workloads), setOf(levels)
	c.targets["sessiond"] = true
	c.pprofWorkloads = setOf(pprofWorkloads)
	if c.pprofDir != "" {
		if err := os.MkdirAll(c.pprofDir, 0o755); err != nil {
			return nil, err
		}
	}
	c.nodeFlags = strings.Fields(nodeFlags)
	c.plan.Sessions = max(c.plan.Sessions, 1)
	c.wrkTokens = min(c.wrkTokens, c.plan.Sessions)
	return c, nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "baseline" {
		runBaseline(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "raftfloor" {
		runRaftFloor(os.Args[2:])
		return
	}
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.deadline > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.deadline)
		defer cancel()
	}
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func mkdir(dir string) error { return os.MkdirAll(dir, 0o700) }

// run sets up, runs the phases and writes the report; every process it
// started is stopped before it returns.
func run(ctx context.Context, cfg *config) (err error) {
	if cfg.root, err = os.MkdirTemp("", "sessiond-bench-"); err != nil {
		return err
	}
	if cfg.out == "" {
		cfg.out = filepath.Join(cfg.root, "results")
	}
	if err := mkdir(cfg.out); err != nil {
		return err
	}
	if cfg.luaScript == "" {
		exe, _ := os.Executable()
		cfg.luaScript = filepath.Join(filepath.Dir(exe), "wrk", "validate.lua")
	}
	procs := &procSet{dir: cfg.out}
	defer procs.stopAll()
	r := &runner{cfg: cfg, procs: procs, started: time.Now()}
	logf("bench: root %s, results %s, GOMAXPROCS %d, load %s", cfg.root, cfg.out, runtime.GOMAXPROCS(0), loadavg())
	if err := r.setup(ctx); err != nil {
		return err
	}
	phaseErr := r.phases(ctx)
	if werr := r.report(); werr != nil && phaseErr == nil {
		phaseErr = werr
	}
	procs.stopAll()
	for _, pat := range []string{"sessiond-n*", "etcd*", "redis", "raftfloor-f*", "*.tokens"} {
		dirs, _ := filepath.Glob(filepath.Join(cfg.root, pat))
		for _, d := range dirs {
			os.RemoveAll(d) // data dirs; the results and logs stay
		}
	}
	return phaseErr
}

// loadavg is /proc/loadavg's first three fields.
func loadavg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// machine describes where the numbers come from.
func machine() map[string]any {
	m := map[string]any{"goos": runtime.GOOS, "goarch": runtime.GOARCH, "cpus": runtime.NumCPU(), "go": runtime.Version()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		m["kernel"] = strings.TrimSpace(string(out))
	}
	return m
}

// writeJSON writes v to path, indented.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}
