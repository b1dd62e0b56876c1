package auth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkPoolFlood is the flood path in process (issue 16): 16 callers
// hash at production cost through a pool while 8 goroutines run a
// validation-sized job (a SHA-256 and a map lookup). It reports the
// validations' p99 and rate relative to the same run without the flood,
// for the default pool (half the CPUs, niced) and for the pre-issue-16
// one (every CPU, normal priority). GOMAXPROCS is raised as sessiond
// raises it (MaxProcsFor).
func BenchmarkPoolFlood(b *testing.B) {
	for _, tc := range []struct {
		name string
		cfg  PoolConfig
	}{
		{"default", DefaultPoolConfig()},
		{"allcpus-nice0", PoolConfig{Workers: runtime.NumCPU(), MaxWait: 10 * time.Second}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			old := runtime.GOMAXPROCS(MaxProcsFor(tc.cfg, startProcs))
			defer runtime.GOMAXPROCS(old)
			tc.cfg.MaxWait = 10 * time.Second
			pool := NewPool(tc.cfg)
			window := 500 * time.Millisecond
			aloneRate, aloneP99 := validations(window)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var hashes int64
			var mu sync.Mutex
			for range 16 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if pool.Do(ctx, func() { HashPassword("wrong", DefaultHashParams()) }) == nil {
							mu.Lock()
							hashes++
							mu.Unlock()
						}
					}
				}()
			}
			b.ResetTimer()
			var rate, p99 float64
			for range b.N {
				rate, p99 = validations(window)
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(rate/aloneRate, "rate/alone")
			b.ReportMetric(p99/aloneP99, "p99/alone")
			b.ReportMetric(float64(hashes)/(float64(b.N)*window.Seconds()), "hashes/s")
		})
	}
}

// validations runs 8 goroutines of validation-sized jobs for d and
// returns their rate and p99 latency (µs).
func validations(d time.Duration) (rate, p99 float64) {
	m := map[[32]byte]int{}
	for i := range 100000 {
		m[sha256.Sum256([]byte(fmt.Sprint(i)))] = i
	}
	var mu sync.Mutex
	var lat []float64
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []float64
			buf := []byte(fmt.Sprint(g))
			for time.Now().Before(end) {
				t0 := time.Now()
				_ = m[sha256.Sum256(buf)]
				runtime.Gosched() // a request's I/O: give the P back
				mine = append(mine, float64(time.Since(t0).Microseconds()))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	if len(lat) == 0 {
		return 0, 0
	}
	return float64(len(lat)) / d.Seconds(), max(1, lat[len(lat)*99/100])
}
