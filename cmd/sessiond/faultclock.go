package main

import (
	"flag"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// --fault-clock-file is a TEST-ONLY hook for the fault suite
// (scripts/faults): per-node clock offsets and steps without touching the
// machine's clock, which every node of a test cluster shares. The file
// holds a Go duration ("-700ms"); the node's wall clock — the one that
// stamps and checks session expiry, in the login service and the leader's
// purge — is time.Now plus that offset, re-read at most every 100 ms, so
// rewriting the file steps the clock. Raft and the read leases run on the
// monotonic clock and do not see it, which is what the fault shows. No
// production setting sets it.
var faultClockFile string

func faultClockFlag(fs *flag.FlagSet) {
	fs.StringVar(&faultClockFile, "fault-clock-file", "", "TEST ONLY (fault suite): `file` holding an offset (Go duration) added to this node's wall clock, re-read every 100 ms")
}

var (
	faultClockOnce sync.Once
	faultClockNow  func() time.Time
)

// faultNow is the node's wall clock under --fault-clock-file, or nil
// (the default clock) without it. Every caller shares one clock.
func faultNow() func() time.Time {
	faultClockOnce.Do(func() {
		if faultClockFile != "" {
			c := &fileClock{path: faultClockFile, base: time.Now()}
			c.next.Store(-1)
			faultClockNow = c.now
		}
	})
	return faultClockNow
}

type fileClock struct {
	path string
	base time.Time    // for the monotonic re-read schedule
	off  atomic.Int64 // ns
	next atomic.Int64 // ns since base of the next re-read
}

func (c *fileClock) now() time.Time {
	if since := int64(time.Since(c.base)); since >= c.next.Load() {
		c.next.Store(since + int64(100*time.Millisecond))
		if b, err := os.ReadFile(c.path); err == nil {
			if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil {
				c.off.Store(int64(d))
			}
		}
	}
	// Round(0) drops the monotonic reading: durations between two
	// readings then show a step, as they would on a stepped wall clock.
	return time.Now().Round(0).Add(time.Duration(c.off.Load()))
}
