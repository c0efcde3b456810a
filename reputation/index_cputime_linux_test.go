package reputation_test

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time the calling thread has used. Benchmarks
// report it beside the wall time because the machines they run on are
// shared: the wall time of a lookup includes the time other processes
// held the core, its CPU time does not.
func threadCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_THREAD, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
