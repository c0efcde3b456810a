package procevents

import (
	"context"

	"github.com/herdsec/herd/agent/rules"
)

// Watch runs src until ctx is done or src is closed or fails (returning
// what Run returns), evaluating each event against set. It calls found
// with each event that some rule matches, and with each event the rules
// failed on (err set); events that match nothing are dropped. found runs
// on the goroutine of Run, so it should hand slow work elsewhere.
func Watch(ctx context.Context, src Source, set *rules.Set, found func(ev rules.Event, ms []rules.Match, err error)) error {
	return src.Run(ctx, func(ev rules.Event) {
		ms, err := set.Evaluate(ctx, ev)
		if err != nil || len(ms) > 0 {
			found(ev, ms, err)
		}
	})
}
