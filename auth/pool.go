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
	// Workers is how many hashes run at once. Default runtime.NumCPU().
	Workers int
	// Queue is how many callers may wait for a worker. Default 4*Workers.
	Queue int
	// MaxWait is how long a caller waits for a worker before
	// ErrPoolSaturated. Default 2s.
	MaxWait time.Duration
	// Observer, if set, is called with the time each call waited for a
	// worker (zero when one was free), just before fn runs. It runs on the
	// caller's goroutine, concurrently with other calls: it must be fast
	// and safe for concurrent use (a histogram's Observe is).
	Observer func(waited time.Duration)
}

// DefaultPoolConfig returns NumCPU workers, 4*NumCPU waiting slots and a
// 2s maximum wait.
func DefaultPoolConfig() PoolConfig {
	n := runtime.NumCPU()
	return PoolConfig{Workers: n, Queue: 4 * n, MaxWait: 2 * time.Second}
}

// Validate refuses negative sizes and waits; zero means "default".
func (c PoolConfig) Validate() error {
	if c.Workers < 0 || c.Queue < 0 || c.MaxWait < 0 {
		return fmt.Errorf("%w: pool wants non-negative Workers, Queue, MaxWait", ErrBadConfig)
	}
	return nil
}

func (c PoolConfig) withDefaults() PoolConfig {
	if c.Workers <= 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Queue <= 0 {
		c.Queue = 4 * c.Workers
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 2 * time.Second
	}
	return c
}

// Pool bounds how many password hashes run at once, so a burst of logins
// cannot starve Raft, token validation or the Go scheduler of CPU and
// memory. Work runs on the caller's goroutine once it holds one of Workers
// slots; at most Queue callers wait, each for at most MaxWait. Beyond
// that, callers get ErrPoolSaturated immediately, which the API answers
// with 503 and Retry-After.
//
// A Pool is safe for concurrent use and needs no Close: it owns no
// goroutines.
type Pool struct {
	cfg     PoolConfig
	sem     chan struct{} // one token per running fn
	waiting atomic.Int64
}

// NewPool returns a Pool sized by cfg, with defaults for non-positive
// fields.
func NewPool(cfg PoolConfig) *Pool {
	cfg = cfg.withDefaults()
	return &Pool{cfg: cfg, sem: make(chan struct{}, cfg.Workers)}
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

// run runs fn while holding a slot already taken from p.sem.
func (p *Pool) run(waited time.Duration, fn func()) error {
	defer func() { <-p.sem }()
	if p.cfg.Observer != nil {
		p.cfg.Observer(waited)
	}
	fn()
	return nil
}

// InUse is the number of calls running now, for a gauge.
func (p *Pool) InUse() int { return len(p.sem) }

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
