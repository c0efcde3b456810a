package reputation

import (
	"bytes"
	"runtime"

	"github.com/herdsec/herd"
)

const (
	// minBatch is the fewest objects Lookup looks up in stages.
	minBatch = 4
	// lookupChunk is how many objects a staged lookup works on at once:
	// more than the misses a core can have outstanding, few enough that
	// their state fits on the stack and their cache lines in L1.
	lookupChunk = 32
)

// getBatch sets out[i] to get(objs[i]), in stages over chunks of objects.
//
// Why: in an index larger than the caches, a hash lookup waits on main
// memory twice, for the fingerprints of its part and for its entry, and
// each wait is longer than all the rest of the lookup. One object at a
// time, a batch pays every wait in turn. Stage by stage (find every
// object's part and read the fingerprint guessed for it, then search the
// fingerprints of each, now in cache, and read the entry found, then
// compare and decode each) the loads of a stage do not depend on each
// other and the processor overlaps their waits.
func (x *Index) getBatch(objs []herd.Object, out []herd.Record) {
	var (
		keys  [lookupChunk][32]byte
		tabs  [lookupChunk]*hashTable
		parts [lookupChunk]*part
		lo    [lookupChunk]int // the run of entries with the hash's fingerprint
		hi    [lookupChunk]int
	)
	for len(objs) > 0 {
		n := min(len(objs), lookupChunk)
		for j, o := range objs[:n] {
			tabs[j] = x.table(o.Kind)
			if t := tabs[j]; t != nil && !decodeHash(keys[j][:t.klen], o.Value) {
				tabs[j] = nil // not a canonical hash: get looks it up
			}
		}
		var touched uint64 // what the stages read ahead, kept alive below
		for j, t := range tabs[:n] {
			if t == nil {
				continue
			}
			k := top(keys[j][:])
			p := t.partOf(k)
			parts[j] = p
			if m := len(p.fp); m > 0 {
				touched += uint64(p.fp[uint64(fingerprint(k, p.depth))*uint64(m)>>16])
			}
		}
		for j, t := range tabs[:n] {
			if t == nil {
				continue
			}
			p := parts[j]
			lo[j], hi[j] = t.run(p, top(keys[j][:]))
			if lo[j] < hi[j] {
				touched += uint64(p.data[lo[j]*t.stride])
			}
		}
		runtime.KeepAlive(touched) // the reads ahead must not be optimized away
		for j, o := range objs[:n] {
			t := tabs[j]
			if t == nil {
				out[j] = x.get(o)
				continue
			}
			p, key := parts[j], keys[j][:t.klen]
			if i, maybe := t.bisect(p, lo[j], hi[j], top(key), key[8:]); maybe && bytes.Equal(t.entry(p, i)[:t.klen], key) {
				out[j] = x.decode(o, t.entry(p, i)[t.klen:])
			} else {
				out[j] = x.builtinOrUnknown(o)
			}
		}
		objs, out = objs[n:], out[n:]
	}
}
