package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// Issue 11: two anonymous logins against an imported 1 GiB/t=64 hash made
// every login answer 503 for minutes. With the hash bounds, the worst hash
// a user can hold (argon2id m=64 MiB, t=10, p=8) is shorter than the
// pool's MaxWait, so while two such verifications hold both workers of a
// 2-worker pool, other logins wait for a worker instead of failing.
func TestPool_WorstHashDoesNotStarveLogins(t *testing.T) {
	worst := HashParams{Memory: maxMemoryKiB, Time: maxTime, Threads: maxThreads, SaltLen: 16, KeyLen: 32}
	start := time.Now()
	slowHash, err := HashPassword("the slow user's password", worst)
	if err != nil {
		t.Fatal(err)
	}
	hashTime := time.Since(start)
	svc, _ := newGrowthService(t, func(c *ServiceConfig) {
		c.Pool = PoolConfig{Workers: 2, MaxWait: 2 * time.Second}
		c.Limiter = AddrLimiterConfig{Rate: 1000, Burst: 1000, MaxEntries: 1000}
	})
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, NewUser{Login: "slow", PasswordHash: slowHash}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, NewUser{Login: "fast", Password: "the fast password"}); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	done := make(chan struct{})
	slowErrs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := svc.Authenticate(ctx, Credentials{Login: "slow", Password: "a guess", ClientAddr: "203.0.113.9"})
			slowErrs <- err
		}()
	}
	go func() { wg.Wait(); close(done) }()
	// Wait until both slow verifications hold a worker.
	deadline := time.Now().Add(10 * time.Second)
	for svc.Pool().InUse()+svc.Pool().Slow() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the slow logins never started")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	var worstWait time.Duration
	n := 0
	for running := true; running || n < 5; n++ {
		select {
		case <-done:
			running = false
		default:
		}
		st := time.Now()
		if _, err := svc.Authenticate(ctx, Credentials{Login: "fast", Password: "the fast password", ClientAddr: "198.51.100.1"}); err != nil {
			t.Fatalf("login %d while the worst hash is verified: %v", n, err)
		}
		worstWait = max(worstWait, time.Since(st))
	}
	for i := 0; i < 2; i++ {
		if err := <-slowErrs; !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("slow login: %v", err)
		}
	}
	t.Logf("worst-case hash %v to compute; %d other logins during two verifications of it, slowest %v", hashTime, n, worstWait)
}

// A job past SlowAfter gives its slot back (the next call runs at once),
// but at most Workers jobs at a time do: beyond that a slow job keeps its
// slot, so the memory of hashes running at once stays bounded by
// 2*Workers of the largest admitted hash.
func TestPool_SlowJobsLendTheirSlotUpToWorkers(t *testing.T) {
	p := NewPool(PoolConfig{Workers: 1, Queue: 1, MaxWait: 50 * time.Millisecond, SlowAfter: 5 * time.Millisecond})
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			errs <- p.Do(context.Background(), func() { started <- struct{}{}; <-release })
		}()
		<-started
		deadline := time.Now().Add(10 * time.Second)
		for i == 0 && p.Slow() < 1 {
			if time.Now().After(deadline) {
				t.Fatal("the first slow job never lent its slot")
			}
			time.Sleep(time.Millisecond) // polling interval
		}
	}
	// Two slow jobs run on one worker: the first lent its slot, the second
	// holds it (the cap is Workers lent jobs), so a third call times out.
	if err := p.Do(context.Background(), func() {}); !errors.Is(err, ErrPoolSaturated) {
		t.Fatalf("third call: %v (slow %d, in use %d)", err, p.Slow(), p.InUse())
	}
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p.Slow() != 0 || p.InUse() != 0 {
		t.Fatalf("after the slow jobs: slow %d, in use %d", p.Slow(), p.InUse())
	}
	if err := p.Do(context.Background(), func() {}); err != nil {
		t.Fatal(err)
	}
}
