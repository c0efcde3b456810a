package reputation_test

import (
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
	"github.com/herdsec/herd/reputation"
)

var eicar = herd.Object{Kind: herd.KindSHA256, Value: herd.EICARSHA256}

func TestIndexLayers(t *testing.T) {
	x := reputation.NewIndex()
	ctx := context.Background()
	other := herd.Object{Kind: herd.KindDomain, Value: "example.com"}
	got, _ := x.Lookup(ctx, []herd.Object{eicar, other})
	if got[0].Verdict != herd.VerdictMalicious || !got[0].Test || got[0].Source != herd.SourceBuiltin {
		t.Fatalf("EICAR = %+v, want the built-in test verdict", got[0])
	}
	if got[1].Verdict != herd.VerdictUnknown || got[1].Object != other {
		t.Fatalf("unknown = %+v", got[1])
	}
	// A stored verdict overrides the built-in one; deleting it brings it back.
	x.Apply(herd.VerdictChange{Seq: 1, Record: herd.Record{Object: eicar, Verdict: herd.VerdictClean, Source: herd.SourceOperator}})
	if got, _ := x.Lookup(ctx, []herd.Object{eicar}); got[0].Verdict != herd.VerdictClean {
		t.Fatalf("after override: %+v", got[0])
	}
	x.Apply(herd.VerdictChange{Seq: 2, Deleted: true, Record: herd.Record{Object: eicar}})
	if got, _ := x.Lookup(ctx, []herd.Object{eicar}); got[0].Source != herd.SourceBuiltin {
		t.Fatalf("after delete: %+v", got[0])
	}
	if x.Seq() != 2 || x.Len() != 0 {
		t.Fatalf("Seq %d Len %d, want 2 and 0", x.Seq(), x.Len())
	}
}

func TestIndexWaitFor(t *testing.T) {
	x := reputation.NewIndex()
	done := make(chan error, 1)
	go func() { done <- x.WaitFor(context.Background(), 3) }()
	for seq := uint64(1); seq <= 3; seq++ {
		select {
		case err := <-done:
			t.Fatalf("WaitFor(3) returned %v before change %d", err, seq)
		default:
		}
		x.Apply(herd.VerdictChange{Seq: seq, Record: herd.Record{Object: eicar, Verdict: herd.VerdictMalicious}})
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor(3) did not return after change 3")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := x.WaitFor(ctx, 10); err != context.Canceled {
		t.Fatalf("WaitFor with a cancelled context = %v", err)
	}
}

func TestIndexReady(t *testing.T) {
	x := reputation.NewIndex()
	select {
	case <-x.Ready():
		t.Fatal("ready before the backlog was delivered")
	default:
	}
	x.Apply(herd.VerdictChange{CaughtUp: true})
	x.Apply(herd.VerdictChange{CaughtUp: true}) // a second marker (after a resume) is harmless
	select {
	case <-x.Ready():
	default:
		t.Fatal("not ready after the caught-up marker")
	}
}

// TestIndexRecordsExact checks that Lookup gives back every field of what
// was stored, whether the index keeps it compact or whole.
func TestIndexRecordsExact(t *testing.T) {
	x := reputation.NewIndex()
	hash := func(i int) herd.Object {
		return herd.Object{Kind: herd.KindSHA256, Value: fmt.Sprintf("%064x", i)}
	}
	updated := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
	recs := []herd.Record{
		{Object: hash(1), Verdict: herd.VerdictMalicious, Threat: "Trojan.Generic", Source: herd.SourceImport, Updated: updated},
		{Object: hash(2), Verdict: herd.VerdictSuspicious, Source: herd.SourceRules, Test: true, Updated: updated.Add(time.Nanosecond)},
		{Object: hash(3), Verdict: herd.VerdictClean, Source: herd.SourceOperator},
		{Object: hash(4), Verdict: herd.VerdictMalicious, Threat: "X", Updated: time.Now()},                            // local, monotonic
		{Object: hash(5), Verdict: herd.VerdictMalicious, Threat: "Y", Updated: updated.In(time.FixedZone("X", 3600))}, // another zone
		{Object: hash(6), Verdict: "odd", Source: "elsewhere", Updated: time.Date(1066, 10, 14, 0, 0, 0, 0, time.UTC)}, // beyond unix nanoseconds
		{Object: herd.Object{Kind: herd.KindSHA1, Value: "00112233445566778899aabbccddeeff00112233"}, Verdict: herd.VerdictMalicious, Threat: "Z", Updated: updated},
		{Object: herd.Object{Kind: herd.KindMD5, Value: "00112233445566778899aabbccddeeff"}, Verdict: herd.VerdictMalicious, Updated: updated},
		{Object: herd.Object{Kind: herd.KindMD5, Value: "00112233445566778899AABBCCDDEEFF"}, Verdict: herd.VerdictClean}, // not canonical: a different object
		{Object: herd.Object{Kind: herd.KindURL, Value: "https://example.com/x"}, Verdict: herd.VerdictMalicious, Updated: updated},
	}
	objs := []herd.Object{hash(7), {Kind: herd.KindSHA1, Value: "short"}}
	for i, r := range recs {
		x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: r})
		objs = append(objs, r.Object)
	}
	got, err := x.Lookup(context.Background(), objs)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range objs[:2] {
		if want := (herd.Record{Object: o, Verdict: herd.VerdictUnknown}); got[i] != want {
			t.Errorf("Lookup(%v) = %+v, want unknown", o, got[i])
		}
	}
	for i, want := range recs {
		if got[i+2] != want { // == compares times' locations and monotonic readings too
			t.Errorf("Lookup(%v) = %+v, want %+v", want.Object, got[i+2], want)
		}
	}
	if x.Len() != len(recs) {
		t.Errorf("Len = %d, want %d", x.Len(), len(recs))
	}
}

// TestIndexRecordFields fails when herd.Record gains a field, which the
// index's compact form (index_entry.go) would otherwise silently drop.
func TestIndexRecordFields(t *testing.T) {
	var fields []string
	for f := range reflect.TypeFor[herd.Record]().Fields() {
		fields = append(fields, f.Name)
	}
	if want := []string{"Object", "Verdict", "Threat", "Source", "Test", "Updated"}; !slices.Equal(fields, want) {
		t.Fatalf("herd.Record has fields %v; the index encodes %v: update index_entry.go", fields, want)
	}
}

// TestIndexPrefix checks that a prefix query returns exactly the non-clean
// stored hashes under the prefix, against a filter over what was stored.
func TestIndexPrefix(t *testing.T) {
	x := reputation.NewIndex()
	r := rand.New(rand.NewPCG(3, 4))
	type stored struct {
		hash []byte
		rec  herd.Record
	}
	var all []*stored
	seq := uint64(0)
	put := func(s *stored) {
		seq++
		x.Apply(herd.VerdictChange{Seq: seq, Record: s.rec})
	}
	// 8,000 hashes, half of them in a few 16-bit prefixes so that the
	// longer prefixes below hold several each.
	for i := range 8000 {
		h := make([]byte, 32)
		for j := range h {
			h[j] = byte(r.Uint32())
		}
		if i%2 == 0 {
			h[0], h[1], h[2] = 0x5e, byte(r.IntN(3)), byte(r.IntN(8))<<4|h[2]&0x0f
		}
		v := []herd.Verdict{herd.VerdictMalicious, herd.VerdictMalicious, herd.VerdictSuspicious, herd.VerdictClean}[r.IntN(4)]
		s := &stored{hash: h, rec: herd.Record{
			Object:  herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h)},
			Verdict: v, Threat: fmt.Sprintf("T%d", r.IntN(300)), Source: herd.SourceImport,
			Updated: time.Unix(1700000000+r.Int64N(365*86400), 0).UTC(),
		}}
		all = append(all, s)
		put(s)
	}
	// The same hashes as md5 and sha1 prefixes must not show up.
	x.Apply(herd.VerdictChange{Seq: seq + 1, Record: herd.Record{Object: herd.Object{Kind: herd.KindMD5, Value: "5e00" + hex.EncodeToString(make([]byte, 14))}, Verdict: herd.VerdictMalicious}})
	seq++

	want := func(prefix []byte, bits int) []herd.Record {
		var out []herd.Record
		for _, s := range all {
			if s.rec.Verdict != herd.VerdictClean && hasPrefix(s.hash, prefix, bits) {
				out = append(out, s.rec)
			}
		}
		if hasPrefix(mustHex(herd.EICARSHA256), prefix, bits) {
			out = append(out, herd.BuiltinRecords()[0])
		}
		slices.SortFunc(out, func(a, b herd.Record) int { return strings.Compare(a.Object.Value, b.Object.Value) })
		return out
	}
	check := func(prefix []byte, bits int) int {
		t.Helper()
		got, w := x.Prefix(herd.KindSHA256, prefix, bits), want(prefix, bits)
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("Prefix(%x, %d): got %d records, want %d:\ngot  %v\nwant %v", prefix, bits, len(got), len(w), got, w)
		}
		return len(got)
	}
	queries := func() (found int) {
		for _, bits := range []int{16, 17, 19, 20, 23, 24, 28, 31, 32} {
			// Prefixes of stored hashes, crowded and not, and of EICAR.
			for _, s := range []*stored{all[0], all[2], all[4], all[1], all[3]} {
				found += check(s.hash, bits)
			}
			found += check(mustHex(herd.EICARSHA256), bits)
			found += check([]byte{0x5e, 0x02, 0xff, 0xff}, bits) // bits past the 16th and 20th differ from the crowd
		}
		return found
	}
	if n := queries(); n < 1000 {
		t.Fatalf("queries found %d records in all: too few to test", n)
	}
	// Deleting some, making others clean and others malicious is reflected.
	for i, s := range all {
		switch i % 5 {
		case 0:
			seq++
			x.Apply(herd.VerdictChange{Seq: seq, Deleted: true, Record: herd.Record{Object: s.rec.Object}})
			s.rec.Verdict = herd.VerdictClean // gone: the filter skips it
		case 1:
			s.rec.Verdict = herd.VerdictClean
			put(s)
		case 2:
			s.rec.Verdict = herd.VerdictMalicious
			put(s)
		}
	}
	queries()
	// A stored clean verdict for EICAR hides the built-in one.
	eicarHash := mustHex(herd.EICARSHA256)
	if got := x.Prefix(herd.KindSHA256, eicarHash, 32); len(got) != 1 || got[0] != herd.BuiltinRecords()[0] {
		t.Fatalf("Prefix(EICAR) = %v, want the built-in record", got)
	}
	x.Apply(herd.VerdictChange{Seq: seq + 1, Record: herd.Record{Object: eicar, Verdict: herd.VerdictClean, Source: herd.SourceOperator}})
	if got := x.Prefix(herd.KindSHA256, eicarHash, 32); len(got) != 0 {
		t.Fatalf("Prefix(EICAR) after a clean verdict = %v, want none", got)
	}
	if got := x.Prefix(herd.KindMD5, mustHex(herd.EICARMD5), 16); len(got) != 1 || got[0].Object.Value != herd.EICARMD5 {
		t.Fatalf("Prefix(md5 of EICAR) = %v, want EICAR's built-in md5 record", got)
	}
}

func TestIndexPrefixArgs(t *testing.T) {
	x := reputation.NewIndex()
	p := mustHex(herd.EICARSHA256)
	for _, c := range []struct {
		kind   herd.Kind
		prefix []byte
		bits   int
	}{
		{herd.KindSHA256, p, 15},
		{herd.KindSHA256, p, 33},
		{herd.KindSHA256, p[:2], 17}, // too short for 17 bits
		{herd.KindDomain, p, 16},
		{"", p, 16},
	} {
		if got := x.Prefix(c.kind, c.prefix, c.bits); got != nil {
			t.Errorf("Prefix(%s, %x, %d) = %v, want nil", c.kind, c.prefix, c.bits, got)
		}
	}
	if got := x.Prefix(herd.KindSHA256, p[:3], 24); len(got) != 1 {
		t.Errorf("Prefix with a 3-byte prefix for 24 bits = %v, want EICAR", got)
	}
}

// hasPrefix reports whether h and prefix share their first bits bits (at most 32).
func hasPrefix(h, prefix []byte, bits int) bool {
	var p [4]byte
	copy(p[:], prefix)
	mask := ^uint32(0) << (32 - bits)
	return binary.BigEndian.Uint32(h)&mask == binary.BigEndian.Uint32(p[:])&mask
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func BenchmarkLookup1000(b *testing.B) {
	x := reputation.NewIndex()
	objs := make([]herd.Object, 1000)
	for i := range objs {
		objs[i] = herd.Object{Kind: herd.KindSHA256, Value: string(rune('a'+i%26)) + herd.EICARSHA256[1:]}
		x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: herd.Record{Object: objs[i], Verdict: herd.VerdictMalicious}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Lookup(context.Background(), objs); err != nil {
			b.Fatal(err)
		}
	}
}
