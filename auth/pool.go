package auth

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
)

// PoolConfig sizes the hashing pool. Non-positive fields take their
// defaults in NewPool.
type PoolConfig struct {
	// Workers is how many hashes run at once. Default DefaultWorkers().
	Workers int
	// Queue is how many callers may wait for a worker. Default
	// QueuePerWorker*Workers: MaxWait, not the queue, is meant to bound
	// the wait; the queue only caps the goroutines parked. A short queue
	// turns a burst into 503s whose retries cost more CPU than waiting.
	Queue int
	// MaxWait is how long a caller waits for a worker before
	// ErrPoolSaturated. Default 2s.
	MaxWait time.Duration
	// Nice, when positive, runs each hash on a worker goroutine locked to
	// an OS thread whose nice value is raised by this much (Linux; ignored
	// elsewhere), so that under CPU contention the kernel schedules token
	// validation, Raft and HTTP before password hashing. Zero (the
	// default) runs hashes on the caller's goroutine at normal priority.
	// It only helps when GOMAXPROCS leaves Ps free for other work while
	// every worker hashes (see MaxProcsFor), and those extra Ps cost
	// throughput elsewhere: docs/BENCHMARKS.md has the trade-off measured.
	Nice int
	// SlowAfter is how long a hash may hold a worker slot. A hash still
	// running after it gives its slot back and finishes outside the
	// worker count (at most Workers such hashes at once; beyond that a
	// slow hash keeps its slot), so a few hashes at the parameter bounds
	// (about 0.75 s, see passwords.go) cannot hold every worker while
	// ordinary logins time out. Default 250 ms: ten times a production
	// hash, a third of the worst one. Negative turns it off.
	SlowAfter time.Duration
	// Observer, if set, is called with the time each call waited for a
	// worker (zero when one was free), just before fn runs. It runs on the
	// caller's goroutine, concurrently with other calls: it must be fast
	// and safe for concurrent use (a histogram's Observe is).
	Observer func(waited time.Duration)
}

// DefaultPoolConfig bounds hashing by default (issue 16): DefaultWorkers
// hashes at once, QueuePerWorker waiting per worker for at most 2 s (then
// 503 + Retry-After), on threads niced by DefaultNice. Anyone can make a
// node hash (a wrong password hashes through the dummy hash), so the
// default must leave the rest of the CPU to validation and Raft; a
// deployment that only logs in trusted clients may raise Workers.
func DefaultPoolConfig() PoolConfig {
	n := DefaultWorkers()
	return PoolConfig{Workers: n, Queue: QueuePerWorker * n, MaxWait: 2 * time.Second, Nice: DefaultNice}
}

// DefaultWorkers is half of the process's GOMAXPROCS at start (at least
// one): the share of the CPUs password hashing may take.
func DefaultWorkers() int { return max(1, startProcs/2) }

// startProcs is GOMAXPROCS as the runtime chose it (CPUs or the cgroup's
// limit), taken before MaxProcsFor's raise, so that the default does not
// grow with it.
var startProcs = runtime.GOMAXPROCS(0)

// DefaultSlowAfter is PoolConfig.SlowAfter's default.
const DefaultSlowAfter = 250 * time.Millisecond

// QueuePerWorker sizes the default queue: at production cost (about 26 ms
// a hash) 32 waiting per worker is under a second of work, inside MaxWait.
const QueuePerWorker = 32

// DefaultNice is the nice value of hashing threads by default
// (DefaultPoolConfig; PoolConfig's zero Nice stays "normal priority"): at 10 a thread weighs about a tenth of a normal one in the
// Linux scheduler, so a login flood takes the idle CPU but yields it to
// validation at once.
const DefaultNice = 10

// MaxProcsFor is the GOMAXPROCS a process whose default is procs should
// run with so that Workers niced hashing threads, each holding a P while
// it hashes, still leave procs Ps to everything else; the kernel, not the
// Go scheduler, then decides between them by priority. Without niced
// workers it is procs.
func MaxProcsFor(c PoolConfig, procs int) int {
	c = c.withDefaults()
	if c.Nice <= 0 {
		return procs
	}
	return procs + c.Workers
}

// Validate refuses negative sizes and waits; zero means "default".
func (c PoolConfig) Validate() error {
	if c.Workers < 0 || c.Queue < 0 || c.MaxWait < 0 {
		return fmt.Errorf("%w: pool wants non-negative Workers, Queue, MaxWait", ErrBadConfig)
	}
	if c.Nice < 0 || c.Nice > 19 {
		return fmt.Errorf("%w: pool Nice must be 0..19, got %d", ErrBadConfig, c.Nice)
	}
	return nil
}

func (c PoolConfig) withDefaults() PoolConfig {
	if c.Workers <= 0 {
		c.Workers = DefaultWorkers()
	}
	if c.Queue <= 0 {
		c.Queue = QueuePerWorker * c.Workers
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 2 * time.Second
	}
	if c.SlowAfter == 0 {
		c.SlowAfter = DefaultSlowAfter
	}
	return c
}

// Pool bounds how many password hashes run at once, so a burst of logins
// cannot starve Raft, token validation or the Go scheduler of CPU and
// memory. Work runs once the caller holds one of Workers slots; at most
// Queue callers wait, each for at most MaxWait. Beyond that, callers get
// ErrPoolSaturated immediately, which the API answers with 503 and
// Retry-After. With Nice set, the work itself runs on a niced worker
// thread (see PoolConfig.Nice) while the caller waits for it.
//
// A Pool is safe for concurrent use and needs no Close: niced workers are
// started on demand and end after workerIdle without work.
type Pool struct {
	cfg     PoolConfig
	sem     chan struct{} // one token per running fn
	waiting atomic.Int64
	jobs    chan func()  // unbuffered: handed only to an idle niced worker
	avgNs   atomic.Int64 // moving average of a job's duration
	slow    atomic.Int64 // jobs running past SlowAfter without a slot
}

// niceMin is the average job length below which work runs on the
// caller's goroutine even with Nice set: a handoff to another thread
// costs more than such a job, and a job that short cannot starve
// validation. Production argon2id (tens of ms) is far above it; the
// minimal test parameters are far below.
const niceMin = time.Millisecond

// workerIdle is how long a niced worker waits for work before its thread
// ends; a busy pool keeps its threads, an idle one gives them back.
const workerIdle = 30 * time.Second

// NewPool returns a Pool sized by cfg, with defaults for non-positive
// fields.
func NewPool(cfg PoolConfig) *Pool {
	cfg = cfg.withDefaults()
	return &Pool{cfg: cfg, sem: make(chan struct{}, cfg.Workers), jobs: make(chan func())}
}

// Do runs fn once a worker slot is free and returns nil after fn returns.
// If none is free, it waits in the queue for at most MaxWait; it returns
// ErrPoolSaturated when the queue is full or the wait runs out, and
// ctx.Err() when ctx ends first (or had ended). fn is not run in any of those cases. A
// panic in fn releases the slot and propagates.
func (p *Pool) Do(ctx context.Context, fn func()) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case p.sem <- struct{}{}:
		return p.run(0, fn)
	default:
	}
	if !p.enqueue() {
		return ErrPoolSaturated
	}
	defer p.waiting.Add(-1)
	start := time.Now()
	timer := time.NewTimer(p.cfg.MaxWait)
	defer timer.Stop()
	select {
	case p.sem <- struct{}{}:
		return p.run(time.Since(start), fn)
	case <-timer.C:
		return ErrPoolSaturated
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enqueue claims a waiting slot if one is free.
func (p *Pool) enqueue() bool {
	for {
		n := p.waiting.Load()
		if n >= int64(p.cfg.Queue) {
			return false
		}
		if p.waiting.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Slot states of one run: holding it, gave it back past SlowAfter, or
// released at the end.
const (
	slotHeld int32 = iota
	slotLent
	slotDone
)

// run runs fn while holding a slot already taken from p.sem. If fn is
// still running after SlowAfter and fewer than Workers jobs are already
// out of their slots, the slot is given back early (see
// PoolConfig.SlowAfter); otherwise it is released when fn returns.
func (p *Pool) run(waited time.Duration, fn func()) error {
	var state atomic.Int32
	if p.cfg.SlowAfter > 0 {
		t := time.AfterFunc(p.cfg.SlowAfter, func() {
			if p.slow.Add(1) > int64(p.cfg.Workers) || !state.CompareAndSwap(slotHeld, slotLent) {
				p.slow.Add(-1)
				return
			}
			<-p.sem
		})
		defer t.Stop()
	}
	defer func() {
		if state.CompareAndSwap(slotHeld, slotDone) {
			<-p.sem
		} else {
			p.slow.Add(-1)
		}
	}()
	if p.cfg.Observer != nil {
		p.cfg.Observer(waited)
	}
	if p.cfg.Nice <= 0 {
		fn()
		return nil
	}
	if time.Duration(p.avgNs.Load()) < niceMin {
		start := time.Now()
		fn()
		p.observe(time.Since(start))
		return nil
	}
	// The slot bounds running jobs to Workers, so the workers alive are
	// about Workers too: a new one starts only when none is idle.
	done := make(chan any, 1)
	job := func() {
		defer func() { done <- recover() }()
		start := time.Now()
		fn()
		p.observe(time.Since(start))
	}
	select {
	case p.jobs <- job:
	default:
		go p.worker(job)
	}
	if v := <-done; v != nil {
		panic(v)
	}
	return nil
}

// observe folds a job's duration into the moving average (weight 1/8).
// Racing updates may lose one sample; the average only picks a path.
func (p *Pool) observe(d time.Duration) {
	old := p.avgNs.Load()
	p.avgNs.Store(old + (int64(d)-old)/8)
}

// worker runs jobs on its own OS thread at a lowered priority. The thread
// stays locked: when the worker returns, the runtime ends the thread, so
// no niced thread ever runs other goroutines.
func (p *Pool) worker(first func()) {
	runtime.LockOSThread()
	lowerThreadPriority(p.cfg.Nice)
	first()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case job := <-p.jobs:
			job()
			idle.Reset(workerIdle)
		case <-idle.C:
			return
		}
	}
}

// InUse is the number of calls running now, for a gauge.
func (p *Pool) InUse() int { return len(p.sem) }

// Slow is the number of hashes running past SlowAfter outside the worker
// count now, for a gauge.
func (p *Pool) Slow() int { return int(p.slow.Load()) }

// Waiting is the number of calls waiting for a worker now, for a gauge.
func (p *Pool) Waiting() int { return int(p.waiting.Load()) }

// Hash runs HashPassword on the pool.
func (p *Pool) Hash(ctx context.Context, password string, params HashParams) (string, error) {
	var phc string
	var herr error
	if err := p.Do(ctx, func() { phc, herr = HashPassword(password, params) }); err != nil {
		return "", err
	}
	return phc, herr
}

// Verify runs VerifyPassword on the pool. Pool errors (ErrPoolSaturated,
// ctx.Err()) come back with ok false.
func (p *Pool) Verify(ctx context.Context, phc, password string) (ok, needsRehash bool, err error) {
	if perr := p.Do(ctx, func() { ok, needsRehash, err = VerifyPassword(phc, password) }); perr != nil {
		return false, false, perr
	}
	return ok, needsRehash, err
}
