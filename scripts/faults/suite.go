package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure one run of one scenario.
type Options struct {
	Scenario string
	Nodes    int
	Duration time.Duration // workload time under faults
	Dir      string        // run directory: data dirs, logs, history, report
	Binary   string        // built sessiond
	NetMode  string        // "", "netns" or "loopback"
	// Election is the Raft election (and heartbeat) timeout of the nodes.
	Election time.Duration
	MaxStale time.Duration
	// Skew is the clock skew P8 allows (all nodes share this machine's
	// clock; the allowance covers scheduling and rounding).
	Skew             time.Duration
	Workload         WorkloadConfig
	PorcupineTimeout time.Duration
	// SnapshotWait bounds how long the snapshot-install fault holds a
	// follower back waiting for the leader to compact past it (default
	// 15 election timeouts; long runs use minutes, as Raft's default
	// snapshot interval is 2 minutes).
	SnapshotWait time.Duration
	Seed         uint64
	Log          func(format string, args ...any)
}

// minSnapshotInstallRun is the shortest snapshot-install run.
const minSnapshotInstallRun = 15 * time.Second

// DefaultOptions are short-run settings for the given scenario.
func DefaultOptions(scenario string) Options {
	return Options{
		Scenario: scenario, Nodes: 3, Duration: 15 * time.Second,
		Election: time.Second, MaxStale: time.Second, Skew: time.Second,
		Workload: DefaultWorkload(), PorcupineTimeout: 2 * time.Minute,
	}
}

// Report is what a run found.
type Report struct {
	Scenario string         `json:"scenario"`
	Mode     string         `json:"mode"`
	Nodes    int            `json:"nodes"`
	Duration string         `json:"duration"`
	Ops      map[string]int `json:"ops"`
	Faults   map[string]int `json:"faults"`
	Verdicts []Verdict      `json:"verdicts"`
	Crashes  []string       `json:"crashes,omitempty"`
	Notes    []string       `json:"notes,omitempty"`
	Dir      string         `json:"dir"`
}

// Passed reports whether every verdict passed or was skipped, and no
// node crashed by itself.
func (r *Report) Passed() bool {
	if len(r.Verdicts) == 0 {
		return false // the run ended before any check: nothing passed
	}
	for _, v := range r.Verdicts {
		if v.Result == Fail || v.Result == Inconclusive {
			return false
		}
	}
	return len(r.Crashes) == 0
}

// Run runs one scenario end to end: start a cluster, create users, run the
// workload under the nemesis, heal, sweep, wait for convergence, stop,
// scan the disk, check, and write history.json, report.json (and
// history.html when P1 fails) into opts.Dir.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Log == nil {
		opts.Log = func(string, ...any) {}
	}
	var floorNote string
	if opts.Scenario == ScSnapshotInstall && opts.Duration < minSnapshotInstallRun {
		// One hold-back must fit: the follower is cut off, the majority
		// writes a snapshot past it, then it is let go and killed mid-install.
		// In a shorter run a fault that starts late is cut by the end of the
		// run before any install, and the scenario would prove nothing.
		floorNote = fmt.Sprintf("run lengthened from %v to %v: one snapshot install must fit", opts.Duration, minSnapshotInstallRun)
		opts.Duration = minSnapshotInstallRun
	}
	rep := &Report{Scenario: opts.Scenario, Nodes: opts.Nodes, Duration: opts.Duration.String(), Dir: opts.Dir}
	if floorNote != "" {
		rep.Notes = append(rep.Notes, floorNote)
	}
	ids := make([]string, opts.Nodes)
	for i := range ids {
		ids[i] = fmt.Sprintf("node-%02d", i+1)
	}
	nw, err := NewNetwork(opts.NetMode, opts.Nodes, ids)
	if err != nil {
		return nil, err
	}
	defer nw.Close()
	rep.Mode = nw.Mode()
	opts.Log("%s: %d nodes, network mode %s, dir %s", opts.Scenario, opts.Nodes, rep.Mode, opts.Dir)

	snapFlags := binaryHasFlags(opts.Binary, "trailing-logs", "snapshot-interval")
	ccfg := ClusterConfig{
		Nodes: opts.Nodes, Binary: opts.Binary, Dir: opts.Dir, Net: nw, IDs: ids,
		ClusterKey: randomHex(24), AdminPassword: newPassword(),
		HeartbeatTimeout: opts.Election, ElectionTimeout: opts.Election, MaxStale: opts.MaxStale,
		TmpfsNode: -1, ClockFiles: binaryHasFlags(opts.Binary, "fault-clock-file"),
	}
	// Snapshots early and often where a node restarts or falls behind, so
	// a restart or catch-up starts from a real snapshot with something in
	// it to resurrect.
	trailing := 32
	if opts.Scenario == ScSnapshotInstall {
		// The held-back follower must fall a snapshot behind within one
		// short run: snapshot every 16 entries, keep 8.
		trailing = 8
	}
	switch opts.Scenario {
	case ScSnapshotInstall, ScAll, ScKillFollower, ScKillLeader, ScKillAll:
		ccfg.SnapshotThreshold = uint64(2 * trailing)
		if snapFlags {
			ccfg.ExtraFlags = append(ccfg.ExtraFlags, "--trailing-logs", fmt.Sprint(trailing), "--snapshot-interval", "1s")
		} else {
			rep.Notes = append(rep.Notes, "binary has no --trailing-logs/--snapshot-interval: snapshots follow Raft's 120 s interval, so a held-back follower may catch up from the log")
		}
	}
	if (opts.Scenario == ScDiskFull || opts.Scenario == ScAll) && os.Geteuid() == 0 {
		ccfg.TmpfsNode, ccfg.TmpfsSize = opts.Nodes-1, "48m"
	} else if opts.Scenario == ScDiskFull {
		rep.Notes = append(rep.Notes, "disk-full skipped: a tmpfs data dir needs root")
	}
	start := time.Now()
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	cl, err := StartCluster(cctx, ccfg)
	cancel()
	if err != nil {
		return rep, err
	}
	defer cl.Close()
	opts.Log("cluster ready in %v", time.Since(start).Round(time.Millisecond))

	rec := NewRecorder()
	if opts.Scenario == ScExpiry || opts.Scenario == ScAll {
		// Probe sessions just after they expired, before the purge (30 s).
		opts.Workload.ExpiryEvery, opts.Workload.ExpirySkew = 3, opts.Skew
		// The scenario shortens native sessions' TTL (below): the prober
		// logs in natively, so every probe expires within the run.
		opts.Workload.ExpiryDialects = []string{dialNative}
		if opts.Scenario == ScAll {
			// Knox sessions with a 4 s TTL and Odoo sessions with a 3 s
			// idle timeout, in turn: probes log in every second and each
			// is examined 4–5 s past its login, inside any run from 30 s.
			// Odoo is the prober's alone in this scenario (OdooIdle).
			opts.Workload.ExpiryEvery, opts.Workload.ExpiryDialects = 10, []string{dialKnox, dialOdoo}
			opts.Workload.OdooIdle, opts.Workload.OdooPct = 3*time.Second, 0
		}
	}
	wl := NewWorkload(opts.Workload, cl, rec)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := cl.Client.AdminLogin(sctx, 0, ccfg.AdminPassword); err != nil {
		return rep, err
	}
	if ttl := map[string]map[string]any{ScExpiry: {"native_ttl_seconds": 3}, ScAll: {"knox_ttl_seconds": 4, "odoo_idle_seconds": 3}}[opts.Scenario]; ttl != nil {
		// Short TTLs so that sessions expire while the workload runs (P8).
		if a := cl.Client.PatchSettings(sctx, 0, ttl); a.Status != 200 {
			return rep, fmt.Errorf("faults: settings: %d %s %v", a.Status, a.Body, a.Err)
		}
	}
	if err := wl.Setup(sctx); err != nil {
		return rep, err
	}

	// Sample every node's role and term for P6 while the run lasts.
	var samples []NodeState
	var smu sync.Mutex
	sampCtx, stopSampling := context.WithCancel(ctx)
	var sampWG sync.WaitGroup
	sampWG.Add(1)
	go func() {
		defer sampWG.Done()
		for sleepCtx(sampCtx, 150*time.Millisecond) {
			for i := range cl.Procs {
				st, err := cl.Client.Status(sampCtx, i, false)
				if err != nil {
					continue
				}
				st.At = rec.Now()
				smu.Lock()
				samples = append(samples, st)
				smu.Unlock()
			}
		}
	}()

	seed := opts.Seed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	nem := &Nemesis{cl: cl, net: nw, rec: rec, election: opts.Election, r: mrand.New(mrand.NewPCG(seed, 7)),
		log: opts.Log, snapshotFlags: snapFlags, trailingLogs: 10240, snapshotWait: opts.SnapshotWait}
	if snapFlags {
		nem.trailingLogs = uint64(trailing)
	}
	if nem.snapshotWait <= 0 {
		nem.snapshotWait = 15 * opts.Election
	}
	wl.Target = nem.Target
	nem.wl = wl
	rctx, stopRun := context.WithTimeout(ctx, opts.Duration)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); wl.Run(rctx) }()
	go func() { defer wg.Done(); nem.Run(rctx, opts.Scenario) }()
	wg.Wait()
	stopRun()
	nem.HealAll()
	opts.Log("workload done: %d operations, %d faults", len(rec.History().Ops), len(nem.Events()))

	// Recovery: every node ready, then the sweep and convergence.
	rctx2, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := cl.WaitReady(rctx2, nil); err != nil {
		rep.Notes = append(rep.Notes, "not every node became ready after healing: "+err.Error())
	}
	// The sweep gets time in proportion to the logins it checks.
	swctx, cancel := context.WithTimeout(ctx, 2*time.Minute+time.Duration(len(rec.History().Ops))*time.Millisecond)
	defer cancel()
	wl.Sweep(swctx)
	cvctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	final := waitConverged(cvctx, cl)
	stopSampling()
	sampWG.Wait()
	syncNode := 0
	if l, ok := cl.leaderOnce(ctx); ok {
		syncNode = l
	}
	syncs := CheckLogSyncs(ctx, cl, syncNode, ccfg.AdminPassword)
	// Every node's event stream, read before the nodes stop (issue 27).
	streams, hasEvents, streamErr := EventStreams(ctx, cl)

	for _, p := range cl.Procs {
		rep.Crashes = append(rep.Crashes, p.Crashes()...)
	}
	cl.Stop()
	h := rec.History()
	rep.Ops = h.Counts()
	rep.Faults = map[string]int{}
	for _, e := range nem.Events() {
		rep.Faults[e.Kind]++
	}
	h.Save(filepath.Join(opts.Dir, "history.json"))
	writeJSON(filepath.Join(opts.Dir, "faults.json"), nem.Events())

	var tokens []string
	for t := range h.tokens() {
		tokens = append(tokens, t)
	}
	html := filepath.Join(opts.Dir, "history.html")
	rep.Verdicts = []Verdict{
		CheckLinearizable(h, opts.PorcupineTimeout, html),
		// Bound 0 at default as at consistent: a revocation is final on
		// every lease holder before it is acknowledged (cluster/leases.go).
		CheckRevocationBound(h, 0),
		CheckKeyRevocation(h),
		CheckClientRevocation(h),
		CheckDurability(h, time.Now()),
		CheckMonotonicRevocation(h),
		CheckConvergence(final),
		CheckOneLeaderPerTerm(samples),
		CheckNoSecrets(nodeFiles(cl), tokens, append(wl.Passwords(), ccfg.AdminPassword)),
		CheckExpiry(h, opts.Skew),
		CheckCorrectLogins(h),
		syncs,
		eventsVerdict(h, streams, hasEvents, streamErr),
	}
	rep.Verdicts = append(rep.Verdicts,
		CheckNotVacuous(opts.Scenario, rep.Verdicts),
		CheckFaultsInjected(opts.Scenario, nem.Events()),
		CheckTargetTraffic(h, nem.Events(), ids))
	writeJSON(filepath.Join(opts.Dir, "report.json"), rep)
	return rep, nil
}

// waitConverged polls every node's hashed status until all report the
// same applied index and state hash (or ctx ends) and returns the last
// statuses.
func waitConverged(ctx context.Context, cl *Cluster) []NodeState {
	var last []NodeState
	for {
		last = last[:0]
		for i := range cl.Procs {
			st, err := cl.Client.Status(ctx, i, true)
			if err != nil {
				st.Err = err.Error()
			}
			last = append(last, st)
		}
		if CheckConvergence(last).Result == Pass || !sleepCtx(ctx, 250*time.Millisecond) {
			return last
		}
	}
}

// nodeFiles are the places P7 searches: every data dir and every log.
func nodeFiles(cl *Cluster) []string {
	var out []string
	for _, p := range cl.Procs {
		out = append(out, p.DataDir, p.LogPath)
	}
	return out
}

// binaryHasFlags reports whether `sessiond serve -h` lists every flag.
func binaryHasFlags(bin string, flags ...string) bool {
	out, _ := exec.Command(bin, "serve", "-h").CombinedOutput()
	for _, f := range flags {
		if !strings.Contains(string(out), "-"+f+" ") && !strings.Contains(string(out), "-"+f+"\n") {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// Table renders reports as the summary table: operations per kind,
// faults per kind, checker verdicts.
func Table(reps []*Report) string {
	var b strings.Builder
	for _, r := range reps {
		status := "PASS"
		if !r.Passed() {
			status = "FAIL"
		}
		fmt.Fprintf(&b, "== %s: %s (%d nodes, %s mode, %s under faults)\n", r.Scenario, status, r.Nodes, r.Mode, r.Duration)
		fmt.Fprintf(&b, "   %-34s %8s\n", "operations", "count")
		for _, k := range sortedKeys(r.Ops) {
			fmt.Fprintf(&b, "   %-34s %8d\n", k, r.Ops[k])
		}
		if len(r.Faults) > 0 {
			fmt.Fprintf(&b, "   %-34s %8s\n", "faults", "count")
			for _, k := range sortedKeys(r.Faults) {
				fmt.Fprintf(&b, "   %-34s %8d\n", k, r.Faults[k])
			}
		}
		fmt.Fprintf(&b, "   %-50s %s\n", "checker", "verdict")
		for _, v := range r.Verdicts {
			fmt.Fprintf(&b, "   %-50s %s\n", v.Name, v.Result)
			if v.Result != Pass || strings.HasPrefix(v.Name, "operations on") || strings.HasPrefix(v.Name, "raft log") {
				for _, d := range v.Detail {
					fmt.Fprintf(&b, "      %s\n", d)
				}
			}
		}
		for _, c := range r.Crashes {
			fmt.Fprintf(&b, "   crash: %s\n", c)
		}
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "   note: %s\n", n)
		}
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
