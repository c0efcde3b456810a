package filter

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/herdsec/herd"
)

// When a set should fetch a fresh snapshot instead of more deltas.
const (
	// MaxDeltaFraction bounds the bytes of the deltas held, relative to
	// the base snapshot's: past it a snapshot is cheaper to hold.
	MaxDeltaFraction = 0.25
	// MaxDeltas bounds the chain length. Every non-empty filter consulted
	// adds its own 0.39% of false positives whatever its size, so many
	// small deltas would raise the false-positive rate long before they
	// reach MaxDeltaFraction: with 4 deltas it stays under 2%.
	MaxDeltas = 4
)

// Set is the agent's offline filter: a base snapshot and the chain of deltas
// applied since. A hash is contained if the base or any delta contains it,
// so the set contains every hash malicious at its generation.
//
// The zero Set is empty and ready to use. Contains is lock-free and safe to
// call concurrently with Apply and ApplyDelta, which replace the state
// atomically: a reader sees the set before or after a change, never between.
type Set struct {
	mu    sync.Mutex // serialises writers
	state atomic.Pointer[setState]
}

type setState struct {
	base   *Snapshot
	deltas []*Delta
	gen    uint64 // base.gen, or the last delta's to
	bytes  int    // sum of the deltas' sizes
}

// Contains reports whether sha256 may be malicious: true for every hash
// malicious at the set's generation, and for a small fraction of others
// (see [SetStats.FalsePositiveRate]), which the caller confirms online.
func (s *Set) Contains(sha256 [32]byte) bool {
	st := s.state.Load()
	if st == nil {
		return false
	}
	k := Key(sha256)
	if st.base.contains(k) {
		return true
	}
	for _, d := range st.deltas {
		if d.contains(k) {
			return true
		}
	}
	return false
}

// Generation returns the verdict store sequence the set reflects: that of
// its last delta, or of its snapshot, or 0 for an empty set.
func (s *Set) Generation() uint64 {
	if st := s.state.Load(); st != nil {
		return st.gen
	}
	return 0
}

// Apply replaces the set's content with snap and drops its deltas. It
// refuses (ECONFLICT) a snapshot older than the set's generation, which
// would forget hashes the set already knows: a stale cache or a replayed
// download must not make the agent blind to newer malware.
func (s *Set) Apply(snap *Snapshot) error {
	if snap == nil {
		return herd.Errorf(herd.EINVALID, "apply snapshot: nil snapshot")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.Generation(); snap.gen < cur {
		return herd.Errorf(herd.ECONFLICT, "apply snapshot: generation %d is older than the set's generation %d", snap.gen, cur)
	}
	s.state.Store(&setState{base: snap, gen: snap.gen})
	return nil
}

// ApplyDelta adds d to the set and moves the set to d's generation. d must
// start where the set is now (its From is the set's generation), extending
// the chain; or start at the base snapshot's generation and reach at least
// the set's generation, in which case it covers every delta held and
// replaces them all, which keeps the chain, and so the false-positive rate,
// short when the server sends cumulative deltas. Any other delta is refused with ECONFLICT and the set
// is left unchanged: applying it could skip additions and miss malware.
func (s *Set) ApplyDelta(d *Delta) error {
	if d == nil {
		return herd.Errorf(herd.EINVALID, "apply delta: nil delta")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state.Load()
	if st == nil {
		return herd.Errorf(herd.ECONFLICT, "apply delta %d..%d: the set has no snapshot yet", d.from, d.to)
	}
	var deltas []*Delta
	switch {
	case d.from == st.gen:
		deltas = st.deltas // never appended to in place: states are shared with readers
	case d.from == st.base.gen && d.to >= st.gen:
		deltas = nil
	default:
		return herd.Errorf(herd.ECONFLICT, "apply delta %d..%d: it starts neither at the set's generation %d nor at its snapshot's generation %d", d.from, d.to, st.gen, st.base.gen)
	}
	if d.keys > 0 {
		// An empty delta only moves the generation: holding it would cost
		// a lookup and count against MaxDeltas for nothing.
		deltas = append(slices.Clip(deltas), d)
	}
	next := &setState{base: st.base, deltas: deltas, gen: d.to}
	for _, x := range deltas {
		next.bytes += x.Size()
	}
	s.state.Store(next)
	return nil
}

// NeedsSnapshot reports whether the set should fetch a full snapshot rather
// than more deltas: it has none, its deltas hold more than MaxDeltaFraction
// of the snapshot's bytes, or it holds more than MaxDeltas deltas.
func (s *Set) NeedsSnapshot() bool {
	st := s.Stats()
	return !st.HasSnapshot ||
		float64(st.DeltaBytes) > MaxDeltaFraction*float64(st.SnapshotBytes) ||
		st.Deltas > MaxDeltas
}

// SetStats describes a set for status pages and metrics.
type SetStats struct {
	HasSnapshot        bool
	Generation         uint64  // see Set.Generation
	SnapshotGeneration uint64  // the base snapshot's generation
	SnapshotKeys       uint64  // distinct keys in the snapshot
	SnapshotBytes      int     // encoded size of the snapshot
	Deltas             int     // non-empty deltas held (empty ones only move the generation)
	DeltaKeys          uint64  // distinct keys summed over the deltas
	DeltaBytes         int     // encoded size summed over the deltas
	FalsePositiveRate  float64 // expected, over the non-empty filters held
}

// Stats returns the set's current figures.
func (s *Set) Stats() SetStats {
	st := s.state.Load()
	if st == nil {
		return SetStats{}
	}
	out := SetStats{
		HasSnapshot:        true,
		Generation:         st.gen,
		SnapshotGeneration: st.base.gen,
		SnapshotKeys:       st.base.keys,
		SnapshotBytes:      st.base.Size(),
		Deltas:             len(st.deltas),
		DeltaBytes:         st.bytes,
	}
	filters := 0
	if st.base.keys > 0 {
		filters++
	}
	for _, d := range st.deltas {
		out.DeltaKeys += d.keys
		if d.keys > 0 {
			filters++
		}
	}
	out.FalsePositiveRate = FalsePositiveRate(filters)
	return out
}
