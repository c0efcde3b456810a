package reputation

import (
	"bytes"
	"encoding/binary"
	"slices"
)

// A hashTable holds the compact entries of one hash kind (sha256, sha1 or
// md5), sorted by hash. An entry is the hash's bytes followed by valLen
// bytes of value: no pointers and no per-entry header, so that ten million
// sha256 verdicts cost little more than their 44 bytes each and the
// garbage collector never looks inside them.
//
// Entries are split into parts by their hash's leading bits, found through
// a directory indexed by those bits (extendible hashing). A part that grows
// past maxPart entries splits in two on its next bit, doubling the
// directory if it must: growth copies one part at a time and never stalls
// lookups on a rebuild of the whole table.
//
// Each part keeps, beside its entries, a fingerprint of each: the 16 bits
// of the hash that follow the part's prefix. A lookup guesses the position
// of its fingerprint by interpolation (hashes are uniform), finds it with a
// galloping search among the fingerprints (a few hundred bytes, one or two
// cache lines), and only then reads the one entry that may match: a hash
// that is not stored, the common case, usually costs no entry read at all.
// A prefix query is the same search followed by a scan.
//
// Hashes of stored verdicts may be chosen by someone who wants to slow the
// index down (crafted files whose hashes share a long prefix). Such hashes
// pile into one part that cannot usefully split: the directory grows only
// while it has at most maxDirPerPart entries per part, beyond that the part
// just grows, and searching it stays logarithmic (galloping, then
// bisection among equal fingerprints).
type hashTable struct {
	klen   int      // hash length in bytes
	stride int      // klen + valLen
	depth  uint     // global depth: the directory has 1<<depth entries
	dir    []uint32 // part index for each value of the hash's leading depth bits
	parts  []part
	n      int // entries held

	maxPart       int // entries in a part before it splits
	maxDirPerPart int // the directory grows only while it has at most this many entries per part
}

type part struct {
	data   []byte   // entries, sorted by hash
	fp     []uint16 // fingerprint of each entry: the 16 hash bits after the prefix
	prefix uint32   // the leading depth bits every hash in the part shares
	depth  uint
}

const (
	valLen   = 12 // unix nanoseconds (8 bytes) and meta (4 bytes), little-endian
	maxDepth = 32 // directory depth limit: a prefix fits a uint32

	// Defaults of hashTable.maxPart and maxDirPerPart. Small parts keep
	// inserts cheap (they move half a part); 128 entries keep the
	// per-part overhead (header, directory entries) under one byte per
	// entry.
	defaultMaxPart       = 128
	defaultMaxDirPerPart = 8
)

func newHashTable(klen int) *hashTable {
	return &hashTable{
		klen: klen, stride: klen + valLen, dir: []uint32{0}, parts: []part{{}},
		maxPart: defaultMaxPart, maxDirPerPart: defaultMaxDirPerPart,
	}
}

// top returns the first 8 bytes of a hash as a big-endian integer: the
// order of tops is the order of hashes, and their leading bits index the
// directory.
func top(key []byte) uint64 { return binary.BigEndian.Uint64(key) }

// fingerprint returns the 16 bits of a hash's top after its first depth.
func fingerprint(k uint64, depth uint) uint16 { return uint16(k << depth >> 48) }

func (t *hashTable) partOf(k uint64) *part {
	return &t.parts[t.dir[k>>1>>(63-t.depth)]] // two shifts: depth 0 would shift by 64
}

// entry returns entry i of p.
func (t *hashTable) entry(p *part, i int) []byte {
	return p.data[i*t.stride : (i+1)*t.stride]
}

// less reports whether entry e's hash sorts before the hash whose top is k
// and whose remaining bytes are rest (nil stands for zeros).
func (t *hashTable) less(e []byte, k uint64, rest []byte) bool {
	if et := top(e); et != k {
		return et < k
	}
	if rest == nil {
		return false
	}
	return bytes.Compare(e[8:t.klen], rest) < 0
}

// search returns the index of the first entry of p whose hash is not below
// the hash (k, rest), and whether that entry's fingerprint is k's: if not,
// the hash is not in p.
func (t *hashTable) search(p *part, k uint64, rest []byte) (int, bool) {
	lo, hi := t.run(p, k)
	return t.bisect(p, lo, hi, k, rest)
}

// run returns the entries of p whose fingerprint is k's: [lo, hi), empty
// at the place such entries would be if there are none.
func (t *hashTable) run(p *part, k uint64) (lo, hi int) {
	n := len(p.fp)
	if n == 0 {
		return 0, 0
	}
	f := fingerprint(k, p.depth)
	lo = lowerBound(p.fp, f, int(uint64(f)*uint64(n)>>16))
	if lo == n || p.fp[lo] != f {
		return lo, lo
	}
	if f == 1<<16-1 {
		return lo, n
	}
	return lo, lo + lowerBound(p.fp[lo:], f+1, 0)
}

// bisect returns, like search, the index of the first entry not below
// (k, rest), given the run [lo, hi) of entries with k's fingerprint.
func (t *hashTable) bisect(p *part, lo, hi int, k uint64, rest []byte) (int, bool) {
	end := hi
	for hi > lo {
		m := int(uint(lo+hi) >> 1)
		if t.less(t.entry(p, m), k, rest) {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < end
}

// lowerBound returns the index of the first fingerprint not below f,
// galloping from the guess g.
func lowerBound(fp []uint16, f uint16, g int) int {
	n := len(fp)
	var lo, hi int
	if fp[g] < f {
		lo, hi = g+1, n
		for step := 1; g+step < n; step <<= 1 {
			if fp[g+step] >= f {
				hi = g + step
				break
			}
			lo = g + step + 1
		}
	} else {
		lo, hi = 0, g
		for step := 1; g-step >= 0; step <<= 1 {
			if fp[g-step] < f {
				lo = g - step + 1
				break
			}
			hi = g - step
		}
	}
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if fp[m] < f {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// find returns the part holding key and the index where key is or would be.
func (t *hashTable) find(key []byte) (*part, int, bool) {
	k := top(key)
	p := t.partOf(k)
	i, maybe := t.search(p, k, key[8:])
	return p, i, maybe && bytes.Equal(t.entry(p, i)[:t.klen], key)
}

// get returns the value of key's entry, aliasing the table: valid until
// the next change.
func (t *hashTable) get(key []byte) ([]byte, bool) {
	p, i, ok := t.find(key)
	if !ok {
		return nil, false
	}
	return t.entry(p, i)[t.klen:], true
}

// put stores val under key and returns the value it replaced, if any.
func (t *hashTable) put(key []byte, val *[valLen]byte) (old [valLen]byte, replaced bool) {
	p, i, ok := t.find(key)
	if ok {
		v := t.entry(p, i)[t.klen:]
		copy(old[:], v)
		copy(v, val[:])
		return old, true
	}
	s := t.stride
	p.data = insertGap(p.data, i*s, s)
	copy(p.data[i*s:], key)
	copy(p.data[i*s+t.klen:], val[:])
	p.fp = insertGap(p.fp, i, 1)
	p.fp[i] = fingerprint(top(key), p.depth)
	t.n++
	if len(p.fp) > t.maxPart {
		t.split(p)
	}
	return old, false
}

// del removes key's entry and returns its value.
func (t *hashTable) del(key []byte) (old [valLen]byte, deleted bool) {
	p, i, ok := t.find(key)
	if !ok {
		return old, false
	}
	s := t.stride
	copy(old[:], p.data[i*s+t.klen:(i+1)*s])
	p.data = removeGap(p.data, i*s, s)
	p.fp = removeGap(p.fp, i, 1)
	t.n--
	return old, true
}

// insertGap opens n elements at i, growing s by an eighth when it is full:
// slack stays small, and the sizes handed out by the allocator are used
// to the last byte.
func insertGap[E any](s []E, i, n int) []E {
	l := len(s)
	if l+n > cap(s) {
		grown := allocSlice[E](l+n, l+n+l/8)
		copy(grown, s[:i])
		copy(grown[i+n:], s[i:])
		return grown
	}
	s = s[:l+n]
	copy(s[i+n:], s[i:l])
	return s
}

// removeGap removes n elements at i, giving memory back when mass
// deletions have left s mostly empty.
func removeGap[E any](s []E, i, n int) []E {
	s = append(s[:i], s[i+n:]...)
	switch {
	case len(s) == 0:
		return nil
	case cap(s) > 2*len(s)+64:
		return append(allocSlice[E](0, len(s)+len(s)/8), s...)
	}
	return s
}

// allocSlice returns a slice of length n with room for at least want
// elements, its capacity rounded up to the allocator's size class.
func allocSlice[E any](n, want int) []E {
	if want == 0 {
		return nil
	}
	return slices.Grow([]E(nil), want)[:n]
}

// split divides p on the first bit its hashes do not share, if the
// directory may grow as far as that needs.
func (t *hashTable) split(p *part) {
	if p.depth == t.depth {
		if t.depth == maxDepth || 1<<(t.depth+1) > t.maxDirPerPart*(len(t.parts)+1) {
			return
		}
		dir := make([]uint32, 2*len(t.dir))
		for i, pi := range t.dir {
			dir[2*i], dir[2*i+1] = pi, pi
		}
		t.dir = dir
		t.depth++
	}
	// The first fingerprint bit is the next bit: hashes with it set start at.
	at := lowerBound(p.fp, 1<<15, len(p.fp)/2)
	depth, prefix := p.depth+1, p.prefix<<1
	left := t.newPart(p.data[:at*t.stride], depth, prefix)
	right := t.newPart(p.data[at*t.stride:], depth, prefix|1)

	// p's directory entries are the 1<<(t.depth-p.depth) that start with
	// its prefix; the upper half goes to the new part.
	span := 1 << (t.depth - p.depth)
	first := int(p.prefix) << (t.depth - p.depth)
	q := uint32(len(t.parts))
	for i := first + span/2; i < first+span; i++ {
		t.dir[i] = q
	}
	*p = left // p is invalid once parts grows
	t.parts = append(t.parts, right)
}

// newPart returns a part holding a copy of the entries in data.
func (t *hashTable) newPart(data []byte, depth uint, prefix uint32) part {
	n := len(data) / t.stride
	p := part{
		data:   append(allocSlice[byte](0, len(data)+len(data)/8), data...),
		fp:     allocSlice[uint16](n, n+n/8),
		prefix: prefix,
		depth:  depth,
	}
	for i := range n {
		p.fp[i] = fingerprint(top(t.entry(&p, i)), depth)
	}
	return p
}

// scan calls fn, in hash order, for each entry whose top lies in [lo, hi].
func (t *hashTable) scan(lo, hi uint64, fn func(e []byte)) {
	last := -1
	for d := lo >> 1 >> (63 - t.depth); d <= hi>>1>>(63-t.depth); d++ {
		pi := int(t.dir[d])
		if pi == last {
			continue // parts span runs of directory entries
		}
		p := &t.parts[pi]
		i := 0 // parts after the first start above lo
		if last < 0 {
			i, _ = t.search(p, lo, nil)
		}
		last = pi
		for ; i < len(p.fp); i++ {
			e := t.entry(p, i)
			if top(e) > hi {
				return
			}
			fn(e)
		}
	}
}
