// Command faults runs sessiond's fault suite: each scenario against a fresh
// cluster of real processes, then prints the summary table. scripts/faults.sh
// is its usual entry point.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
	"github.com/sessiond/sessiond/scripts/faults"
)

func main() {
	var (
		scenarios = flag.String("scenarios", strings.Join(faults.Scenarios, ","), "comma-separated scenarios (or \"all\": a random mix of every fault)")
		nodes     = flag.Int("nodes", 3, "cluster size")
		duration  = flag.Duration("duration", 20*time.Second, "workload time under faults, per scenario")
		dir       = flag.String("dir", "", "where runs keep data dirs, logs and histories (default a new temp dir)")
		binary    = flag.String("binary", "", "a built sessiond (default: build ./cmd/sessiond)")
		mode      = flag.String("net", "", "network mode: netns or loopback (default netns when root with iptables)")
		election  = flag.Duration("election-timeout", time.Second, "Raft election and heartbeat timeout of the nodes")
		maxStale  = flag.Duration("max-stale", time.Second, "the nodes' --max-stale")
		workers   = flag.Int("workers", 16, "concurrent clients")
		snapWait  = flag.Duration("snapshot-wait", 0, "how long snapshot-install holds a follower back for a compaction (default 15 election timeouts)")
		keep      = flag.Bool("keep", false, "keep run directories of passing runs too")
		check     = flag.String("check", "", "only re-check a kept history.json (P1, P2, P4, P8) and exit")
	)
	flag.Parse()
	if *check != "" {
		os.Exit(recheck(*check, *maxStale))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *scenarios, *nodes, *duration, *dir, *binary, *mode, *election, *maxStale, *snapWait, *workers, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, scenarios string, nodes int, duration time.Duration, dir, binary, mode string,
	election, maxStale, snapWait time.Duration, workers int, keep bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "sessiond-faults-")
		if err != nil {
			return err
		}
		dir = d
	}
	if binary == "" {
		wd, _ := os.Getwd()
		root, err := proctest.ModuleRoot(wd)
		if err != nil {
			return err
		}
		if binary, err = proctest.Build(ctx, root, dir, false); err != nil {
			return err
		}
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
	}
	var reps []*faults.Report
	failed := false
	for _, sc := range strings.Split(scenarios, ",") {
		sc = strings.TrimSpace(sc)
		if sc == "" {
			continue
		}
		opts := faults.DefaultOptions(sc)
		opts.Nodes, opts.Duration, opts.Binary, opts.NetMode = nodes, duration, binary, mode
		opts.Election, opts.MaxStale, opts.Log = election, maxStale, logf
		opts.Workload.Workers = workers
		opts.SnapshotWait = snapWait
		opts.Dir = filepath.Join(dir, sc)
		if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
			return err
		}
		rep, err := faults.Run(ctx, opts)
		if err != nil {
			failed = true
			logf("%s: run failed: %v (kept in %s)", sc, err, opts.Dir)
			if rep != nil {
				rep.Notes = append(rep.Notes, "run failed: "+err.Error())
				reps = append(reps, rep)
			}
			continue
		}
		reps = append(reps, rep)
		if !rep.Passed() {
			failed = true
			logf("%s: FAILED, history kept in %s", sc, opts.Dir)
		} else if !keep {
			os.RemoveAll(opts.Dir)
		}
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Print(faults.Table(reps))
	if failed {
		return fmt.Errorf("some scenarios failed; runs kept under %s", dir)
	}
	return nil
}

// recheck runs the history checkers on a kept history.
func recheck(path string, maxStale time.Duration) int {
	h, err := faults.LoadHistory(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	html := strings.TrimSuffix(path, ".json") + ".html"
	code := 0
	for _, v := range []faults.Verdict{
		faults.CheckLinearizable(h, 5*time.Minute, html),
		faults.CheckRevocationBound(h, maxStale),
		faults.CheckMonotonicRevocation(h),
		faults.CheckExpiry(h, time.Second),
	} {
		fmt.Printf("%-50s %s\n", v.Name, v.Result)
		for _, d := range v.Detail {
			fmt.Printf("   %s\n", d)
		}
		if v.Result == faults.Fail || v.Result == faults.Inconclusive {
			code = 1
		}
	}
	return code
}
