//go:build race

package cluster

// raceDetector: the race detector slows every goroutine several times, the
// flood's thousands of them included, so timing bounds get room.
const raceDetector = true
