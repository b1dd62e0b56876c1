// Command mutants is the fault suite's mutation runner: for each planted
// bug of the catalogue it copies the repository (tracked files) to a
// temporary directory, applies the bug, builds sessiond there, runs the
// bug's scenarios through the fault suite of THIS tree (the suite is never
// mutated) and reports caught / not caught with the checkers that failed.
// It exits 1 when any mutant is not caught or does not apply. A mutant
// the fault suite cannot see names a unit test instead (Mutant.Unit):
// the runner runs that test in the mutated copy, and the mutant is caught
// when the test fails.
//
//	go run ./scripts/mutants              # the whole catalogue
//	go run ./scripts/mutants -fast        # CI's subset (unit tests where named)
//	go run ./scripts/mutants -unit        # every mutant that names a unit test, by it
//	go run ./scripts/mutants -only a,b -duration 8s -list
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/sessiond/sessiond/scripts/faults"
)

func main() {
	only := flag.String("only", "", "comma-separated mutant names (default: all)")
	fast := flag.Bool("fast", false, "only the fast subset CI runs (through its unit test where one is named)")
	unit := flag.Bool("unit", false, "only the mutants that name a unit test, each through it")
	list := flag.Bool("list", false, "list the catalogue and exit")
	dur := flag.Duration("duration", 6*time.Second, "workload time under faults per scenario")
	keep := flag.Bool("keep", false, "keep every run directory (failing builds are always kept)")
	flag.Parse()
	if *list {
		for _, m := range Catalogue {
			by := strings.Join(m.Scenarios, ",")
			if m.Unit != nil {
				by = strings.TrimPrefix(by+" unit:"+m.Unit.Run, " ")
			}
			fmt.Printf("%-32s %-18s %-22s %s\n", m.Name, by, m.Expect, m.Class)
		}
		return
	}
	root, err := repoRoot()
	if err != nil {
		fatal(err)
	}
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var results []result
	bad := 0
	for _, m := range Catalogue {
		if (len(want) > 0 && !want[m.Name]) || (*fast && !m.Fast) || (*unit && m.Unit == nil) {
			continue
		}
		byUnit := m.Unit != nil && (*unit || *fast || len(m.Scenarios) == 0)
		r := runMutant(root, m, *dur, *keep, byUnit)
		results = append(results, r)
		fmt.Printf("%-32s %-10s %s\n", m.Name, r.status, r.detail)
		if r.status != "caught" {
			bad++
		}
	}
	fmt.Println()
	fmt.Println("| mutant | class | scenario | caught by | expected |")
	fmt.Println("| --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", r.m.Name, r.m.Class, r.scenario, r.by, r.m.Expect)
	}
	if bad > 0 {
		fmt.Printf("\n%d of %d mutants not caught\n", bad, len(results))
		os.Exit(1)
	}
	fmt.Printf("\nall %d mutants caught\n", len(results))
}

type result struct {
	m        Mutant
	status   string // caught, NOT CAUGHT, stale, build failed, error
	scenario string
	by       string
	detail   string
}

// runMutant copies, patches, builds and runs one mutant's scenarios,
// stopping at the first scenario that catches it; byUnit runs its unit
// test instead.
func runMutant(root string, m Mutant, dur time.Duration, keep, byUnit bool) result {
	r := result{m: m, by: "-"}
	if m.Unit == nil && len(m.Scenarios) == 0 {
		return fail(r, "error", fmt.Errorf("%s names neither a scenario nor a unit test", m.Name))
	}
	dir, err := os.MkdirTemp("", "sessiond-mutant-"+m.Name+"-")
	if err != nil {
		return fail(r, "error", err)
	}
	if err := copyTracked(root, dir); err != nil {
		return fail(r, "error", err)
	}
	for _, e := range m.Edits {
		path := filepath.Join(dir, e.File)
		src, err := os.ReadFile(path)
		if err != nil {
			return fail(r, "stale", err)
		}
		if n := strings.Count(string(src), e.Find); n != 1 {
			return fail(r, "stale", fmt.Errorf("%s: the text to replace occurs %d times (want 1): %.60q", e.File, n, e.Find))
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(src), e.Find, e.Replace, 1)), 0o600); err != nil {
			return fail(r, "error", err)
		}
	}
	if byUnit {
		return runUnit(r, dir, keep)
	}
	bin := filepath.Join(dir, "sessiond.bin")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/sessiond")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		return fail(r, "build failed", fmt.Errorf("%v: %s (kept in %s)", err, out, dir))
	}
	defer func() {
		if !keep && r.status == "caught" {
			os.RemoveAll(dir)
		}
	}()
	dur = max(dur, m.Duration)
	for _, sc := range m.Scenarios {
		runDir := filepath.Join(dir, "run-"+sc)
		os.MkdirAll(runDir, 0o700)
		opts := faults.DefaultOptions(sc)
		opts.Duration, opts.Binary, opts.Dir = dur, bin, runDir
		opts.NetMode = os.Getenv("FAULTS_NET")
		ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
		rep, err := faults.Run(ctx, opts)
		cancel()
		r.scenario = sc
		if err != nil && rep == nil {
			return fail(r, "error", err)
		}
		if err != nil {
			// The run could not complete (e.g. the cluster never formed):
			// the mutant broke the service outright, which is caught.
			r.status, r.by, r.detail = "caught", "run failed", err.Error()
			return r
		}
		var by []string
		for _, v := range rep.Verdicts {
			if v.Result == faults.Fail || v.Result == faults.Inconclusive {
				by = append(by, strings.Fields(v.Name)[0]+" ("+v.Name+")")
			}
		}
		if len(rep.Crashes) > 0 {
			by = append(by, "crash")
		}
		if len(by) > 0 {
			r.status, r.by = "caught", strings.Join(by, "; ")
			if !strings.Contains(r.by, m.Expect) {
				r.detail = "caught, but not by the expected " + m.Expect
			}
			r.detail += " " + runDir
			return r
		}
	}
	r.status, r.detail = "NOT CAUGHT", "kept in "+dir
	return r
}

// runUnit runs the mutant's unit test in its mutated copy dir: caught
// when a test fails, "build failed" when the package does not compile
// (the edit is broken, not caught), NOT CAUGHT when the test passes.
func runUnit(r result, dir string, keep bool) result {
	u := r.m.Unit
	r.scenario, r.by = "unit", "-"
	test := exec.Command("go", "test", "-trimpath", "-count=1", "-run", "^("+u.Run+")$", u.Pkg)
	test.Dir = dir
	out, err := test.CombinedOutput()
	switch {
	case err != nil && (strings.Contains(string(out), "[build failed]") || strings.Contains(string(out), "[setup failed]")):
		return fail(r, "build failed", fmt.Errorf("%v: %s (kept in %s)", err, out, dir))
	case err != nil && strings.Contains(string(out), "--- FAIL"):
		r.status, r.by = "caught", u.Run
		if !keep {
			os.RemoveAll(dir)
		}
	case err != nil:
		return fail(r, "error", fmt.Errorf("%v: %s (kept in %s)", err, out, dir))
	case strings.Contains(string(out), "no tests to run"):
		return fail(r, "stale", fmt.Errorf("%s has no test %s (kept in %s)", u.Pkg, u.Run, dir))
	default:
		r.status, r.detail = "NOT CAUGHT", u.Run+" passed; kept in "+dir
	}
	return r
}

func fail(r result, status string, err error) result {
	r.status, r.detail = status, err.Error()
	return r
}

// repoRoot is the top of the git work tree the runner was started in.
func repoRoot() (string, error) {
	out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "", fmt.Errorf("mutants: not in a git work tree: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// copyTracked copies the files git tracks (as they are in the work tree)
// from root to dir: the mutant builds exactly this tree plus its edits.
func copyTracked(root, dir string) error {
	cmd := exec.Command("git", "ls-files", "-z")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return err
	}
	for _, f := range strings.Split(string(out), "\x00") {
		if f == "" {
			continue
		}
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil || !fi.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, data, fi.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(2)
}
