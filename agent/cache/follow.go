package cache

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/herdsec/herd"
)

// Streamer follows the cloud's verdict changes (httpapi.Client does).
type Streamer interface {
	// Stream calls fn with every change after sequence after, in order,
	// until ctx ends or the connection breaks, and returns the last
	// sequence it delivered.
	Stream(ctx context.Context, after uint64, fn func(herd.VerdictChange) error) (uint64, error)
}

// FollowOptions tune Follow; the zero value is ready to use.
type FollowOptions struct {
	// MinBackoff and MaxBackoff bound the wait before reconnecting; it
	// doubles after each failed attempt. 0: 1 s and 1 min.
	MinBackoff, MaxBackoff time.Duration
	// Applied, if set, is called after each batch of changes is stored,
	// with the stream position now stored and the changes that touched a
	// cached entry.
	Applied func(seq uint64, touched []herd.VerdictChange)
	// CaughtUp, if set, is called when the stream has delivered (and the
	// cache stored) every change that existed when it connected.
	CaughtUp func(seq uint64)
	// Retry, if set, is told of each failure and how long Follow waits.
	Retry func(err error, wait time.Duration)
}

// maxApplyBatch bounds the changes stored in one transaction: a stream
// followed from its start delivers every verdict of the cloud, and one
// transaction each would take hours.
const maxApplyBatch = 1000

// Follow keeps the cache current with the cloud's verdict stream until ctx
// ends, then returns nil. It resumes after the stream position stored in
// the cache, stores each change together with its position (so a restart
// misses nothing and at worst applies a change twice, which is harmless),
// and reconnects after failures with exponential backoff and jitter. It
// returns an error only when the cache cannot be read at the start, or
// when another process gave the cache to another cloud (ECONFLICT).
func Follow(ctx context.Context, c *Cache, s Streamer, opt FollowOptions) error {
	if opt.MinBackoff <= 0 {
		opt.MinBackoff = time.Second
	}
	if opt.MaxBackoff < opt.MinBackoff {
		opt.MaxBackoff = max(time.Minute, opt.MinBackoff)
	}
	after, err := c.Seq()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The stream is read on this goroutine and stored on another, so that
	// a slow disk (or a scan holding the file) does not stall the
	// connection, and changes that arrive together are stored together.
	changes := make(chan herd.VerdictChange, 4*maxApplyBatch)
	stored := make(chan struct{})
	var storeErr error
	go func() {
		defer close(stored)
		if storeErr = store(ctx, c, changes, opt); storeErr != nil {
			cancel()
		}
	}()
	backoff := opt.MinBackoff
	for ctx.Err() == nil {
		delivered := false
		last, err := s.Stream(ctx, after, func(ch herd.VerdictChange) error {
			delivered = true
			select {
			case changes <- ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		after = max(after, last)
		if ctx.Err() != nil {
			break
		}
		if delivered {
			backoff = opt.MinBackoff // the connection worked: start over
		}
		if err == nil {
			err = herd.Errorf(herd.EUNAVAILABLE, "verdict stream ended")
		}
		wait := jitter(backoff)
		if opt.Retry != nil {
			opt.Retry(err, wait)
		}
		if !sleep(ctx, wait) {
			break
		}
		backoff = min(2*backoff, opt.MaxBackoff)
	}
	cancel()
	<-stored
	return storeErr
}

// store writes changes to the cache in batches until ctx ends. A batch
// that cannot be written is retried with backoff, never dropped: the
// stream position is stored only with the changes before it. It gives up
// only when the cache belongs to another cloud now.
func store(ctx context.Context, c *Cache, changes <-chan herd.VerdictChange, opt FollowOptions) error {
	batch := make([]herd.VerdictChange, 0, maxApplyBatch)
	for {
		batch = batch[:0]
		select {
		case ch := <-changes:
			batch = append(batch, ch)
		case <-ctx.Done():
			return nil
		}
	drain:
		for len(batch) < maxApplyBatch && !batch[len(batch)-1].CaughtUp {
			select {
			case ch := <-changes:
				batch = append(batch, ch)
			default:
				break drain
			}
		}
		backoff := opt.MinBackoff
		for {
			touched, err := c.Apply(batch)
			if err == nil {
				var seq uint64
				for _, ch := range batch {
					seq = max(seq, ch.Seq)
				}
				if opt.Applied != nil && seq > 0 {
					opt.Applied(seq, touched)
				}
				break
			}
			if herd.ErrorCode(err) == herd.ECONFLICT {
				return err
			}
			wait := jitter(backoff)
			if opt.Retry != nil {
				opt.Retry(err, wait)
			}
			if !sleep(ctx, wait) {
				return nil
			}
			backoff = min(2*backoff, opt.MaxBackoff)
		}
		if batch[len(batch)-1].CaughtUp && opt.CaughtUp != nil {
			seq, err := c.Seq()
			if err == nil {
				opt.CaughtUp(seq)
			}
		}
	}
}

// jitter spreads d over [d/2, d) so that agents cut off together do not
// reconnect together.
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
