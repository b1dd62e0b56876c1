package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// runner holds what setup started and what the phases measured.
type runner struct {
	cfg     *config
	procs   *procSet
	started time.Time

	sd        *sdCluster
	one       *sdCluster // the one-node flood cluster (flood1), started on first use
	baseURL   string
	nginxAuth string // nginx with docs/deploy/nginx.conf (proxy), started on first use
	nginxBare string // the same nginx, no auth_request
	redis     *redisTarget
	etcd      *etcdCluster
	floor     *floorCluster
	tokenFile string

	sdLogout, sdAll       *pool // sessiond's prefilled logout pools
	etcdLogout, etcdAll   *pool
	redisLogout, redisAll *pool
	floorLogout           *pool

	results []result
	extras  map[string]any // failover, startup, memory, hashing figures
}

func (r *runner) setup(ctx context.Context) error {
	cfg := r.cfg
	r.extras = map[string]any{}
	flags := append(benchNodeFlags(), cfg.nodeFlags...)
	if cfg.workloads["events"] {
		flags = append(flags, "--webhook-allow-private") // the receivers are on 127.0.0.1
	}
	sd, err := newSDCluster(cfg.bin, r.procs, cfg.root, 3, flags)
	if err != nil {
		return err
	}
	r.sd = sd
	if cfg.pprofDir != "" {
		if err := sd.enablePprof(); err != nil {
			return err
		}
	}
	if err := sd.start(ctx); err != nil {
		return fmt.Errorf("sessiond cluster: %w", err)
	}
	if err := sd.prefill(ctx, cfg.plan); err != nil {
		return fmt.Errorf("sessiond prefill: %w", err)
	}
	newPools := func() (*pool, *pool) {
		return &pool{n: cfg.plan.LogoutPool}, &pool{n: cfg.plan.LogoutAllPool}
	}
	r.sdLogout, r.sdAll = newPools()
	r.tokenFile = filepath.Join(cfg.root, "validate.tokens")
	if err := writeTokenFile(r.tokenFile, cfg.wrkTokens); err != nil {
		return err
	}
	if cfg.targets["baseline"] {
		port, err := proctest.Port()
		if err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		p, err := r.procs.start("baseline", nil, exe, "baseline", "-addr", addr,
			"-tokens", strconv.Itoa(cfg.plan.Sessions), "-users", strconv.Itoa(cfg.plan.MinUsers))
		if err != nil {
			return err
		}
		r.baseURL = "http://" + addr
		if err := waitFor(ctx, time.Minute, "baseline", p, func() bool { return httpOK(r.baseURL + "/ping") }); err != nil {
			return err
		}
	}
	if cfg.targets["redis"] {
		if r.redis, err = startRedis(ctx, r.procs, cfg.redisBin, cfg.root); err != nil {
			return fmt.Errorf("redis: %w", err)
		}
		rp := redisPlan(cfg.plan)
		if err := r.redis.prefill(ctx, rp); err != nil {
			return fmt.Errorf("redis prefill: %w", err)
		}
		r.redisLogout, r.redisAll = &pool{n: rp.LogoutPool}, &pool{n: rp.LogoutAllPool}
	}
	if cfg.targets["etcd"] {
		if r.etcd, err = startEtcd(ctx, r.procs, cfg.etcdBin, cfg.root); err != nil {
			return fmt.Errorf("etcd: %w", err)
		}
		t0 := time.Now()
		if err := r.etcd.prefill(ctx, cfg.plan); err != nil {
			return fmt.Errorf("etcd prefill: %w", err)
		}
		logf("etcd prefill: %v", time.Since(t0).Round(time.Millisecond))
		r.etcdLogout, r.etcdAll = newPools()
	}
	if cfg.targets["raftfloor"] {
		if r.floor, err = startFloor(ctx, r.procs, cfg.root, cfg.floorBatch); err != nil {
			return fmt.Errorf("raftfloor: %w", err)
		}
		r.floorLogout = &pool{n: cfg.plan.LogoutPool}
	}
	return nil
}

// sdTarget is the native API of the given nodes at a consistency level.
func (r *runner) sdTarget(label string, nodes []*sdNode, level string, conns int) *httpTarget {
	var bases []string
	for _, n := range nodes {
		bases = append(bases, n.url)
	}
	q := ""
	if level != "" {
		q = "?consistency=" + level
	}
	return newHTTPTarget(label, bases, q, conns)
}

// record stores a result and prints it.
func (r *runner) record(res result, target, workload, node string, round int) result {
	res.Target, res.Workload, res.Node, res.Round = target, workload, node, round
	res.Load1 = loadavg()
	r.results = append(r.results, res)
	logf("%-22s %-24s %-8s %-10s c%-3d r%d %10.0f ops/s  p50 %7.3f  p99 %7.3f  p99.9 %7.3f ms  err %d %s",
		res.Target, res.Workload, res.Node, res.Level, res.Conc, round, res.OpsPerSec, res.P50, res.P99, res.P999, res.Errors, res.ErrSample)
	return res
}

// goRun drives a Go workload and measures the server CPU it cost.
func (r *runner) goRun(ctx context.Context, cpu func() float64, conc int, newOp func(int) opFn) result {
	c0 := cpu()
	res := drive(ctx, conc, r.cfg.warmup, r.cfg.d, r.cfg.maxOps, newOp)
	res.ServerCPU = cpu() - c0
	return res
}

func noCPU() float64 { return 0 }

// phases runs the selected workloads, interleaving the rounds: each round
// runs every comparison once, so slow drift of the machine hits all
// targets alike; c1 runs and one-off measures happen in round 1.
func (r *runner) phases(ctx context.Context) error {
	w := r.cfg.workloads
	if w["memory"] {
		if err := r.phaseMemory(ctx); err != nil {
			return err
		}
	}
	for round := 1; round <= r.cfg.rounds; round++ {
		logf("round %d of %d (load %s)", round, r.cfg.rounds, loadavg())
		steps := []struct {
			name string
			fn   func(context.Context, int) error
		}{
			{"validate-wrk", r.phaseValidateWrk}, {"validate-go", r.phaseValidateGo},
			{"login", r.phaseLogin}, {"logout", r.phaseLogout}, {"logoutall", r.phaseLogoutAll},
			{"mixed", r.phaseMixed}, {"flood", r.phaseFlood}, {"flood1", r.phaseFlood1}, {"proxy", r.phaseProxy}, {"snapshot", r.phaseSnapshot},
			{"startup", r.phaseStartup}, {"events", r.phaseEvents},
		}
		for _, s := range steps {
			if !w[s.name] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := s.fn(ctx, round); err != nil {
				return fmt.Errorf("%s (round %d): %w", s.name, round, err)
			}
		}
	}
	if w["failover"] {
		return r.phaseFailover(ctx)
	}
	return nil
}

// phaseValidateWrk is the raw validation throughput: the baseline's /ping
// and validator, then every node role × level, through wrk.
func (r *runner) phaseValidateWrk(ctx context.Context, round int) error {
	leader, followers, err := r.sd.roles(ctx)
	if err != nil {
		return err
	}
	concs := []int{64}
	if round == 1 {
		concs = []int{1, 64}
	}
	for _, c := range concs {
		if r.baseURL != "" {
			// ping-tok is /ping sent the validation's own request (the same
			// rotating Bearer header, which it ignores): wrk's Lua builds
			// that header per request and the server parses it, both on
			// the same 2 cores, so only this row isolates the handler.
			for _, p := range []struct{ wl, path, tokens string }{{"ping", "/ping", ""}, {"ping-tok", "/ping", r.tokenFile}, {"validate", "/v1/session", r.tokenFile}} {
				res, err := r.cfg.runWrk(ctx, wrkRun{url: r.baseURL, path: p.path, tokens: p.tokens, conc: c, d: r.cfg.d})
				if err != nil {
					return err
				}
				r.record(res, "baseline", p.wl, "", round)
			}
		}
		for _, n := range []struct {
			role string
			node *sdNode
		}{{"follower", followers[0]}, {"leader", leader}} {
			for _, lv := range []string{"default", "consistent", "stale"} {
				if !r.cfg.levels[lv] {
					continue
				}
				c0 := r.sd.cpuSeconds()
				res, err := r.cfg.runWrk(ctx, wrkRun{url: n.node.url, path: "/v1/session", level: lv, tokens: r.tokenFile, conc: c, d: r.cfg.d})
				if err != nil {
					return err
				}
				res.ServerCPU = r.sd.cpuSeconds() - c0
				r.record(res, "sessiond", "validate", n.role, round)
				if n.role == "follower" && lv == "default" {
					// Forward auth right after, same node and tokens.
					res, err := r.cfg.runWrk(ctx, wrkRun{url: n.node.url, path: "/v1/authz", tokens: r.tokenFile, conc: c, d: r.cfg.d})
					if err != nil {
						return err
					}
					r.record(res, "sessiond", "authz", n.role, round)
				}
			}
		}
	}
	return nil
}

// phaseValidateGo validates through the Go driver on every target, all
// nodes round robin (as etcd's client spreads over its members).
func (r *runner) phaseValidateGo(ctx context.Context, round int) error {
	concs := []int{64}
	if round == 1 {
		concs = []int{1, 64}
	}
	n := r.cfg.plan.Sessions
	for _, c := range concs {
		for _, lv := range []string{"default", "consistent"} {
			if !r.cfg.levels[lv] {
				continue
			}
			t := r.sdTarget("sessiond", r.sd.nodes, lv, c)
			res := r.goRun(ctx, r.sd.cpuSeconds, c, validateOp(t, n))
			res.Level = lv
			r.record(res, "sessiond", "validate-go", "all", round)
		}
		if r.baseURL != "" {
			t := newHTTPTarget("baseline", []string{r.baseURL}, "", c)
			r.record(r.goRun(ctx, noCPU, c, validateOp(t, n)), "baseline", "validate-go", "", round)
		}
		if r.etcd != nil {
			for _, ser := range []bool{true, false} {
				r.etcd.serializable = ser
				r.record(r.goRun(ctx, r.etcd.cpuSeconds, c, validateOp(r.etcd, n)), r.etcd.name(), "validate-go", "all", round)
			}
		}
		if r.redis != nil {
			r.record(r.goRun(ctx, noCPU, c, validateOp(r.redis, n)), r.redis.name(), "validate-go", "", round)
		}
	}
	return nil
}

// phaseLogin is login through every node round robin: minimal hashing
// (the replication path), production hashing, and the comparisons'
// session creation.
func (r *runner) phaseLogin(ctx context.Context, round int) error {
	concs := []int{64}
	if round == 1 {
		concs = []int{1, 64}
	}
	p := r.cfg.plan
	for _, c := range concs {
		t := r.sdTarget("sessiond", r.sd.nodes, "", c)
		wait := r.profiled(ctx, "login-minhash", c, round)
		r.record(r.goRun(ctx, r.sd.cpuSeconds, c, loginOp(t, kindMinUser, p.MinUsers, minPassword)), "sessiond", "login-minhash", "all", round)
		wait()
		if round == 1 {
			r.record(r.goRun(ctx, r.sd.cpuSeconds, c, loginOp(t, kindProdUser, p.ProdUsers, prodPassword)), "sessiond", "login-prodhash", "all", round)
		}
		if r.baseURL != "" {
			bt := newHTTPTarget("baseline", []string{r.baseURL}, "", c)
			r.record(r.goRun(ctx, noCPU, c, loginOp(bt, kindMinUser, p.MinUsers, minPassword)), "baseline", "login", "", round)
		}
		if r.etcd != nil {
			r.record(r.goRun(ctx, r.etcd.cpuSeconds, c, loginOp(r.etcd, kindMinUser, p.MinUsers, "")), "etcd", "login", "all", round)
		}
		if r.redis != nil {
			r.record(r.goRun(ctx, noCPU, c, loginOp(r.redis, kindMinUser, p.MinUsers, "")), r.redis.name(), "login", "", round)
		}
	}
	return nil
}

func (r *runner) phaseLogout(ctx context.Context, round int) error {
	concs := []int{64}
	if round == 1 {
		concs = []int{1, 64}
	}
	// Each run gets its share of the prefilled pool: the c1 run and one
	// c64 run per round.
	parts := r.cfg.rounds - round + len(concs)
	var leader *sdNode
	if r.floor != nil {
		// Next to the floor, sessiond is also measured the floor's way
		// (every logout sent to the leader), so the two rows differ only
		// in what sessiond does beyond Raft and not in forwarding.
		l, _, err := r.sd.roles(ctx)
		if err != nil {
			return err
		}
		leader = l
	}
	for _, c := range concs {
		t := r.sdTarget("sessiond", r.sd.nodes, "", c)
		share := r.sdLogout.share(parts)
		var leaderShare *pool
		if leader != nil {
			leaderShare = share.share(2)
		}
		wait := r.profiled(ctx, "logout", c, round)
		r.record(r.goRun(ctx, r.sd.cpuSeconds, c, logoutOp(t, share)), "sessiond", "logout", "all", round)
		wait()
		if leader != nil {
			lt := r.sdTarget("sessiond", []*sdNode{leader}, "", c)
			wait := r.profiled(ctx, "logout-leader", c, round)
			r.record(r.goRun(ctx, r.sd.cpuSeconds, c, logoutOp(lt, leaderShare)), "sessiond", "logout", "leader", round)
			wait()
		}
		if r.etcd != nil {
			r.record(r.goRun(ctx, r.etcd.cpuSeconds, c, logoutOp(r.etcd, r.etcdLogout.share(parts))), "etcd", "logout", "all", round)
		}
		if r.redis != nil {
			r.record(r.goRun(ctx, noCPU, c, logoutOp(r.redis, r.redisLogout.share(parts))), r.redis.name(), "logout", "", round)
		}
		if r.floor != nil {
			ft := newHTTPTarget("raftfloor", []string{r.floor.leaderURL}, "", c)
			r.record(r.goRun(ctx, r.floor.cpuSeconds, c, logoutOp(ft, r.floorLogout.share(parts))), "raftfloor", "logout", "leader", round)
		}
		parts--
	}
	return nil
}

func (r *runner) phaseLogoutAll(ctx context.Context, round int) error {
	if round != 1 {
		return nil
	}
	for parts, c := range []int{1, 64} { // parts: 2 for c1, then the rest for c64
		parts = 2 - parts
		t := r.sdTarget("sessiond", r.sd.nodes, "", c)
		r.record(r.goRun(ctx, r.sd.cpuSeconds, c, logoutAllOp(t, r.sdAll.share(parts))), "sessiond", "logoutall", "all", round)
		if r.etcd != nil {
			r.record(r.goRun(ctx, r.etcd.cpuSeconds, c, logoutAllOp(r.etcd, r.etcdAll.share(parts))), "etcd", "logoutall", "all", round)
		}
		if r.redis != nil {
			r.record(r.goRun(ctx, noCPU, c, logoutAllOp(r.redis, r.redisAll.share(parts))), r.redis.name(), "logoutall", "", round)
		}
	}
	return nil
}

// phaseMixed is 90% validate, 8% login (minimal hashing), 2% logout at
// c64 through every node.
func (r *runner) phaseMixed(ctx context.Context, round int) error {
	p := r.cfg.plan
	const c = 64
	t := r.sdTarget("sessiond", r.sd.nodes, "", c)
	wait := r.profiled(ctx, "mixed-90/8/2", c, round)
	r.record(r.goRun(ctx, r.sd.cpuSeconds, c, mixedOp(t, p.Sessions, p.MinUsers)), "sessiond", "mixed-90/8/2", "all", round)
	wait()
	if round != 1 {
		return nil
	}
	if r.baseURL != "" {
		bt := newHTTPTarget("baseline", []string{r.baseURL}, "", c)
		r.record(r.goRun(ctx, noCPU, c, mixedOp(bt, p.Sessions, p.MinUsers)), "baseline", "mixed-90/8/2", "", round)
	}
	if r.etcd != nil {
		r.etcd.serializable = true
		r.record(r.goRun(ctx, r.etcd.cpuSeconds, c, mixedOp(r.etcd, p.Sessions, p.MinUsers)), r.etcd.name(), "mixed-90/8/2", "all", round)
	}
	if r.redis != nil {
		r.record(r.goRun(ctx, noCPU, c, mixedOp(r.redis, p.Sessions, p.MinUsers)), r.redis.name(), "mixed-90/8/2", "", round)
	}
	return nil
}
