package proctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is one server process: sessiond, or any other program a harness
// runs next to it (the benchmark's Redis, etcd and baseline). Its output
// goes to LogPath, appended across restarts. The process runs in its own
// process group (Stop and Kill reach anything it forks) and gets SIGKILL
// when the harness dies, whatever kills the harness.
type Proc struct {
	Name    string
	Bin     string
	Args    []string
	Env     []string // the whole environment; nil means CleanEnv()
	Dir     string   // working directory; "" is the caller's
	LogPath string
	// Command, when set, makes the command that runs Bin with Args (the
	// fault suite's netns mode runs it under `ip netns exec`).
	Command func(bin string, args ...string) *exec.Cmd
	// OnExit, when set, is called once per exit; expected is false when
	// the process exited by itself rather than by Stop, Kill or Signal
	// with SIGTERM or SIGKILL.
	OnExit func(err error, expected bool)

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	exitErr  error
	expected bool
	starts   int
}

// CleanEnv is this process's environment without any sessiond setting,
// so that a developer's shell cannot change what a harness runs, plus
// extra.
func CleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SESSIOND_") && !strings.HasPrefix(kv, "ODOO_JWT_KEY") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// Start starts the process (again, once it has exited).
func (p *Proc) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !closed(p.done) {
		return fmt.Errorf("proctest: %s is already running", p.Name)
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	var cmd *exec.Cmd
	if p.Command != nil {
		cmd = p.Command(p.Bin, p.Args...)
	} else {
		cmd = exec.Command(p.Bin, p.Args...)
	}
	cmd.Dir, cmd.Stdout, cmd.Stderr = p.Dir, logf, logf
	if cmd.Env = p.Env; cmd.Env == nil {
		cmd.Env = CleanEnv()
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	fmt.Fprintf(logf, "=== proctest: start %d of %s\n", p.starts+1, p.Name)
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("proctest: start %s: %w", p.Name, err)
	}
	p.cmd, p.done, p.exitErr, p.expected = cmd, make(chan struct{}), nil, false
	p.starts++
	done := p.done
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exitErr = err
		expected, onExit := p.expected, p.OnExit
		p.mu.Unlock()
		if onExit != nil {
			onExit(err, expected)
		}
		close(done)
	}()
	return nil
}

// StartT starts the process for a test: a failure to start fails t; at
// cleanup the process is killed and, when t failed, the end of its log is
// logged.
func (p *Proc) StartT(t testing.TB) {
	t.Helper()
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("---- %s log (last lines) ----\n%s", p.Name, p.Tail(60))
		}
	})
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Running reports whether the process was started and has not exited
// (it may be stopped by SIGSTOP).
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !closed(p.done)
}

// Done is closed when the current run exits (nil before Start).
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Err is how the last run exited (nil while it runs or after exit 0).
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitErr
}

// Pid is the current run's process ID (0 before Start).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Starts counts the runs so far.
func (p *Proc) Starts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.starts
}

// Signal sends sig to the process. SIGTERM and SIGKILL mark the exit
// that follows as expected.
func (p *Proc) Signal(sig syscall.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return fmt.Errorf("proctest: %s not started", p.Name)
	}
	if sig == syscall.SIGTERM || sig == syscall.SIGKILL {
		p.expected = true
	}
	return p.cmd.Process.Signal(sig)
}

// signalGroup sends sig to the process group and marks the exit
// expected.
func (p *Proc) signalGroup(sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && p.cmd.Process != nil {
		p.expected = true
		syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// ErrAlreadyExited is Stop's answer for a process that had exited.
var ErrAlreadyExited = errors.New("proctest: process already exited")

// Stop sends SIGTERM to the process group and waits up to grace for the
// exit. It returns an error unless the process exits 0 in time; one still
// running after grace is killed.
func (p *Proc) Stop(grace time.Duration) error {
	if !p.Running() {
		return fmt.Errorf("%w: %s: %v", ErrAlreadyExited, p.Name, p.Err())
	}
	done := p.Done()
	p.signalGroup(syscall.SIGCONT) // a paused process cannot act on SIGTERM
	p.signalGroup(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		p.Kill()
		return fmt.Errorf("proctest: %s did not exit within %v of SIGTERM", p.Name, grace)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("proctest: %s exited with %v after SIGTERM", p.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to the process group and waits for the exit;
// harmless when the process is gone.
func (p *Proc) Kill() error {
	if !p.Running() {
		return nil
	}
	done := p.Done()
	p.signalGroup(syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("proctest: %s did not exit after SIGKILL", p.Name)
	}
}

// Log is the whole log file.
func (p *Proc) Log() string {
	data, _ := os.ReadFile(p.LogPath)
	return string(data)
}

// Tail is the last n lines of the log.
func (p *Proc) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// PollInterval is how often Wait and Poll try their condition: the pace
// of a polling loop, never a way to synchronise with the process.
const PollInterval = 50 * time.Millisecond

// Poll calls cond every PollInterval until it returns nil, ctx ends or
// timeout passes; the error names what and cond's last error.
func Poll(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	return poll(ctx, timeout, what, nil, cond)
}

// Wait is Poll that also gives up when the process exits; its errors end
// with the log's last lines.
func (p *Proc) Wait(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	return poll(ctx, timeout, what, p, cond)
}

func poll(ctx context.Context, timeout time.Duration, what string, p *Proc, cond func() error) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(PollInterval)
	defer tick.Stop()
	for {
		var exited <-chan struct{}
		if p != nil {
			if exited = p.Done(); exited == nil || closed(exited) {
				return p.exitError(what)
			}
		}
		err := cond()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return p.exitError(what)
		case <-ctx.Done():
			return p.withTail(fmt.Errorf("%s: %w (last: %v)", what, ctx.Err(), err))
		case <-deadline.C:
			return p.withTail(fmt.Errorf("%s: not within %v: %v", what, timeout, err))
		case <-tick.C:
		}
	}
}

func (p *Proc) exitError(what string) error {
	hint := ""
	if strings.Contains(p.Tail(20), "address already in use") {
		hint = " (a port was taken between reservation and bind)"
	}
	return p.withTail(fmt.Errorf("%s: %s exited: %v%s", what, p.Name, p.Err(), hint))
}

func (p *Proc) withTail(err error) error {
	if p == nil {
		return err
	}
	return fmt.Errorf("%w\n---- %s log (last lines) ----\n%s", err, p.Name, p.Tail(30))
}
