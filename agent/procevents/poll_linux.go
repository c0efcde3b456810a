package procevents

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdsec/herd/agent/rules"
)

// poller finds new processes by listing /proc every interval. A process
// is its pid and start time, so a pid reused between two cycles is a new
// process. A known process whose command name changed and whose
// executable changed with it has called exec: that is a start too. A
// process that starts and exits within one interval is not seen, and an
// exec of the same executable in place is not told apart. Like the
// connector, which reports execs, it reports programs started, not forks
// (see report).
type poller struct {
	interval time.Duration
	max      int
	r        *reader
	known    map[int]*tracked
	gen      uint32 // the cycle number, to find the processes gone
	n        counters
	ran      atomic.Bool

	closeOnce sync.Once
	closed    chan struct{}
}

// tracked is what the poller remembers of a living process.
type tracked struct {
	start uint64
	comm  string
	exe   string
	gen   uint32
}

var _ Source = (*poller)(nil)

// OpenPoll opens the /proc polling source. It notes the processes living
// now, so that only later ones are reported.
func OpenPoll(opts Options) (Source, error) {
	p := &poller{
		interval: opts.Interval,
		max:      opts.MaxTracked,
		r:        newReader(),
		known:    map[int]*tracked{},
		closed:   make(chan struct{}),
	}
	if p.interval <= 0 {
		p.interval = DefaultInterval
	}
	if p.max <= 0 {
		p.max = DefaultMaxTracked
	}
	if err := p.cycle(nil); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *poller) Kind() Kind   { return Poll }
func (p *poller) Stats() Stats { return p.n.stats() }
func (p *poller) Close() error {
	p.closeOnce.Do(func() { close(p.closed) })
	return nil
}

func (p *poller) Run(ctx context.Context, emit func(rules.Event)) error {
	if p.ran.Swap(true) {
		return errRunTwice
	}
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.closed:
			return nil
		case <-t.C:
		}
		if err := p.cycle(emit); err != nil {
			return err
		}
	}
}

// cycle lists /proc once, emits the processes started since the last
// cycle (none if emit is nil) and forgets the ones gone.
func (p *poller) cycle(emit func(rules.Event)) error {
	d, err := os.Open(procRoot)
	if err != nil {
		return fmt.Errorf("procevents: list processes: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("procevents: list processes: %w", err)
	}
	p.gen++
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue // not a process
		}
		st, err := p.r.stat(pid)
		if err != nil {
			continue // gone already, or not readable
		}
		t, ok := p.known[pid]
		if ok && t.start == st.Start {
			t.gen = p.gen
			if t.comm != st.Comm {
				t.comm = st.Comm
				// A changed name is an exec or a rename (prctl);
				// the executable tells them apart.
				if exe, _ := os.Readlink(procRoot + "/" + name + "/exe"); exe != t.exe {
					t.exe = exe
					p.report(pid, emit, false)
				}
			}
			continue
		}
		if !ok && len(p.known) >= p.max {
			if emit != nil {
				p.n.missed.Add(1)
			}
			continue
		}
		if !ok {
			t = &tracked{}
			p.known[pid] = t
		}
		exe, _ := os.Readlink(procRoot + "/" + name + "/exe")
		*t = tracked{start: st.Start, comm: st.Comm, exe: exe, gen: p.gen}
		p.report(pid, emit, true)
	}
	for pid, t := range p.known {
		if t.gen != p.gen {
			delete(p.known, pid)
		}
	}
	p.n.cycles.Add(1)
	return nil
}

// report emits the event of a process that started (isNew) or called
// exec, or counts it as missed. A new process running its parent's
// program with its parent's command line is a fork that has not called
// exec (yet): not a start of a program, so not reported; its exec, if it
// comes, is.
func (p *poller) report(pid int, emit func(rules.Event), isNew bool) {
	if emit == nil {
		return
	}
	ev, ok := p.r.event(pid)
	if !ok {
		p.n.missed.Add(1)
		return
	}
	if f := ev.Fields; isNew && f["Image"] != nil && f["Image"] == f["ParentImage"] && f["CommandLine"] == f["ParentCommandLine"] {
		return
	}
	p.n.emitted.Add(1)
	emit(ev)
}
