//go:build unix

package main

import (
	"os"
	"runtime"
	"syscall"
)

// maxRSS returns an exited process's peak resident set size in bytes, the
// largest of it and its waited-for children, as wait4 reports it. For a
// child of a Go program it is at least the parent's RSS at the time of
// the child's exec (see gnuTime), so it is only the fallback.
func maxRSS(ps *os.ProcessState) int64 {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	if runtime.GOOS == "darwin" || runtime.GOOS == "ios" {
		return ru.Maxrss // bytes there, kilobytes elsewhere
	}
	return ru.Maxrss << 10
}
