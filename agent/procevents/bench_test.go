//go:build linux

package procevents

import (
	"fmt"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/rules"
	"golang.org/x/sys/unix"
)

// BenchmarkPollCycle measures one polling cycle with n more sleeping
// processes than the machine runs anyway, none of them new.
func BenchmarkPollCycle(b *testing.B) {
	path := copySleep(b, "herd-pe-bench")
	for _, n := range []int{0, 100, 500} {
		b.Run(fmt.Sprintf("extra=%d", n), func(b *testing.B) {
			for range n {
				startChild(b, path, "600")
			}
			src, err := OpenPoll(Options{})
			if err != nil {
				b.Fatal(err)
			}
			p := src.(*poller)
			emit := func(rules.Event) {}
			b.ReportAllocs()
			// CPU time (user and system) tells the cost on a busy
			// machine better than wall time.
			before := cpuTime(b)
			cycles := 0
			for b.Loop() {
				if err := p.cycle(emit); err != nil {
					b.Fatal(err)
				}
				cycles++
			}
			b.ReportMetric(float64(cpuTime(b)-before)/float64(cycles), "cpu-ns/op")
			b.ReportMetric(float64(len(p.known)), "procs")
		})
	}
}

// cpuTime is the CPU time this process has used.
func cpuTime(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
