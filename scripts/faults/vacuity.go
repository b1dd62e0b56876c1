package faults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// A run passes only when it tested something: the checks below fail a
// scenario whose nemesis injected nothing, whose snapshot install never
// happened, whose checkers examined nothing, or whose faulted node saw no
// traffic while faulted.

// mayBeEmpty names, per scenario, the checkers that may examine nothing
// and why. P8 has nothing to examine unless sessions expire during the
// run, which only the scenarios with short TTLs arrange.
var mayBeEmpty = map[string]string{
	"P8": "sessions live longer than the run (no short TTL in this scenario)",
	// The credentials workload needs a whole round (a key added, a JWT
	// login, a second key, the revocation acknowledged, a probe answered;
	// a client created, deleted, probed) to examine anything: a short run
	// whose faults take the cluster down (kill-all) may complete none.
	// `all` (30 s and more) must examine both; the mutant runner needs
	// them to fail, not to be non-empty.
	"P2-key":    "no key revocation completed a round in this short faulted run",
	"P2-client": "no client deletion completed a round in this short faulted run",
}

// CheckFaultsInjected fails a fault scenario whose nemesis injected
// nothing, and a snapshot-install scenario where no follower was held
// back until a snapshot passed it.
func CheckFaultsInjected(scenario string, events []FaultEvent) Verdict {
	v := Verdict{Name: "nemesis injected the scenario's faults"}
	if scenario == ScNone || scenario == ScExpiry {
		v.Result = Pass
		v.Detail = append(v.Detail, "no faults by design")
		return v
	}
	if len(events) == 0 {
		v.violation("no fault was injected")
	}
	if scenario == ScSnapshotInstall {
		installs := 0
		for _, e := range events {
			if strings.HasPrefix(e.Note, "held back") {
				installs++
			}
		}
		if installs == 0 {
			v.violation("no follower was held back past a snapshot: no snapshot install happened")
		}
		v.Detail = append(v.Detail, fmt.Sprintf("%d snapshot installs", installs))
	}
	v.Detail = append(v.Detail, fmt.Sprintf("%d faults", len(events)))
	v.passUnlessFailed()
	return v
}

// CheckNotVacuous fails every checker verdict that examined nothing
// (its first count is 0), unless mayBeEmpty excuses it for this scenario.
func CheckNotVacuous(scenario string, verdicts []Verdict) Verdict {
	v := Verdict{Name: "every checker examined something"}
	for _, x := range verdicts {
		n, ok := firstCount(x.Detail)
		if !ok || n > 0 {
			continue
		}
		key := strings.Fields(x.Name)[0]
		if why, excused := mayBeEmpty[key]; excused && scenario != ScExpiry && scenario != ScAll {
			v.Detail = append(v.Detail, fmt.Sprintf("%s examined nothing: allowed, %s", key, why))
			continue
		}
		v.violation("%q examined nothing", x.Name)
	}
	v.passUnlessFailed()
	return v
}

// firstCount is the leading number of the first detail line that starts
// with one (each checker ends its detail with its counts).
func firstCount(detail []string) (int, bool) {
	for _, d := range detail {
		f := strings.Fields(d)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.Atoi(f[0]); err == nil {
			return n, true
		}
	}
	return 0, false
}

// CheckTargetTraffic counts the operations on the faulted node in flight
// during each fault window aimed at one node, and fails when a window saw
// none: a fault nobody talked to proves nothing.
func CheckTargetTraffic(h History, events []FaultEvent, ids []string) Verdict {
	v := Verdict{Name: "operations on the faulted node in every fault window"}
	var counts, answered []int
	for _, e := range events {
		target := ""
		for _, id := range ids {
			if e.Target == id || e.Target == "["+id+"]" || e.Target == id+"->others" {
				target = id
			}
		}
		if target == "" {
			continue
		}
		n, a := 0, 0
		for _, op := range h.Ops {
			// In flight during the window, not only started in it: a
			// request that was under way when the fault hit met it (a
			// short window may start none while workers wait on the
			// faulted node).
			if op.Node == target && !op.Sweep && op.Call <= e.End && op.Return >= e.Start {
				n++
				if op.Status != 0 {
					a++
				}
			}
		}
		counts, answered = append(counts, n), append(answered, a)
		if n == 0 {
			v.violation("%s on %s (%v): no operation reached the faulted node", e.Kind, target, time.Duration(e.End-e.Start))
		}
	}
	if len(counts) > 0 {
		v.Detail = append(v.Detail, fmt.Sprintf("%d windows: ops sent to the target per window %s; answered %s",
			len(counts), spread(counts), spread(answered)))
	} else {
		v.Result = Pass
		v.Detail = append(v.Detail, "no fault aimed at one node")
	}
	v.passUnlessFailed()
	return v
}

// spread renders min/median/max.
func spread(xs []int) string {
	s := append([]int(nil), xs...)
	sort.Ints(s)
	return fmt.Sprintf("min %d median %d max %d", s[0], s[len(s)/2], s[len(s)-1])
}

// CheckLogSyncs is the NoSync check: raft-boltdb opened with NoSync true
// commits without fdatasync, which no history shows until power fails. The
// suite traces node i's fdatasync calls (strace) while it takes writes and
// fails when there were none. Skipped without strace.
func CheckLogSyncs(ctx context.Context, cl *Cluster, i int, adminPassword string) Verdict {
	v := Verdict{Name: "raft log is fsynced (raft-boltdb NoSync false)"}
	if _, err := exec.LookPath("strace"); err != nil {
		v.Result = Skipped
		v.Detail = append(v.Detail, "0 syncs: strace not installed")
		return v
	}
	pid := cl.Procs[i].Pid()
	if pid <= 0 {
		v.violation("%s not running", cl.Procs[i].ID)
		return v
	}
	tctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	cmd := exec.CommandContext(tctx, "strace", "-f", "-qq", "-e", "trace=fdatasync,fsync", "-p", strconv.Itoa(pid))
	var out strings.Builder
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		v.Result = Skipped
		v.Detail = append(v.Detail, "0 syncs: strace: "+err.Error())
		return v
	}
	sleepCtx(tctx, 500*time.Millisecond) // strace attaches to every thread
	writes := 0
	for k := 0; k < 10; k++ {
		if r, _ := cl.Client.Login(tctx, i, "admin", adminPassword); r.Token != "" {
			writes++
		}
	}
	sleepCtx(tctx, 300*time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	syncs := strings.Count(out.String(), "fdatasync(")
	v.Detail = append(v.Detail, fmt.Sprintf("%d fdatasync calls on %s over %d acknowledged writes", syncs, cl.Procs[i].ID, writes))
	if writes == 0 {
		v.violation("no write succeeded while tracing")
	} else if syncs == 0 {
		v.violation("%s acknowledged %d writes without one fdatasync: the raft log is not synced", cl.Procs[i].ID, writes)
	}
	v.passUnlessFailed()
	return v
}
