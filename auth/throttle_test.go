package auth

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestAddrLimiter_AllowFail(t *testing.T) {
	l := NewAddrLimiter(AddrLimiterConfig{Rate: 1, Burst: 3, MaxEntries: 10})
	t0 := time.Unix(1_700_000_000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		fail      bool // Fail instead of Allow
		at        time.Duration
		wantOK    bool
		wantRetry time.Duration
	}
	steps := []step{
		{at: 0, wantOK: true},
		{fail: true, at: 0},
		{fail: true, at: 0},
		{at: 0, wantOK: true}, // 1 token left
		{fail: true, at: 0},
		{at: 0, wantOK: false, wantRetry: time.Second},
		{at: 250 * time.Millisecond, wantOK: false, wantRetry: 750 * time.Millisecond},
		{at: time.Second, wantOK: true},
		{fail: true, at: time.Second},
		{at: time.Second, wantOK: false, wantRetry: time.Second},
		{fail: true, at: time.Second}, // floor at zero
		{at: 1500 * time.Millisecond, wantOK: false, wantRetry: 500 * time.Millisecond},
	}
	for i, s := range steps {
		if s.fail {
			l.Fail("10.0.0.1", at(s.at))
			continue
		}
		ok, retry := l.Allow("10.0.0.1", at(s.at))
		if ok != s.wantOK || retry != s.wantRetry {
			t.Fatalf("step %d at %v: Allow = %v, %v; want %v, %v", i, s.at, ok, retry, s.wantOK, s.wantRetry)
		}
	}
	if ok, _ := l.Allow("10.0.0.2", at(0)); !ok {
		t.Fatal("another address was limited")
	}
	// Fully refilled: allowed and forgotten.
	if ok, _ := l.Allow("10.0.0.1", at(time.Hour)); !ok || l.Len() != 0 {
		t.Fatalf("after refill: ok %v, Len %d", ok, l.Len())
	}
}

func TestAddrLimiter_ClockBackwards(t *testing.T) {
	l := NewAddrLimiter(AddrLimiterConfig{Rate: 1, Burst: 1, MaxEntries: 10})
	t0 := time.Unix(1_700_000_000, 0)
	l.Fail("a", t0)
	if ok, retry := l.Allow("a", t0.Add(-time.Hour)); ok || retry != time.Second {
		t.Fatalf("clock went back: Allow = %v, %v; want false, 1s", ok, retry)
	}
}

func TestAddrLimiter_BoundedMemory(t *testing.T) {
	l := NewAddrLimiter(AddrLimiterConfig{Rate: 1, Burst: 1, MaxEntries: 2})
	t0 := time.Unix(1_700_000_000, 0)
	l.Fail("a", t0)
	l.Fail("b", t0.Add(time.Millisecond))
	l.Fail("a", t0.Add(2*time.Millisecond)) // a is now the most recent
	l.Fail("c", t0.Add(3*time.Millisecond)) // evicts b
	if l.Len() != 2 {
		t.Fatalf("Len = %d, want 2", l.Len())
	}
	now := t0.Add(4 * time.Millisecond)
	for addr, want := range map[string]bool{"a": false, "b": true, "c": false} {
		if ok, _ := l.Allow(addr, now); ok != want {
			t.Errorf("Allow(%s) = %v, want %v", addr, ok, want)
		}
	}
}

func TestAddrLimiter_Concurrent(t *testing.T) {
	l := NewAddrLimiter(AddrLimiterConfig{Rate: 1, Burst: 5, MaxEntries: 50})
	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				addr := fmt.Sprintf("10.0.%d.%d", g, i%100)
				l.Allow(addr, now)
				l.Fail(addr, now)
			}
		}()
	}
	wg.Wait()
	if l.Len() > 50 {
		t.Fatalf("Len = %d over MaxEntries", l.Len())
	}
}

func TestAddrLimiterConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		c  AddrLimiterConfig
		ok bool
	}{
		{DefaultAddrLimiterConfig(), true},
		{AddrLimiterConfig{Rate: 0, Burst: 1, MaxEntries: 1}, false},
		{AddrLimiterConfig{Rate: 1, Burst: 0, MaxEntries: 1}, false},
		{AddrLimiterConfig{Rate: 1, Burst: 1, MaxEntries: 0}, false},
	} {
		if err := tt.c.Validate(); (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadConfig)) {
			t.Errorf("%+v: Validate = %v", tt.c, err)
		}
	}
	l := NewAddrLimiter(AddrLimiterConfig{})
	if l.cfg != DefaultAddrLimiterConfig() {
		t.Errorf("zero config not defaulted: %+v", l.cfg)
	}
}

// Attack: an IPv6 client owns a whole /64 and can send each guess from a
// new address; the limiter counts the /64 as one client.
func TestAddrLimiter_IPv6KeyedBy64(t *testing.T) {
	l := NewAddrLimiter(AddrLimiterConfig{Rate: 0.001, Burst: 3, MaxEntries: 100})
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		l.Fail(fmt.Sprintf("2001:db8:1:2::%x", i+1), now)
	}
	if ok, _ := l.Allow("2001:db8:1:2:ffff::9", now); ok {
		t.Fatal("another address of the same /64 was not throttled")
	}
	if ok, _ := l.Allow("2001:db8:1:3::1", now); !ok {
		t.Fatal("a different /64 was throttled")
	}
	if ok, _ := l.Allow("192.0.2.1", now); !ok {
		t.Fatal("an IPv4 address was throttled")
	}
	if limiterKey("::ffff:192.0.2.1") != "192.0.2.1" || limiterKey("not-an-ip") != "not-an-ip" {
		t.Fatal("limiterKey")
	}
}
