package auth

import (
	"context"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// threadNice is the calling thread's nice value (the raw syscall answers
// 20-nice).
func threadNice(t *testing.T) int {
	raw, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatalf("getpriority: %v", err)
	}
	return 20 - raw
}

// With Nice set, work runs on a thread niced by that much more than the
// caller's, and the caller's own thread keeps its priority.
func TestPool_NiceRunsOnLoweredThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	base := threadNice(t)
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 1, MaxWait: time.Minute, Nice: 5})
	p.avgNs.Store(int64(time.Second)) // as after production-cost hashes
	var inside int
	var tid int
	if err := p.Do(context.Background(), func() { inside, tid = threadNice(t), syscall.Gettid() }); err != nil {
		t.Fatal(err)
	}
	if want := min(19, base+5); inside != want {
		t.Fatalf("nice inside the pool = %d, want %d (caller's %d)", inside, want, base)
	}
	if tid == syscall.Gettid() {
		t.Fatal("work ran on the caller's thread")
	}
	if got := threadNice(t); got != base {
		t.Fatalf("caller's thread nice changed from %d to %d", base, got)
	}
	// A later call runs niced too, whether an idle worker takes it or a
	// new one starts (the first may not be back at its receive yet).
	var inside2 int
	if err := p.Do(context.Background(), func() { inside2 = threadNice(t) }); err != nil {
		t.Fatal(err)
	}
	if want := min(19, base+5); inside2 != want {
		t.Fatalf("nice of a later call = %d, want %d", inside2, want)
	}
}

// Niced workers keep the pool's bound and pass panics to the caller.
func TestPool_NiceBoundsAndPanics(t *testing.T) {
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 2, Queue: 8, MaxWait: time.Minute, Nice: DefaultNice})
	p.avgNs.Store(int64(time.Second))
	assertBound(t, p)

	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want the worker's panic", v)
			}
		}()
		_ = p.Do(context.Background(), func() { panic("boom") })
	}()
	if p.InUse() != 0 {
		t.Fatalf("slot leaked after panic: InUse %d", p.InUse())
	}
	// The pool still works after a panic in a worker.
	ok, _, err := p.Verify(context.Background(), mustHash(t, "pw", MinimalHashParams()), "pw")
	if err != nil || !ok {
		t.Fatalf("verify after panic: ok %v err %v", ok, err)
	}
}

// Jobs far shorter than a thread handoff stay on the caller's thread;
// once jobs take milliseconds, they move to niced workers.
func TestPool_NiceOnlyForLongJobs(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	me := syscall.Gettid()
	p := NewPool(PoolConfig{SlowAfter: -1, Workers: 1, Queue: 1, MaxWait: time.Minute, Nice: 5})
	var tid int
	for range 3 {
		if err := p.Do(context.Background(), func() { tid = syscall.Gettid() }); err != nil {
			t.Fatal(err)
		}
		if tid != me {
			t.Fatalf("a short job ran on thread %d, not the caller's %d", tid, me)
		}
	}
	// Jobs of 5 ms: within a few the average passes niceMin.
	moved := false
	for i := 0; i < 40 && !moved; i++ {
		if err := p.Do(context.Background(), func() {
			tid = syscall.Gettid()
			time.Sleep(5 * time.Millisecond) // the job's own length, not synchronisation
		}); err != nil {
			t.Fatal(err)
		}
		moved = tid != me
	}
	if !moved {
		t.Fatalf("5 ms jobs never moved to a niced worker (average %v)", time.Duration(p.avgNs.Load()))
	}
}

func TestPoolConfig_NiceAndProcs(t *testing.T) {
	for _, n := range []int{-1, 20} {
		if err := (PoolConfig{Nice: n}).Validate(); err == nil {
			t.Errorf("Nice %d accepted", n)
		}
	}
	if got := MaxProcsFor(PoolConfig{Workers: 3, Nice: 10}, 2); got != 5 {
		t.Errorf("MaxProcsFor niced = %d, want 5", got)
	}
	if got := MaxProcsFor(PoolConfig{Workers: 3}, 2); got != 2 {
		t.Errorf("MaxProcsFor not niced = %d, want 2", got)
	}
}
