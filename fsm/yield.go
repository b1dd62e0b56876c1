package fsm

// batchYieldEvery is how many sessions a batch command (RefreshSessions,
// PurgeExpired) handles between two yields of its OS thread.
//
// Why: a 50,000-session refresh batch keeps one core busy for 60–120 ms
// (its apply, decoding included). On a 2-core machine an execution trace
// showed a validation's thread off the core for ≈ 4 ms at a time while its
// goroutine was running, though it waited for no lock of the apply's:
// the kernel had queued it behind the apply's thread for a scheduler
// slice. Yielding the thread every 256 sessions (≈ 0.2 ms of the loop)
// hands the core to whatever waits for it. Measured in process, side by
// side (docs/BENCHMARKS.md, "The refresh batch yields its thread"):
// validation p99 during a batch 0.67–1.59× idle over 30 batches with the
// yield, 2.76–3.03× without; runtime.Gosched instead did not help
// (2.4–6.8× at 10 batches). The batch's apply is ≈ 7 % slower on average.
// The 5 MB decode before the loop does not yield, and with GOMAXPROCS=1
// the stall is Go's own 10 ms preemption quantum, which neither yield
// changes.
const batchYieldEvery = 256

// yieldThread is osYield, replaceable by a test that counts the yields.
var yieldThread = osYield

// batchYield yields the thread before item i of a batch whenever i is a
// positive multiple of batchYieldEvery. It changes nothing in the state, so
// the apply stays deterministic. Call it only where the apply holds no lock
// but s.apMu (the session-only commands): a yield under s.mu or a shard
// lock would stretch the very stall it is for.
func batchYield(i int) {
	if i > 0 && i%batchYieldEvery == 0 {
		yieldThread()
	}
}
