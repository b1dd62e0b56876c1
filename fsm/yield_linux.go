package fsm

import "syscall"

// osYield gives the core to another runnable thread, if any: sched_yield,
// through syscall.Syscall so that the runtime knows the thread is in a
// system call.
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
