package reputation

import (
	"encoding/binary"
	"encoding/hex"
	"slices"
	"strings"

	"github.com/herdsec/herd"
)

// Prefix bit lengths a prefix query accepts: short enough that the answer
// does not single out one file, long enough that it stays small.
const (
	MinPrefixBits = 16
	MaxPrefixBits = 32
)

// Prefix returns, sorted by hash, the record of every hash of kind whose
// verdict is malicious or suspicious (built-in test verdicts included) and
// whose first bits bits equal those of prefix. It is the index side of a
// private lookup: the asker reveals only a prefix that many files share,
// and checks the answer for its full hash itself.
//
// It returns nil if kind is not a hash kind, bits is outside
// [MinPrefixBits, MaxPrefixBits] or prefix is shorter than bits.
func (x *Index) Prefix(kind herd.Kind, prefix []byte, bits int) []herd.Record {
	t := x.table(kind)
	if t == nil || bits < MinPrefixBits || bits > MaxPrefixBits || len(prefix)*8 < bits {
		return nil
	}
	var p [4]byte
	copy(p[:], prefix)
	want := binary.BigEndian.Uint32(p[:]) & (^uint32(0) << (MaxPrefixBits - bits))
	lo := uint64(want) << 32
	hi := lo | (1<<(64-bits) - 1)

	var out []herd.Record
	x.mu.RLock()
	defer x.mu.RUnlock()
	t.scan(lo, hi, func(e []byte) {
		meta := binary.LittleEndian.Uint32(e[t.klen+8:])
		if v := metaVerdict(meta); v != spilled && !notClean(verdictCodes[v]) {
			return
		}
		o := herd.Object{Kind: kind, Value: hex.EncodeToString(e[:t.klen])}
		if r := x.decode(o, e[t.klen:]); notClean(r.Verdict) {
			out = append(out, r)
		}
	})
	added := false
	var buf [32]byte
	for _, r := range x.builtin {
		key := buf[:t.klen]
		if r.Object.Kind != kind || !notClean(r.Verdict) || !decodeHash(key, r.Object.Value) {
			continue
		}
		if k := top(key); k < lo || k > hi {
			continue
		}
		if _, stored := t.get(key); stored {
			continue // the stored verdict overrides it and was scanned
		}
		out = append(out, r)
		added = true
	}
	if added {
		slices.SortFunc(out, func(a, b herd.Record) int { return strings.Compare(a.Object.Value, b.Object.Value) })
	}
	return out
}
