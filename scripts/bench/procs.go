package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/proctest"
)

// proc is one server process this driver started (proctest runs each in
// its own process group, so stopping it also stops anything it forked).
type proc struct{ *proctest.Proc }

// procSet owns every process the driver starts; stopAll ends them (the
// deferred call in main and the signal handler both reach it).
type procSet struct {
	mu    sync.Mutex
	procs []*proc
	dir   string // logs go to dir/<name>.log
}

// start runs bin with args and env (added to a clean environment: no
// SESSIOND_* from the caller's shell leaks into a node's flags).
func (s *procSet) start(name string, env []string, bin string, args ...string) (*proc, error) {
	p := &proc{&proctest.Proc{Name: name, Bin: bin, Args: args, Env: proctest.CleanEnv(env...),
		LogPath: filepath.Join(s.dir, name+".log")}}
	if err := p.Start(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// stop sends SIGTERM to the process group, waits up to grace, then
// SIGKILLs it; a process that has exited is left alone.
func (p *proc) stop(grace time.Duration) {
	if p.Running() {
		p.Stop(grace)
	}
}

// cpuSeconds is the user+system CPU the process has used so far, from
// /proc (0 when unavailable).
func (p *proc) cpuSeconds() float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid()))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): utime and
	// stime are fields 14 and 15 overall, 12 and 13 after ") ".
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	var ut, st float64
	fmt.Sscan(f[11], &ut)
	fmt.Sscan(f[12], &st)
	return (ut + st) / 100 // USER_HZ
}

// rssBytes is the resident set size from /proc/<pid>/status.
func (p *proc) rssBytes() int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimPrefix(line, "VmRSS:")), &kb)
			return kb << 10
		}
	}
	return 0
}

func (s *procSet) stopAll() {
	s.mu.Lock()
	ps := append([]*proc(nil), s.procs...)
	s.procs = nil
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop(10 * time.Second) }()
	}
	wg.Wait()
}

// waitFor polls cond until it holds, the process (if any) exits, or the
// deadline passes.
func waitFor(ctx context.Context, d time.Duration, what string, p *proc, cond func() bool) error {
	check := func() error {
		if !cond() {
			return errors.New("not yet")
		}
		return nil
	}
	if p == nil {
		return proctest.Poll(ctx, d, what, check)
	}
	return p.Wait(ctx, d, what, check)
}

var probeClient = &http.Client{Timeout: 2 * time.Second}

// httpOK reports whether GET url answers 200.
func httpOK(url string) bool {
	resp, err := probeClient.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

var errExhausted = errors.New("pool exhausted")
