//go:build !linux

package fsm

import "runtime"

// osYield yields the goroutine where the thread cannot be yielded portably
// (releases are built for Linux only; this keeps the package building
// elsewhere).
func osYield() { runtime.Gosched() }
