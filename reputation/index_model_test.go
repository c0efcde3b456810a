package reputation

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

// indexModel is what the index must behave like: the map of records it replaced.
type indexModel struct {
	stored map[herd.Object]herd.Record
}

func newIndexModel() *indexModel { return &indexModel{stored: make(map[herd.Object]herd.Record)} }

func (m *indexModel) apply(c herd.VerdictChange) {
	if c.Deleted {
		delete(m.stored, c.Record.Object)
	} else {
		m.stored[c.Record.Object] = c.Record
	}
}

func (m *indexModel) get(o herd.Object) herd.Record {
	if r, ok := m.stored[o]; ok {
		return r
	}
	for _, r := range herd.BuiltinRecords() {
		if r.Object == o {
			return r
		}
	}
	return herd.Record{Object: o, Verdict: herd.VerdictUnknown}
}

// prefix is Prefix by brute force over everything stored and built in.
func (m *indexModel) prefix(kind herd.Kind, prefix []byte, bits int) []herd.Record {
	var out []herd.Record
	if kind.HexLen() == 0 {
		return nil // prefixes are of hashes only
	}
	consider := func(r herd.Record) {
		if r.Object.Kind != kind || !notClean(r.Verdict) || !canonicalHex(r.Object.Value, kind.HexLen()) {
			return
		}
		if h, _ := hex.DecodeString(r.Object.Value[:8]); sharesPrefix(h, prefix, bits) {
			out = append(out, r)
		}
	}
	for _, r := range m.stored {
		consider(r)
	}
	for _, r := range herd.BuiltinRecords() {
		if _, ok := m.stored[r.Object]; !ok {
			consider(r)
		}
	}
	slices.SortFunc(out, func(a, b herd.Record) int { return strings.Compare(a.Object.Value, b.Object.Value) })
	return out
}

func canonicalHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func sharesPrefix(a, b []byte, bits int) bool {
	for i := 0; i < bits; i++ {
		if (a[i/8]>>(7-i%8))&1 != (b[i/8]>>(7-i%8))&1 {
			return false
		}
	}
	return true
}

// check verifies the table's invariants: every part sorted, every hash
// in the part its directory entry names, counts and ids consistent.
func (x *Index) check(tb testing.TB) {
	tb.Helper()
	sources := make(map[uint32]uint32)
	threats := make(map[uint32]uint32)
	spilledEntries := 0
	for ti, t := range x.hashes {
		if len(t.dir) != 1<<t.depth {
			tb.Fatalf("table %d: directory of %d entries at depth %d", ti, len(t.dir), t.depth)
		}
		n := 0
		var prev []byte
		for d := range t.dir {
			if d > 0 && t.dir[d] == t.dir[d-1] {
				continue
			}
			p := &t.parts[t.dir[d]]
			if p.depth > t.depth || len(p.data) != len(p.fp)*t.stride {
				tb.Fatalf("table %d part %d: depth %d of %d, %d bytes for %d entries", ti, t.dir[d], p.depth, t.depth, len(p.data), len(p.fp))
			}
			if cap(p.data) > 2*len(p.data)+64 || cap(p.fp) > 2*len(p.fp)+64 {
				tb.Fatalf("table %d part %d: %d entries hold room for %d (%d fingerprints)", ti, t.dir[d], len(p.fp), cap(p.data)/t.stride, cap(p.fp))
			}
			if first := int(p.prefix) << (t.depth - p.depth); first != d {
				tb.Fatalf("table %d: directory entry %d names a part starting at %d", ti, d, first)
			}
			for i := range p.fp {
				e := t.entry(p, i)
				if p.fp[i] != fingerprint(top(e), p.depth) {
					tb.Fatalf("table %d: hash %x has fingerprint %04x", ti, e[:t.klen], p.fp[i])
				}
				if p.depth > 0 && uint32(top(e)>>(64-p.depth)) != p.prefix {
					tb.Fatalf("table %d: hash %x in part of prefix %b/%d", ti, e[:t.klen], p.prefix, p.depth)
				}
				if prev != nil && bytes.Compare(prev, e[:t.klen]) >= 0 {
					tb.Fatalf("table %d: %x after %x", ti, e[:t.klen], prev)
				}
				prev = e[:t.klen]
				meta := binary.LittleEndian.Uint32(e[t.klen+8:])
				if metaVerdict(meta) == spilled {
					spilledEntries++
					continue
				}
				sources[meta>>3&(maxSources-1)]++
				threats[meta>>8]++
			}
			n += len(p.fp)
		}
		if n != t.n {
			tb.Fatalf("table %d: %d entries, counted %d", ti, t.n, n)
		}
	}
	if spilledEntries != len(x.spill) {
		tb.Fatalf("%d spilled entries, %d spilled records", spilledEntries, len(x.spill))
	}
	for _, c := range []struct {
		ns   *names
		uses map[uint32]uint32
	}{{x.sources, sources}, {x.threats, threats}} {
		if len(c.ns.ids) != len(c.uses) {
			tb.Fatalf("%d names interned, %d used", len(c.ns.ids), len(c.uses))
		}
		for id, n := range c.uses {
			if c.ns.refs[id] != n || c.ns.ids[c.ns.list[id]] != id {
				tb.Fatalf("name %d (%q): %d uses counted, %d used", id, c.ns.list[id], c.ns.refs[id], n)
			}
		}
	}
}

// changeGen makes changes for the model test: objects of every kind, hashes
// crowded into few prefixes so that parts split and prefix queries find
// something, records of every shape including ones that must spill.
type changeGen struct {
	r       *rand.Rand
	objects []herd.Object
}

var (
	cestZone  = time.FixedZone("CEST", 2*3600)
	hashKinds = []herd.Kind{herd.KindSHA256, herd.KindSHA1, herd.KindMD5}
)

func (g *changeGen) hash(kind herd.Kind) string {
	h := make([]byte, kind.HexLen()/2)
	for i := range h {
		h[i] = byte(g.r.Uint32())
	}
	switch g.r.IntN(8) {
	case 0, 1: // crowded: one of 4 prefixes of 16 bits
		h[0], h[1] = 0xab, byte(g.r.IntN(4))
	case 2, 3: // very crowded: a 40-bit prefix, as a crafted hash would have
		copy(h, []byte{0xca, 0xfe, 0xba, 0xbe, 0x00})
	case 4: // the same with the highest fingerprint there is
		copy(h, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
	}
	return hex.EncodeToString(h)
}

func (g *changeGen) object() herd.Object {
	if len(g.objects) > 0 && g.r.IntN(3) == 0 {
		return g.objects[g.r.IntN(len(g.objects))] // an object seen before
	}
	var o herd.Object
	switch n := g.r.IntN(20); {
	case n < 15:
		o.Kind = hashKinds[n%3]
		o.Value = g.hash(o.Kind)
	case n == 15:
		o = herd.Object{Kind: herd.KindSHA256, Value: strings.ToUpper(g.hash(herd.KindSHA256))}
	case n == 16:
		o = herd.Object{Kind: herd.KindMD5, Value: "not hex"}
	case n == 17:
		o = herd.BuiltinRecords()[g.r.IntN(3)].Object
	case n == 18:
		o = herd.Object{Kind: herd.KindDomain, Value: fmt.Sprintf("d%d.example", g.r.IntN(100))}
	default:
		o = herd.Object{Kind: herd.KindIP, Value: fmt.Sprintf("10.0.0.%d", g.r.IntN(256))}
	}
	g.objects = append(g.objects, o)
	return o
}

func (g *changeGen) record(o herd.Object) herd.Record {
	r := herd.Record{Object: o}
	switch n := g.r.IntN(20); {
	case n < 12:
		r.Verdict = herd.VerdictMalicious
	case n < 15:
		r.Verdict = herd.VerdictSuspicious
	case n < 19:
		r.Verdict = herd.VerdictClean
	default:
		r.Verdict = herd.VerdictUnknown // not valid to store, but the index keeps what it is given
	}
	if g.r.IntN(8) > 0 {
		r.Threat = fmt.Sprintf("Threat.%d", g.r.IntN(50))
	}
	r.Source = []string{herd.SourceImport, herd.SourceRules, herd.SourceOperator, ""}[g.r.IntN(4)]
	if g.r.IntN(50) == 0 {
		r.Source = fmt.Sprintf("source-%d", g.r.IntN(40)) // more sources than ids
	}
	r.Test = g.r.IntN(10) == 0
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(g.r.Int64N(int64(365 * 24 * time.Hour))))
	switch g.r.IntN(10) {
	case 0:
		r.Updated = time.Time{}
	case 1:
		r.Updated = time.Now() // local, with a monotonic reading: spills
	case 2:
		r.Updated = base.In(cestZone) // spills
	case 3:
		r.Updated = time.Date(1, 2, 3, 4, 5, 6, 7, time.UTC) // beyond unix nanoseconds: spills
	case 4:
		r.Updated = time.Time{}.In(cestZone) // the zero instant, but not the zero Time: spills
	default:
		r.Updated = base
	}
	return r
}

func (g *changeGen) change(seq uint64) herd.VerdictChange {
	o := g.object()
	if g.r.IntN(5) == 0 {
		return herd.VerdictChange{Seq: seq, Deleted: true, Record: herd.Record{Object: o}}
	}
	return herd.VerdictChange{Seq: seq, Record: g.record(o)}
}

// TestIndexModel applies random changes to an index and to the map it
// replaced, and checks that every lookup, Len and Prefix agree.
func TestIndexModel(t *testing.T) {
	t.Run("default", func(t *testing.T) { testIndexModel(t, NewIndex()) })
	t.Run("small parts", func(t *testing.T) {
		// Parts of 4 entries and a roomy directory put the crowded
		// prefixes deeper than 16 bits, so that prefix queries span parts.
		// Few ids for sources and threat names make records spill for
		// want of one.
		x := NewIndex()
		for _, t := range x.hashes {
			t.maxPart, t.maxDirPerPart = 4, 512
		}
		x.sources.max, x.threats.max = 3, 20
		testIndexModel(t, x)
		if d := x.hashes[0].depth; d <= 16 {
			t.Fatalf("sha256 directory depth %d: prefix queries never span parts", d)
		}
	})
}

func testIndexModel(t *testing.T, x *Index) {
	m := newIndexModel()
	g := &changeGen{r: rand.New(rand.NewPCG(1, 2))}
	const changes = 15000
	for seq := uint64(1); seq <= changes; seq++ {
		c := g.change(seq)
		x.Apply(c)
		m.apply(c)
		if seq%5000 == 0 {
			x.check(t)
			compareIndex(t, x, m, g.objects)
		}
	}
	if x.Seq() != changes {
		t.Fatalf("Seq = %d", x.Seq())
	}
	if depth := x.hashes[0].depth; depth < 3 {
		t.Fatalf("sha256 directory depth %d: parts never split", depth)
	}
	if len(x.spill) == 0 {
		t.Fatal("no record spilled: the test misses a path")
	}
	// Delete nearly everything: parts give memory back and stay consistent.
	for i, o := range g.objects {
		if i%10 != 0 {
			c := herd.VerdictChange{Seq: uint64(changes + i + 1), Deleted: true, Record: herd.Record{Object: o}}
			x.Apply(c)
			m.apply(c)
		}
	}
	x.check(t)
	compareIndex(t, x, m, g.objects)
}

func compareIndex(t *testing.T, x *Index, m *indexModel, objs []herd.Object) {
	t.Helper()
	got, err := x.Lookup(context.Background(), objs) // in stages (getBatch)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs {
		want := m.get(o)
		if got[i] != want {
			t.Fatalf("Lookup(%v) = %+v, want %+v", o, got[i], want)
		}
		if one, _ := x.Lookup(context.Background(), objs[i:i+1]); one[0] != want { // one by one (get)
			t.Fatalf("Lookup(%v) alone = %+v, want %+v", o, one[0], want)
		}
	}
	if x.Len() != len(m.stored) {
		t.Fatalf("Len = %d, want %d", x.Len(), len(m.stored))
	}
	for _, kind := range hashKinds {
		for _, q := range []struct {
			prefix []byte
			bits   int
		}{
			{[]byte{0xab, 0x00}, 16}, {[]byte{0xab, 0x02}, 16}, {[]byte{0xab, 0x01, 0xff}, 16},
			{[]byte{0xab, 0x00, 0x80}, 17}, {[]byte{0xab, 0x03, 0x40}, 18}, {[]byte{0xab, 0x01, 0x30}, 20},
			{[]byte{0xab, 0x03, 0x00}, 23}, {[]byte{0xab, 0x02, 0x17}, 24}, {[]byte{0xab, 0x02, 0x17, 0x80}, 25},
			{[]byte{0xab, 0x00, 0x01, 0xfe}, 31}, {[]byte{0xab, 0x00, 0x01, 0xfe}, 32},
			{[]byte{0xca, 0xfe, 0xba, 0xbe}, 32}, {[]byte{0xca, 0xfe}, 16}, {[]byte{0xca, 0xfe, 0xbb}, 24},
			{[]byte{0xff, 0xff, 0xff, 0xff}, 32}, {[]byte{0xff, 0xff}, 16}, {[]byte{0xff, 0xff, 0xf0}, 20},
			{[]byte{0x27, 0x5a, 0x02, 0x1b}, 32}, {[]byte{0x33, 0x95}, 16}, {[]byte{0x44, 0xd8, 0x86, 0x12}, 30},
		} {
			got, want := x.Prefix(kind, q.prefix, q.bits), m.prefix(kind, q.prefix, q.bits)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Prefix(%s, %x, %d): got %d records, want %d\ngot  %v\nwant %v", kind, q.prefix, q.bits, len(got), len(want), got, want)
			}
		}
	}
}

// FuzzIndex applies changes made from the fuzzer's bytes to an index with
// tiny parts and to the indexModel, then compares lookups and prefix queries.
// Object values are partly raw fuzzer bytes, which exercises decodeHash on
// anything a client might send.
func FuzzIndex(f *testing.F) {
	f.Add([]byte("\x00\xab\x01\x01\xab\x02\x02\xab\x03\x40\xab\x01\x83\x10" + herd.EICARMD5 + "\x01\x5e\x00"))
	f.Add([]byte("\x80\x40" + herd.EICARSHA256 + "\x99\x27\x5a\x19\x27\x5a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		x, m := NewIndex(), newIndexModel()
		for _, t := range x.hashes {
			t.maxPart, t.maxDirPerPart = 2, 16
		}
		var objs []herd.Object
		seq := uint64(0)
		for len(data) >= 3 {
			op, a, b := data[0], data[1], data[2]
			data = data[3:]
			o := herd.Object{Kind: hashKinds[op%3]}
			switch {
			case op&0x80 != 0: // a raw value
				n := min(int(a)%70, len(data))
				o.Value, data = string(data[:n]), data[n:]
				if op&0x20 != 0 {
					o.Kind = herd.KindDomain
				}
			default: // a canonical hash starting with a, b
				h := make([]byte, o.Kind.HexLen()/2)
				h[0], h[1], h[len(h)-1] = a, b, op
				o.Value = hex.EncodeToString(h)
			}
			objs = append(objs, o)
			seq++
			c := herd.VerdictChange{Seq: seq, Record: herd.Record{
				Object:  o,
				Verdict: []herd.Verdict{herd.VerdictMalicious, herd.VerdictSuspicious, herd.VerdictClean, herd.VerdictUnknown}[op>>3&3],
				Threat:  string(rune('A' + b%4)),
				Source:  string(rune('a' + a%40)), // more than 32: some spill
				Test:    b&1 != 0,
				Updated: time.Unix(int64(a)<<int(b%40), int64(b)).UTC(),
			}}
			if op&0x40 != 0 {
				c = herd.VerdictChange{Seq: seq, Deleted: true, Record: herd.Record{Object: o}}
			}
			x.Apply(c)
			m.apply(c)
		}
		x.check(t)
		got, _ := x.Lookup(context.Background(), objs)
		for i, o := range objs {
			if want := m.get(o); got[i] != want {
				t.Fatalf("Lookup(%v) = %+v, want %+v", o, got[i], want)
			}
		}
		if x.Len() != len(m.stored) {
			t.Fatalf("Len = %d, want %d", x.Len(), len(m.stored))
		}
		for i, o := range objs {
			h, err := hex.DecodeString(o.Value)
			if err != nil || len(h) < 4 {
				continue
			}
			bits := MinPrefixBits + i%(MaxPrefixBits-MinPrefixBits+1)
			got, want := x.Prefix(o.Kind, h, bits), m.prefix(o.Kind, h, bits)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("Prefix(%s, %x, %d) = %v, want %v", o.Kind, h, bits, got, want)
			}
		}
	})
}
