// Package procevents reports the programs that start on a Linux machine
// as process_creation events for the behaviour rules (agent/rules): from
// the kernel's process-event connector when the agent may subscribe to
// it, else by polling /proc.
//
// Events hold command lines, which may hold secrets (passwords, tokens
// in arguments): they are for evaluation on the device. Whatever of them
// leaves it goes through consent and scrub like any other telemetry.
package procevents

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/herdsec/herd/agent/rules"
)

// Source delivers the starts of programs (a process's exec; a fork that
// runs no new program is not one) as rules.Event values with
// the logsource product linux, category process_creation, and the fields
// ProcessId, Image, CommandLine, CurrentDirectory, User (the effective
// user's name), LogonId (the audit login uid, when the process has one),
// ParentProcessId, ParentImage and ParentCommandLine, each left out when
// the kernel no longer shows it. Image is the path of the executable the
// kernel ran, a name anyone may give a file; CommandLine is what the
// starter passed, argv[0] included: rules read both as claims, not proof.
//
// A Source reports processes that start after Open returns; processes
// running before are not reported. A process that exits before its
// details could be read is counted in Stats.Missed, not reported.
type Source interface {
	// Run calls emit for each process start, one call at a time, from
	// the goroutine that called Run, until ctx is done or the source is
	// closed (it then returns nil) or the source fails (it returns why).
	// emit should be quick: while it runs, the connector's events wait
	// in the kernel's bounded buffer (overflows are counted in
	// Stats.Overruns) and polling pauses. Run may be called once.
	Run(ctx context.Context, emit func(rules.Event)) error
	// Kind names the mechanism in use.
	Kind() Kind
	// Stats returns the counters so far; it may be called at any time.
	Stats() Stats
	// Close releases the source and makes Run return.
	Close() error
}

// Kind names a source's mechanism.
type Kind string

// The mechanisms. Auto, as an option, means the connector if it can be
// opened, else polling.
const (
	Auto      Kind = ""
	Connector Kind = "connector" // netlink process-event connector: every exec, no polling
	Poll      Kind = "poll"      // /proc polling: processes living at least about one interval
)

// Stats counts what a source saw.
type Stats struct {
	Emitted uint64 // events delivered
	// Missed counts processes gone before they could be read and, when
	// polling, each cycle's new processes left untracked over MaxTracked.
	Missed uint64
	// Overruns counts the times the kernel dropped events because they
	// were not read fast enough (connector); each may be many events.
	Overruns uint64
	Garbled  uint64 // connector datagrams that did not decode
	Cycles   uint64 // polling cycles done
}

// Options configures Open. The zero value picks the mechanism itself and
// polls every DefaultInterval if it has to.
type Options struct {
	Kind Kind // Auto (default), Connector or Poll
	// Interval is the polling period; DefaultInterval if zero.
	Interval time.Duration
	// MaxTracked bounds the processes polling remembers (and so its
	// memory); new processes beyond it are counted as missed.
	// DefaultMaxTracked if zero.
	MaxTracked int
	// OnFallback, if set, is told why the connector could not be used
	// when Kind is Auto and polling is used instead.
	OnFallback func(error)
}

// Defaults of Options.
const (
	DefaultInterval   = 250 * time.Millisecond
	DefaultMaxTracked = 1 << 16
)

// Open opens a source of the kind opts asks for.
func Open(opts Options) (Source, error) {
	if opts.Interval < 0 {
		return nil, fmt.Errorf("procevents: interval = %v: must be >= 0", opts.Interval)
	}
	if opts.MaxTracked < 0 {
		return nil, fmt.Errorf("procevents: max tracked = %d: must be >= 0", opts.MaxTracked)
	}
	switch opts.Kind {
	case Connector:
		return OpenConnector()
	case Poll:
		return OpenPoll(opts)
	case Auto:
		c, err := OpenConnector()
		if err == nil {
			return c, nil
		}
		if opts.OnFallback != nil {
			opts.OnFallback(err)
		}
		return OpenPoll(opts)
	}
	return nil, fmt.Errorf("procevents: kind %q: want %q, %q or empty (auto)", opts.Kind, Connector, Poll)
}

// counters are the atomic counterparts of Stats.
type counters struct {
	emitted, missed, overruns, garbled, cycles atomic.Uint64
}

func (c *counters) stats() Stats {
	return Stats{
		Emitted:  c.emitted.Load(),
		Missed:   c.missed.Load(),
		Overruns: c.overruns.Load(),
		Garbled:  c.garbled.Load(),
		Cycles:   c.cycles.Load(),
	}
}

// errRunTwice is returned by a second call of Run.
var errRunTwice = errors.New("procevents: Run called twice")
