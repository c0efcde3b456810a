package reputation

import (
	"encoding/hex"
	"sync"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation/filter"
)

// MaliciousSource lists the malicious hashes a replica knows (its Index).
type MaliciousSource interface {
	// Seq is the sequence number of the last change applied.
	Seq() uint64
	// EachMalicious calls fn with every hash of kind whose verdict is
	// malicious; fn must not keep the slice.
	EachMalicious(kind herd.Kind, fn func(hash []byte))
}

// When Filters builds a new snapshot instead of serving longer deltas.
const (
	// RebuildFraction: hashes added since the snapshot, as a fraction of
	// its own, past which a fresh snapshot is built.
	RebuildFraction = 0.01
	// RebuildAge: a snapshot older than this is rebuilt if anything changed.
	RebuildAge = 24 * time.Hour
)

// Filters serves the offline filter of malicious SHA-256 hashes: a
// snapshot built from the index, and deltas of the hashes the verdict feed
// made malicious since. Agents ask for a delta from the generation of the
// snapshot they hold, so one delta replaces the previous one.
type Filters struct {
	src MaliciousSource
	now func() time.Time

	mu      sync.Mutex
	snap    []byte
	gen     uint64 // the snapshot's generation
	keys    uint64 // hashes in the snapshot
	built   time.Time
	last    uint64        // the last change seen
	added   []addedHash   // made malicious after the snapshot, in order
	cache   *filterDeltas // the last delta served
	rebuild sync.Mutex    // one rebuild at a time
}

type addedHash struct {
	seq  uint64
	hash [32]byte
}

type filterDeltas struct {
	from, to uint64
	b        []byte
}

// NewFilters returns a filter service over src; it builds its first
// snapshot when first asked, or on Rebuild.
func NewFilters(src MaliciousSource) *Filters {
	return &Filters{src: src, now: time.Now}
}

// Apply records a change the index applied; call it after the index's own
// Apply, in order.
func (f *Filters) Apply(c herd.VerdictChange) {
	if c.CaughtUp {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.last = max(f.last, c.Seq)
	r := c.Record
	if c.Deleted || r.Verdict != herd.VerdictMalicious || r.Object.Kind != herd.KindSHA256 {
		return // removals stay in agents' filters until their next snapshot
	}
	var h [32]byte
	if n, err := hex.Decode(h[:], []byte(r.Object.Value)); err != nil || n != 32 {
		return
	}
	f.added = append(f.added, addedHash{c.Seq, h})
}

// Due reports whether a fresh snapshot should be built.
func (f *Filters) Due() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap == nil {
		return true
	}
	if len(f.added) == 0 {
		return false
	}
	return float64(len(f.added)) > RebuildFraction*float64(f.keys) || f.now().Sub(f.built) > RebuildAge
}

// Rebuild builds a snapshot of every malicious SHA-256 the index holds. The
// index goes on applying changes meanwhile: whatever it applies after the
// snapshot's generation is also in the deltas.
func (f *Filters) Rebuild() error {
	f.rebuild.Lock()
	defer f.rebuild.Unlock()
	gen := f.src.Seq()
	var hashes [][32]byte
	f.src.EachMalicious(herd.KindSHA256, func(h []byte) {
		hashes = append(hashes, [32]byte(h))
	})
	snap, err := filter.Build(gen, hashes)
	if err != nil {
		return err
	}
	b, err := snap.MarshalBinary()
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.snap, f.gen, f.keys, f.built, f.cache = b, gen, snap.Keys(), f.now(), nil
	f.last = max(f.last, gen)
	i := 0
	for i < len(f.added) && f.added[i].seq <= gen {
		i++
	}
	f.added = append([]addedHash(nil), f.added[i:]...)
	return nil
}

// Snapshot returns the encoded snapshot and its generation.
func (f *Filters) Snapshot() ([]byte, uint64, error) {
	f.mu.Lock()
	have := f.snap != nil
	f.mu.Unlock()
	if !have {
		if err := f.Rebuild(); err != nil {
			return nil, 0, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap, f.gen, nil
}

// Delta returns an encoded delta of every hash made malicious after
// generation from, which must not be older than the snapshot. It returns
// no bytes when nothing changed since from.
func (f *Filters) Delta(from uint64) ([]byte, uint64, error) {
	if _, _, err := f.Snapshot(); err != nil {
		return nil, 0, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if from < f.gen {
		return nil, 0, herd.Errorf(herd.ECONFLICT, "filter generation %d: older than the snapshot (%d); fetch the snapshot", from, f.gen)
	}
	if from >= f.last {
		return nil, from, nil // up to date
	}
	if c := f.cache; c != nil && c.from == from && c.to == f.last {
		return c.b, c.to, nil
	}
	var hashes [][32]byte
	for _, a := range f.added {
		if a.seq > from {
			hashes = append(hashes, a.hash)
		}
	}
	d, err := filter.BuildDelta(from, f.last, hashes)
	if err != nil {
		return nil, 0, err
	}
	b, err := d.MarshalBinary()
	if err != nil {
		return nil, 0, err
	}
	f.cache = &filterDeltas{from, f.last, b}
	return b, f.last, nil
}
