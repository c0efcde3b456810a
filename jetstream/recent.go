package jetstream

import "sync"

// recentIDs remembers the de-duplication keys of the last n events a sink
// stored (or is storing), forgetting the oldest first.
type recentIDs struct {
	mu    sync.Mutex
	limit int
	set   map[[16]byte]struct{}
	ring  [][16]byte // in the order added; next is the oldest once full
	next  int
}

func newRecentIDs(n int) *recentIDs {
	if n <= 0 {
		n = 1
	}
	return &recentIDs{limit: n, set: make(map[[16]byte]struct{}, min(n, 1<<16))}
}

// reserve sets fresh[i] for each key not remembered and remembers it; a key
// given twice is fresh only the first time.
func (r *recentIDs) reserve(keys [][16]byte, fresh []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range keys {
		if _, ok := r.set[k]; ok {
			continue
		}
		fresh[i] = true
		r.add(k)
	}
}

func (r *recentIDs) add(k [16]byte) {
	if len(r.ring) < r.limit {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
}

// release forgets the keys reserve marked fresh.
func (r *recentIDs) release(keys [][16]byte, fresh []bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, k := range keys {
		if fresh[i] {
			delete(r.set, k)
		}
	}
}

// forget forgets keys whose store failed, so that a re-send is stored.
func (r *recentIDs) forget(keys [][16]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		delete(r.set, k)
	}
}
