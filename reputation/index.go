// Package reputation serves verdict lookups from an in-memory index that
// follows the verdict store, so every replica answers from memory with the
// latest verdicts.
package reputation

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/herdsec/herd"
)

// Index holds the current verdict of every known object in memory. Built-in
// verdicts (EICAR) sit beneath the stored ones: a stored verdict for the same
// object overrides them, deleting it brings them back.
//
// Hashes, nearly all of what is stored, are kept compact in one hashTable
// per hash kind, sorted by hash for Prefix (index_table.go): each verdict
// is its hash and 12 bytes (index_entry.go), about 53 bytes in all for a
// sha256 verdict where a map of records took 260 to 380. Other objects,
// and hashes not spelt canonically, keep their whole record in a map.
type Index struct {
	mu      sync.RWMutex
	hashes  [3]*hashTable // sha256, sha1, md5: canonical hashes, compact
	other   map[herd.Object]herd.Record
	spill   map[herd.Object]herd.Record // whole records of table entries that do not fit the compact form
	sources *names
	threats *names
	builtin []herd.Record
	seq     atomic.Uint64 // last applied change
	ready   chan struct{}
	once    sync.Once
	applied *sync.Cond // broadcast after each applied change; uses mu
}

var _ herd.ReputationService = (*Index)(nil)

// NewIndex returns an index holding only the built-in verdicts.
func NewIndex() *Index {
	x := &Index{
		hashes:  [3]*hashTable{newHashTable(32), newHashTable(20), newHashTable(16)},
		other:   make(map[herd.Object]herd.Record),
		spill:   make(map[herd.Object]herd.Record),
		sources: newNames(maxSources),
		threats: newNames(maxThreats),
		builtin: herd.BuiltinRecords(),
		ready:   make(chan struct{}),
	}
	x.applied = sync.NewCond(&x.mu)
	return x
}

// table returns the hash table of kind, or nil for kinds that are not hashes.
func (x *Index) table(k herd.Kind) *hashTable {
	switch k {
	case herd.KindSHA256:
		return x.hashes[0]
	case herd.KindSHA1:
		return x.hashes[1]
	case herd.KindMD5:
		return x.hashes[2]
	}
	return nil
}

// Lookup returns the verdict of each object, in order; unknown objects get
// VerdictUnknown. Objects must be normalized.
func (x *Index) Lookup(_ context.Context, objs []herd.Object) ([]herd.Record, error) {
	out := make([]herd.Record, len(objs))
	x.mu.RLock()
	if len(objs) >= minBatch {
		x.getBatch(objs, out)
	} else {
		for i, o := range objs {
			out[i] = x.get(o)
		}
	}
	x.mu.RUnlock()
	return out, nil
}

func (x *Index) get(o herd.Object) herd.Record {
	var buf [32]byte
	if t := x.table(o.Kind); t != nil && decodeHash(buf[:t.klen], o.Value) {
		if val, ok := t.get(buf[:t.klen]); ok {
			return x.decode(o, val)
		}
	} else if r, ok := x.other[o]; ok {
		return r
	}
	return x.builtinOrUnknown(o)
}

// builtinOrUnknown returns the built-in record of o if there is one, and
// o's unknown record if not.
func (x *Index) builtinOrUnknown(o herd.Object) herd.Record {
	for _, r := range x.builtin {
		if r.Object == o {
			return r
		}
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
	x.apply(c)
	x.seq.Store(c.Seq)
	x.mu.Unlock()
	x.applied.Broadcast()
}

func (x *Index) apply(c herd.VerdictChange) {
	o := c.Record.Object
	var buf [32]byte
	t := x.table(o.Kind)
	if t == nil || !decodeHash(buf[:t.klen], o.Value) {
		if c.Deleted {
			delete(x.other, o)
		} else {
			x.other[o] = c.Record
		}
		return
	}
	key := buf[:t.klen]
	var (
		old [valLen]byte
		had bool
	)
	if c.Deleted {
		old, had = t.del(key)
		delete(x.spill, o)
	} else {
		var val [valLen]byte // all zero (verdict code spilled) unless encoded
		spill := !x.encode(c.Record, &val)
		if spill {
			x.spill[o] = c.Record
		}
		old, had = t.put(key, &val)
		if had && !spill && metaVerdict(binary.LittleEndian.Uint32(old[8:])) == spilled {
			delete(x.spill, o)
		}
	}
	if had {
		x.release(old[:])
	}
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
	n := len(x.other)
	for _, t := range x.hashes {
		n += t.n
	}
	return n
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
