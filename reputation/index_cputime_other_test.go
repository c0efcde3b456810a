//go:build !linux

package reputation_test

import "time"

// threadCPU is not measured where a thread's CPU time is not at hand.
func threadCPU() (time.Duration, bool) { return 0, false }
