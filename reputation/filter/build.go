package filter

import (
	"fmt"
	"math"
	"slices"

	"github.com/FastFilter/xorfilter"
	"github.com/herdsec/herd"
)

// MaxKeys is the largest number of distinct keys one filter can hold: the
// library indexes keys with 32-bit integers.
const MaxKeys = math.MaxUint32

// Build returns the snapshot of the malicious hashes as of verdict store
// sequence gen. Duplicates are allowed and counted once; an empty set gives
// an empty snapshot, which contains nothing.
func Build(gen uint64, hashes [][32]byte) (*Snapshot, error) {
	f, err := buildFuse(hashes)
	if err != nil {
		return nil, fmt.Errorf("build snapshot %d: %w", gen, err)
	}
	return &Snapshot{gen: gen, fuse: f}, nil
}

// BuildDelta returns the delta from generation from to generation to: a
// filter over added, which must hold every hash malicious at to that was not
// malicious at from. Hashes removed since from are not shipped: they stay in
// the agent's older filters as false positives until its next snapshot,
// which is harmless because a hit is confirmed online. Duplicates are
// allowed; an empty added gives an empty delta, which only moves the
// generation forward.
func BuildDelta(from, to uint64, added [][32]byte) (*Delta, error) {
	if from >= to {
		return nil, herd.Errorf(herd.EINVALID, "build delta: from generation %d is not before to generation %d", from, to)
	}
	f, err := buildFuse(added)
	if err != nil {
		return nil, fmt.Errorf("build delta %d..%d: %w", from, to, err)
	}
	return &Delta{from: from, to: to, fuse: f}, nil
}

func buildFuse(hashes [][32]byte) (fuse, error) {
	keys := make([]uint64, len(hashes))
	for i := range hashes {
		keys[i] = Key(hashes[i])
	}
	// The library tolerates a few duplicates but may fail or retry on many;
	// sorting also gives the key count the header records.
	slices.Sort(keys)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return fuse{}, nil
	}
	if uint64(len(keys)) > MaxKeys {
		return fuse{}, herd.Errorf(herd.EINVALID, "%d distinct keys, more than the %d a filter holds", len(keys), uint64(MaxKeys))
	}
	n := uint64(len(keys))
	f, err := xorfilter.PopulateBinaryFuse8(keys) // may reorder keys
	if err != nil {
		return fuse{}, herd.Errorf(herd.EINTERNAL, "populate binary fuse filter over %d keys: %v", n, err)
	}
	// A false negative would let known malware through on every offline
	// agent, so the filter is checked against every key before it ships;
	// this costs a few percent of the build.
	for _, k := range keys {
		if !f.Contains(k) {
			return fuse{}, herd.Errorf(herd.EINTERNAL, "binary fuse filter over %d keys misses key %016x", n, k)
		}
	}
	return fuse{keys: n, f: f}, nil
}
