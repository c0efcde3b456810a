package jetstream

import "sync"

// recentIDs remembers the de-duplication keys of the last n events a sink
// stored, and of those it is storing, forgetting the oldest first.
type recentIDs struct {
	mu    sync.Mutex
	limit int
	set   map[[16]byte]recentID
	ring  []ringSlot // in the order added; next is the oldest once full
	next  int
	gen   uint64
}

// recentID is one remembered key: the ring slot that holds it (by
// generation), and whether its store is still unconfirmed.
type recentID struct {
	gen     uint64
	pending bool
}

type ringSlot struct {
	key [16]byte
	gen uint64
}

func newRecentIDs(n int) *recentIDs {
	if n <= 0 {
		n = 1
	}
	return &recentIDs{limit: n, set: make(map[[16]byte]recentID, min(n, 1<<16))}
}

// reserve marks each key not remembered as pending and sets fresh[i] for
// it; a key given twice is fresh only the first time. It reports false,
// reserving nothing, if a key is pending for another append: whether that
// one stores it is not known yet, so it is neither a duplicate nor fresh.
func (r *recentIDs) reserve(keys [][16]byte, fresh []bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if e, ok := r.set[k]; ok && e.pending {
			return false
		}
	}
	for i, k := range keys {
		if _, ok := r.set[k]; ok {
			continue
		}
		fresh[i] = true
		r.add(k)
	}
	return true
}

func (r *recentIDs) add(k [16]byte) {
	r.gen++
	s := ringSlot{k, r.gen}
	if len(r.ring) < r.limit {
		r.ring = append(r.ring, s)
	} else {
		old := r.ring[r.next]
		if e, ok := r.set[old.key]; ok && e.gen == old.gen {
			delete(r.set, old.key) // still the slot of that key: forget it
		}
		r.ring[r.next] = s
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = recentID{gen: r.gen, pending: true}
}

// stored confirms keys that were reserved.
func (r *recentIDs) stored(keys [][16]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		if e, ok := r.set[k]; ok {
			e.pending = false
			r.set[k] = e
		}
	}
}

// forget forgets keys whose store failed or was not tried, so that a
// re-send is stored.
func (r *recentIDs) forget(keys [][16]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.set, k)
	}
}
