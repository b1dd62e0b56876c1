package auth

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or a 5s deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// blockers starts n calls of p.Do that each block until release is
// closed, and returns a channel of their results.
func blockers(p *Pool, n int, release <-chan struct{}) <-chan error {
	errs := make(chan error, n)
	for range n {
		go func() { errs <- p.Do(context.Background(), func() { <-release }) }()
	}
	return errs
}

func TestPool_BoundsConcurrency(t *testing.T) {
	assertBound(t, NewPool(PoolConfig{SlowAfter: -1, Workers: 2, Queue: 8, MaxWait: time.Minute}))
}

// assertBound runs 6 blocking calls on a pool of 2 workers and 8 waiting
// slots: 2 run and 4 wait until released, and never more than 2 run.
func assertBound(t *testing.T, p *Pool) {
	t.Helper()
	release := make(chan struct{})
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.Do(context.Background(), func() {
				n := running.Add(1)
				for old := peak.Load(); n > old && !peak.CompareAndSwap(old, n); old = peak.Load() {
				}
				<-release
				running.Add(-1)
			})
			if err != nil {
				t.Errorf("Do: %v", err)
			}
		}()
	}
	waitFor(t, "2 running and 4 waiting", func() bool { return running.Load() == 2 && p.Waiting() == 4 })
	close(release)
	wg.Wait()
	if peak.Load() != 2 {
		t.Fatalf("peak concurrency = %d, want 2", peak.Load())
	}
	if p.InUse() != 0 || p.Waiting() != 0 {
		t.Fatalf("after: InUse %d Waiting %d", p.InUse(), p.Waiting())
	}
}

func TestPool_SaturatedWhenQueueFull(t *testing.T) {
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 1, MaxWait: time.Minute})
	release := make(chan struct{})
	errs := blockers(p, 2, release) // one runs, one waits
	waitFor(t, "worker busy and queue full", func() bool { return p.InUse() == 1 && p.Waiting() == 1 })

	ran := false
	start := time.Now()
	err := p.Do(context.Background(), func() { ran = true })
	if !errors.Is(err, ErrPoolSaturated) || ran {
		t.Fatalf("Do on full queue = %v (ran %v), want ErrPoolSaturated", err, ran)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("saturation took %v, want immediate", d)
	}
	if _, err := p.Hash(context.Background(), "pw", MinimalHashParams()); !errors.Is(err, ErrPoolSaturated) {
		t.Fatalf("Hash on full queue = %v", err)
	}
	if _, _, err := p.Verify(context.Background(), "x", "pw"); !errors.Is(err, ErrPoolSaturated) {
		t.Fatalf("Verify on full queue = %v", err)
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("blocked call: %v", err)
		}
	}
}

func TestPool_WaitTimeout(t *testing.T) {
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 4, MaxWait: 20 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	blockers(p, 1, release)
	waitFor(t, "worker busy", func() bool { return p.InUse() == 1 })
	ran := false
	if err := p.Do(context.Background(), func() { ran = true }); !errors.Is(err, ErrPoolSaturated) || ran {
		t.Fatalf("Do after MaxWait = %v (ran %v), want ErrPoolSaturated", err, ran)
	}
	if p.Waiting() != 0 {
		t.Fatalf("waiting slot leaked: %d", p.Waiting())
	}
}

func TestPool_ContextEnds(t *testing.T) {
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 4, MaxWait: time.Minute})

	done, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Do(done, func() { t.Error("ran with a cancelled context") }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled ctx: %v", err)
	}

	release := make(chan struct{})
	defer close(release)
	blockers(p, 1, release)
	waitFor(t, "worker busy", func() bool { return p.InUse() == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Do(ctx, func() {}) }()
	waitFor(t, "caller waiting", func() bool { return p.Waiting() == 1 })
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel while waiting: %v", err)
	}
	waitFor(t, "waiting slot freed", func() bool { return p.Waiting() == 0 })
}

func TestPool_PanicReleasesSlot(t *testing.T) {
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 1, MaxWait: time.Minute})
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic not propagated")
			}
		}()
		_ = p.Do(context.Background(), func() { panic("boom") })
	}()
	if p.InUse() != 0 {
		t.Fatalf("slot leaked after panic: InUse %d", p.InUse())
	}
}

func TestPool_Observer(t *testing.T) {
	waits := make(chan time.Duration, 2)
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 1, MaxWait: time.Minute,
		Observer: func(d time.Duration) { waits <- d }})
	release := make(chan struct{})
	errs := blockers(p, 1, release)
	waitFor(t, "worker busy", func() bool { return p.InUse() == 1 })
	if d := <-waits; d != 0 {
		t.Fatalf("first wait = %v, want 0", d)
	}
	errs2 := make(chan error, 1)
	go func() { errs2 <- p.Do(context.Background(), func() {}) }()
	waitFor(t, "caller waiting", func() bool { return p.Waiting() == 1 })
	close(release)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if err := <-errs2; err != nil {
		t.Fatal(err)
	}
	if d := <-waits; d <= 0 {
		t.Fatalf("queued wait = %v, want > 0", d)
	}
}

func TestPool_HashVerify(t *testing.T) {
	p := NewPool(PoolConfig{})
	ctx := context.Background()
	phc, err := p.Hash(ctx, "correct horse", MinimalHashParams())
	if err != nil {
		t.Fatal(err)
	}
	if ok, _, err := p.Verify(ctx, phc, "correct horse"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v", ok, err)
	}
	if ok, _, err := p.Verify(ctx, phc, "wrong horse"); ok || err != nil {
		t.Fatalf("Verify wrong = %v, %v", ok, err)
	}
	if _, _, err := p.Verify(ctx, "junk", "pw"); !errors.Is(err, ErrBadHash) {
		t.Fatalf("Verify junk = %v", err)
	}
}

func TestPoolConfig_Defaults(t *testing.T) {
	if err := DefaultPoolConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (PoolConfig{Workers: -1}).Validate(); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("negative Workers: %v", err)
	}
	p := NewPool(PoolConfig{Workers: 3})
	if p.cfg.Queue != 3*QueuePerWorker || p.cfg.MaxWait != 2*time.Second || cap(p.sem) != 3 {
		t.Fatalf("defaults not applied: %+v", p.cfg)
	}
}
