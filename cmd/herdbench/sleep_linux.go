package main

import (
	"syscall"
	"time"
)

// sleep blocks its thread in nanosleep. time.Sleep cannot wait less than
// about 1 ms when the process is otherwise idle (the runtime's poller
// rounds shorter timeouts up to 1 ms), and at 10,000 requests/s sends
// are 100 µs apart: the paced generator would release them in bursts of
// ten and add its own half millisecond to every latency it measures.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	_ = syscall.Nanosleep(&ts, nil) // EINTR: the caller sleeps again
}
