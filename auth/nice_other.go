//go:build !linux

package auth

// lowerThreadPriority is a no-op where thread priorities are not set
// per thread; hashes then compete with validation at equal priority.
func lowerThreadPriority(int) {}
