package jetstream

import "testing"

func k(b byte) [16]byte { return [16]byte{b} }

func TestRecentIDs(t *testing.T) {
	r := newRecentIDs(3)
	fresh := make([]bool, 2)
	if !r.reserve([][16]byte{k(1), k(1)}, fresh) || !fresh[0] || fresh[1] {
		t.Fatalf("a key twice in one append: fresh %v", fresh)
	}
	// Still pending: another append with it must neither store nor drop it.
	if r.reserve([][16]byte{k(1)}, make([]bool, 1)) {
		t.Fatal("a pending key was reserved again")
	}
	r.stored([][16]byte{k(1)})
	fresh = make([]bool, 1)
	if !r.reserve([][16]byte{k(1)}, fresh) || fresh[0] {
		t.Fatal("a stored key is a duplicate")
	}
	// A failed store is forgotten: the re-send is fresh.
	fresh = make([]bool, 1)
	r.reserve([][16]byte{k(2)}, fresh)
	r.forget([][16]byte{k(2)})
	fresh = make([]bool, 1)
	if !r.reserve([][16]byte{k(2)}, fresh) || !fresh[0] {
		t.Fatal("a forgotten key is fresh again")
	}
	r.stored([][16]byte{k(2)})
	// k(2) now holds two ring slots; evicting the older one must not forget it.
	fresh = make([]bool, 1)
	r.reserve([][16]byte{k(3)}, fresh) // evicts k(1)'s slot
	r.stored([][16]byte{k(3)})
	if _, ok := r.set[k(1)]; ok {
		t.Fatal("the oldest key was not evicted")
	}
	fresh = make([]bool, 1)
	r.reserve([][16]byte{k(4)}, fresh) // evicts k(2)'s first, stale slot
	if _, ok := r.set[k(2)]; !ok {
		t.Fatal("a key was forgotten through its stale ring slot")
	}
}
