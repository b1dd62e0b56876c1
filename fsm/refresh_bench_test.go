package fsm

import (
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// refreshBatch is the size of the largest refresh command a node proposes
// (cluster's maxPendingRefreshes).
const refreshBatch = 50_000

// BenchmarkValidationDuringRefreshBatch measures what a validation's state
// reads (the session by digest, then its user: what auth.Validate reads)
// cost while a 50k-session RefreshSessions entry is applied, against the
// same number of reads on an idle state. It reports both p99s and their
// ratio: a refresh batch must not stall validations (the target is a
// ratio of at most 2). Each iteration is one batch.
//
// A third phase is the control: the reads run beside a loop that only
// burns CPU, for as long as that iteration's apply took, and touches no
// state. On a 2-core machine the busy p99 is mostly the reader losing its
// core to whatever else wakes while the other core is taken (the idle
// phase has a free core for it); busy ÷ burn is what the batch itself
// adds on top of that. apply-ms is one batch's apply, decoding included:
// what the thread yields (yield.go) cost the batch.
func BenchmarkValidationDuringRefreshBatch(b *testing.B) {
	f, ds := benchState(b, 4*refreshBatch)
	var busy, idle, burn []time.Duration
	var applied time.Duration // the applies' own time, summed
	idx := uint64(10_000_000)
	at := t0 + hour
	for b.Loop() {
		b.StopTimer()
		at++
		cmd := &RefreshSessions{Refreshes: make([]Refresh, refreshBatch)}
		for i := range cmd.Refreshes {
			cmd.Refreshes[i] = Refresh{Digest: ds[(i*7919)%len(ds)], At: at}
		}
		entry := MustEncode(cmd)
		runtime.GC() // each phase starts without the last one's garbage
		b.StartTimer()

		idx++
		var took time.Duration
		got := readWhile(b, f, ds, -1, func() {
			start := time.Now()
			if res := f.ApplyEntry(idx, entry); res.Code != "" {
				b.Fatal(res.Code)
			}
			took = time.Since(start)
		})
		busy = append(busy, got...)
		applied += took
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		idle = append(idle, readWhile(b, f, ds, len(got), nil)...)
		b.StopTimer()
		runtime.GC()
		b.StartTimer()
		burn = append(burn, readWhile(b, f, ds, -1, func() { spin(took) })...)
	}
	pb, pi, pc := p99(busy), p99(idle), p99(burn)
	b.ReportMetric(float64(pb.Nanoseconds()), "busy-p99-ns")
	b.ReportMetric(float64(pi.Nanoseconds()), "idle-p99-ns")
	b.ReportMetric(float64(pc.Nanoseconds()), "burn-p99-ns")
	b.ReportMetric(float64(pb)/float64(pi), "p99-ratio")
	b.ReportMetric(float64(pb)/float64(pc), "p99-vs-burn")
	b.ReportMetric(float64(applied.Microseconds())/1e3/float64(b.N), "apply-ms")
}

// spinSink keeps spin's arithmetic from being optimised away.
var spinSink atomic.Uint64

// spin keeps one goroutine busy for d without allocating or touching the
// state: the control phase's stand-in for the apply.
func spin(d time.Duration) {
	x := uint64(1)
	for end := time.Now().Add(d); time.Now().Before(end); {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	spinSink.Store(x)
}

// readInterval is the pace of the timed reads. They are open loop: each
// read's latency runs from when it was due, not from when the reader got
// to it, so a stall counts against every read that fell due during it (a
// closed loop would count a 100 ms stall as one slow read).
const readInterval = 20 * time.Microsecond

// readWhile times validation reads from one goroutine, beside work when it
// is not nil (until work returns), or n reads when work is nil.
func readWhile(b *testing.B, f *FSM, ds []Digest, n int, work func()) []time.Duration {
	var stop atomic.Int64 // when work returned, in ns after begin; 0 while it runs
	done := make(chan []time.Duration)
	started := make(chan struct{})
	begin := time.Now()
	go func() {
		out := make([]time.Duration, 0, 1<<16)
		st := f.State()
		close(started)
		for i := 0; ; i++ {
			due := time.Duration(i) * readInterval
			if n >= 0 && i >= n || n < 0 && stop.Load() != 0 && due > time.Duration(stop.Load()) {
				break // every read due while work ran is taken, late or not
			}
			d := ds[(i*104729)%len(ds)]
			t := begin.Add(due)
			for time.Now().Before(t) {
				runtime.Gosched()
			}
			sess, ok := st.Session(d)
			if ok {
				_, ok = st.User(sess.UserID)
			}
			out = append(out, time.Since(t))
			if !ok {
				b.Error("validation read missed")
				break
			}
		}
		done <- out
	}()
	<-started
	if work != nil {
		work()
		stop.Store(int64(time.Since(begin)))
	}
	return <-done
}

func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)*99/100]
}
