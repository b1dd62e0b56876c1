package fsm

// batchYieldEvery is how many sessions a batch command (RefreshSessions,
// PurgeExpired) handles between two yields of its OS thread.
//
// Why: a 50,000-session refresh batch keeps one core busy for 100 ms or
// more. On a small machine the kernel then queues other threads of the
// node (a validation's among them) behind the apply's thread for a whole
// scheduler slice (3 ms): validations stalled although they wait for no
// lock of the apply's. Yielding the thread every 256 sessions (≈ 0.5 ms)
// hands the core to whatever waits for it. Measured side by side on 2
// cores (docs/BENCHMARKS.md, "The refresh batch yields its thread"):
// validation p99 during a batch 1–5× idle without the yield, 0.7–1.6×
// with it, the batch itself about 10 % slower. runtime.Gosched does not
// do it (it yields the goroutine, not the thread: 2.4–6.8×).
const batchYieldEvery = 256

// yieldThread is osYield, replaceable by a test that counts the yields.
var yieldThread = osYield

// batchYield yields the thread after every batchYieldEvery-th item i of a
// batch. It changes nothing in the state, so the apply stays
// deterministic.
func batchYield(i int) {
	if i%batchYieldEvery == batchYieldEvery-1 {
		yieldThread()
	}
}
