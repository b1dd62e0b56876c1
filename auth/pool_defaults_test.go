package auth

import (
	"runtime"
	"testing"
)

// The default pool may use only a share of the CPUs for hashing, on
// niced threads, so that a login flood (wrong passwords hash too) cannot
// take the CPU validation needs (issue 16).
func TestDefaultPoolBoundsHashing(t *testing.T) {
	c := DefaultPoolConfig()
	want := max(1, runtime.GOMAXPROCS(0)/2)
	if c.Workers != want {
		t.Errorf("Workers = %d, want half of GOMAXPROCS (%d)", c.Workers, want)
	}
	if c.Nice != DefaultNice {
		t.Errorf("Nice = %d, want DefaultNice (%d)", c.Nice, DefaultNice)
	}
	if c.Queue != QueuePerWorker*want {
		t.Errorf("Queue = %d, want %d", c.Queue, QueuePerWorker*want)
	}
	if z := (PoolConfig{}).withDefaults(); z.Workers != want {
		t.Errorf("zero config: Workers = %d, want %d", z.Workers, want)
	}
	if got := MaxProcsFor(c, 2); got != 2+c.Workers {
		t.Errorf("MaxProcsFor = %d", got)
	}
}
