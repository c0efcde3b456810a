// Package reputation serves verdict lookups from an in-memory index that
// follows the verdict store, so every replica answers from memory with the
// latest verdicts.
package reputation

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/herdsec/herd"
)

// Index holds the current verdict of every known object in memory. Built-in
// verdicts (EICAR) sit beneath the stored ones: a stored verdict for the same
// object overrides them, deleting it brings them back.
type Index struct {
	mu      sync.RWMutex
	stored  map[herd.Object]herd.Record
	builtin map[herd.Object]herd.Record
	seq     atomic.Uint64 // last applied change
	ready   chan struct{}
	once    sync.Once
	applied *sync.Cond // broadcast after each applied change; uses mu
}

var _ herd.ReputationService = (*Index)(nil)

// NewIndex returns an index holding only the built-in verdicts.
func NewIndex() *Index {
	x := &Index{
		stored:  make(map[herd.Object]herd.Record),
		builtin: make(map[herd.Object]herd.Record),
		ready:   make(chan struct{}),
	}
	x.applied = sync.NewCond(&x.mu)
	for _, r := range herd.BuiltinRecords() {
		x.builtin[r.Object] = r
	}
	return x
}

// Lookup returns the verdict of each object, in order; unknown objects get
// VerdictUnknown. Objects must be normalized.
func (x *Index) Lookup(_ context.Context, objs []herd.Object) ([]herd.Record, error) {
	out := make([]herd.Record, len(objs))
	x.mu.RLock()
	for i, o := range objs {
		out[i] = x.get(o)
	}
	x.mu.RUnlock()
	return out, nil
}

func (x *Index) get(o herd.Object) herd.Record {
	if r, ok := x.stored[o]; ok {
		return r
	}
	if r, ok := x.builtin[o]; ok {
		return r
	}
	return herd.Record{Object: o, Verdict: herd.VerdictUnknown}
}

// Apply applies one change of the verdict store.
func (x *Index) Apply(c herd.VerdictChange) {
	if c.CaughtUp {
		x.once.Do(func() { close(x.ready) })
		return
	}
	x.mu.Lock()
	if c.Deleted {
		delete(x.stored, c.Record.Object)
	} else {
		x.stored[c.Record.Object] = c.Record
	}
	x.seq.Store(c.Seq)
	x.mu.Unlock()
	x.applied.Broadcast()
}

// WaitFor returns once the change with sequence seq has been applied, so
// that a writer can read its own write from this replica's index.
func (x *Index) WaitFor(ctx context.Context, seq uint64) error {
	stop := context.AfterFunc(ctx, func() {
		x.mu.Lock()
		defer x.mu.Unlock()
		x.applied.Broadcast()
	})
	defer stop()
	x.mu.Lock()
	defer x.mu.Unlock()
	for x.seq.Load() < seq {
		if err := ctx.Err(); err != nil {
			return err
		}
		x.applied.Wait()
	}
	return nil
}

// Seq returns the sequence number of the last change applied.
func (x *Index) Seq() uint64 { return x.seq.Load() }

// Len returns the number of stored verdicts held.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.stored)
}

// Ready is closed once the index holds every verdict that was stored when
// Follow started.
func (x *Index) Ready() <-chan struct{} { return x.ready }

// Follow applies the store's changes to the index until ctx ends or the
// change feed stops.
func (x *Index) Follow(ctx context.Context, store herd.VerdictStore) error {
	ch, err := store.Changes(ctx, 0)
	if err != nil {
		return fmt.Errorf("follow verdicts: %w", err)
	}
	for c := range ch {
		x.Apply(c)
	}
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("follow verdicts: change feed ended")
}
