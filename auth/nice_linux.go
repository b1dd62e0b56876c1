package auth

import "syscall"

// lowerThreadPriority raises the calling thread's nice value by nice. On
// Linux a nice value belongs to a thread (PRIO_PROCESS with a thread id),
// and raising it needs no privilege. A failure only costs the priority.
func lowerThreadPriority(nice int) {
	tid := syscall.Gettid()
	cur, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return
	}
	// The raw syscall answers 20-nice; keep the thread's own base.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, min(19, 20-cur+nice))
}
