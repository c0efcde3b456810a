package reputation

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/herdsec/herd"
)

// The value of a hash table entry is the record without its object:
//
//	bytes 0-7   Updated as unix nanoseconds (zeroTime for the zero time)
//	bytes 8-11  meta: bits 0-1 verdict code, bit 2 Test, bits 3-7 source
//	            id, bits 8-31 threat id
//
// A record that does not fit (another verdict, a time with a location
// other than UTC or a monotonic reading, more distinct sources or threat
// names than the ids can number) keeps verdict code spilled and lives
// whole in Index.spill: the index gives back exactly the record it was
// given either way.
const (
	spilled = 0 // verdict code of an entry whose record is in Index.spill

	sourceBits = 5
	threatBits = 24
	maxSources = 1 << sourceBits
	maxThreats = 1 << threatBits

	zeroTime = math.MinInt64 // Updated of a record that has none
)

// verdictCodes is indexed by verdict code.
var verdictCodes = [4]herd.Verdict{spilled: "", 1: herd.VerdictMalicious, 2: herd.VerdictSuspicious, 3: herd.VerdictClean}

func verdictCode(v herd.Verdict) uint32 {
	switch v {
	case herd.VerdictMalicious:
		return 1
	case herd.VerdictSuspicious:
		return 2
	case herd.VerdictClean:
		return 3
	}
	return spilled
}

func metaVerdict(meta uint32) uint32 { return meta & 3 }

// notClean reports whether a verdict belongs in prefix answers.
func notClean(v herd.Verdict) bool {
	return v == herd.VerdictMalicious || v == herd.VerdictSuspicious
}

// encodeTime returns t as unix nanoseconds if that gives t back exactly.
func encodeTime(t time.Time) (int64, bool) {
	if t == (time.Time{}) {
		return zeroTime, true
	}
	n := t.UnixNano()
	return n, n != zeroTime && time.Unix(0, n).UTC() == t
}

func decodeTime(n int64) time.Time {
	if n == zeroTime {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// names interns strings as small ids, counting the entries that use each
// so that ids of names no longer used are given to new ones.
type names struct {
	ids  map[string]uint32
	list []string
	refs []uint32
	free []uint32
	max  int
}

func newNames(max int) *names { return &names{ids: make(map[string]uint32), max: max} }

// acquire returns s's id and counts one more use, or false if every id is
// taken.
func (ns *names) acquire(s string) (uint32, bool) {
	if id, ok := ns.ids[s]; ok {
		ns.refs[id]++
		return id, true
	}
	var id uint32
	switch {
	case len(ns.free) > 0:
		id = ns.free[len(ns.free)-1]
		ns.free = ns.free[:len(ns.free)-1]
		ns.list[id] = s
	case len(ns.list) < ns.max:
		id = uint32(len(ns.list))
		ns.list = append(ns.list, s)
		ns.refs = append(ns.refs, 0)
	default:
		return 0, false
	}
	ns.ids[s] = id
	ns.refs[id] = 1
	return id, true
}

// release counts one use of id less.
func (ns *names) release(id uint32) {
	if ns.refs[id]--; ns.refs[id] == 0 {
		delete(ns.ids, ns.list[id])
		ns.list[id] = ""
		ns.free = append(ns.free, id)
	}
}

// encode returns the table value of r, taking ids for its names. ok is
// false if r must spill; it then holds no ids.
func (x *Index) encode(r herd.Record, val *[valLen]byte) (ok bool) {
	code := verdictCode(r.Verdict)
	t, tok := encodeTime(r.Updated)
	if code == spilled || !tok {
		return false
	}
	src, ok := x.sources.acquire(r.Source)
	if !ok {
		return false
	}
	threat, ok := x.threats.acquire(r.Threat)
	if !ok {
		x.sources.release(src)
		return false
	}
	meta := code | src<<3 | threat<<8
	if r.Test {
		meta |= 4
	}
	binary.LittleEndian.PutUint64(val[:8], uint64(t))
	binary.LittleEndian.PutUint32(val[8:], meta)
	return true
}

// release gives back the ids a table value holds.
func (x *Index) release(val []byte) {
	meta := binary.LittleEndian.Uint32(val[8:])
	if metaVerdict(meta) == spilled {
		return
	}
	x.sources.release(meta >> 3 & (maxSources - 1))
	x.threats.release(meta >> 8)
}

// decode returns the record of o whose table value is val.
func (x *Index) decode(o herd.Object, val []byte) herd.Record {
	meta := binary.LittleEndian.Uint32(val[8:])
	if metaVerdict(meta) == spilled {
		return x.spill[o]
	}
	return herd.Record{
		Object:  o,
		Verdict: verdictCodes[metaVerdict(meta)],
		Threat:  x.threats.list[meta>>8],
		Source:  x.sources.list[meta>>3&(maxSources-1)],
		Test:    meta&4 != 0,
		Updated: decodeTime(int64(binary.LittleEndian.Uint64(val))),
	}
}

// unhex maps a lower-case hex digit to its value and anything else to 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
	}
	return t
}()

// decodeHash decodes s into dst if s is the canonical form of a hash of
// len(dst) bytes: lower-case hex of exactly that length. Only canonical
// values go in the hash tables, so that a value spelt otherwise stays a
// different object, as it is for every other kind.
func decodeHash(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	var bad byte
	for i := range dst {
		hi, lo := unhex[s[2*i]], unhex[s[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo
	}
	return bad&0xf0 == 0
}
