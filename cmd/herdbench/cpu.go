package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuMeter measures the CPU time that the server and the generator spend
// during a load run. Both share the machine's CPUs, so the sum per request
// is what bounds the rate a machine can reach, whatever else runs on it.
type cpuMeter struct {
	pid            int
	server0, self0 time.Duration
	ok             bool
}

func startCPU(serverPID int) cpuMeter {
	s, ok1 := procCPU(strconv.Itoa(serverPID))
	g, ok2 := procCPU("self")
	return cpuMeter{pid: serverPID, server0: s, self0: g, ok: ok1 && ok2}
}

// perRequest returns the microseconds of CPU per answered request of the
// server and of the generator since startCPU; zeros where /proc is missing.
func (m cpuMeter) perRequest(answered int64) (server, generator float64) {
	s, ok1 := procCPU(strconv.Itoa(m.pid))
	g, ok2 := procCPU("self")
	if !m.ok || !ok1 || !ok2 || answered == 0 {
		return 0, 0
	}
	per := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(answered) }
	return per(s - m.server0), per(g - m.self0)
}

// procCPU returns a process's user+system CPU time, all threads, from
// /proc/PID/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func procCPU(pid string) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// The command name, field 2, may hold spaces; the fields after it do not.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, true
}
