package reputation

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation/filter"
)

// hashSource is a MaliciousSource over a plain map, as the index is seen.
type hashSource struct {
	seq uint64
	mal map[[32]byte]bool
}

func (s *hashSource) Seq() uint64 { return s.seq }
func (s *hashSource) EachMalicious(kind herd.Kind, fn func([]byte)) {
	for h := range s.mal {
		fn(h[:])
	}
}

// put makes h malicious in the source and tells f, as the follow loop does.
func (s *hashSource) put(f *Filters, h [32]byte) {
	s.seq++
	s.mal[h] = true
	f.Apply(herd.VerdictChange{Seq: s.seq, Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])}, Verdict: herd.VerdictMalicious}})
}

func hashN(n int) [32]byte { return sha256.Sum256(fmt.Appendf(nil, "h%d", n)) }

func TestFiltersSnapshotAndDelta(t *testing.T) {
	src := &hashSource{mal: map[[32]byte]bool{}}
	f := NewFilters(src)
	for i := range 1000 {
		src.put(f, hashN(i))
	}
	b, gen, err := f.Snapshot()
	if err != nil || gen != 1000 {
		t.Fatalf("snapshot gen %d, %v", gen, err)
	}
	var set filter.Set
	snap, err := filter.DecodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Apply(snap); err != nil {
		t.Fatal(err)
	}
	// Nothing new: no delta.
	if d, g, err := f.Delta(gen); d != nil || g != gen || err != nil {
		t.Fatalf("delta when up to date: %d bytes, gen %d, %v", len(d), g, err)
	}
	// Ten more, and a clean verdict (not in the filter).
	for i := 1000; i < 1010; i++ {
		src.put(f, hashN(i))
	}
	src.seq++
	clean := hashN(5000)
	f.Apply(herd.VerdictChange{Seq: src.seq, Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(clean[:])}, Verdict: herd.VerdictClean}})
	db, to, err := f.Delta(gen)
	if err != nil || to != src.seq {
		t.Fatalf("delta: gen %d, %v", to, err)
	}
	d, err := filter.DecodeDelta(db)
	if err != nil || d.Keys() != 10 {
		t.Fatalf("delta holds %d keys, %v; want 10", d.Keys(), err)
	}
	if err := set.ApplyDelta(d); err != nil {
		t.Fatal(err)
	}
	for i := range 1010 {
		if !set.Contains(hashN(i)) {
			t.Fatalf("hash %d missing after base + delta", i)
		}
	}
	if f.Due() {
		t.Fatal("10 additions to 1,000 is not enough for a rebuild (1%)")
	}
	src.put(f, hashN(1010))
	if !f.Due() {
		t.Fatal("11 additions to 1,000 should make a rebuild due")
	}
	if err := f.Rebuild(); err != nil {
		t.Fatal(err)
	}
	// An agent on the old snapshot must fetch the new one.
	if _, _, err := f.Delta(gen); herd.ErrorCode(err) != herd.ECONFLICT {
		t.Fatalf("delta from an old snapshot: %v, want a conflict", err)
	}
	b, gen2, _ := f.Snapshot()
	snap2, err := filter.DecodeSnapshot(b)
	if err != nil || gen2 != src.seq || snap2.Keys() != 1011 {
		t.Fatalf("rebuilt snapshot gen %d keys %d, %v", gen2, snap2.Keys(), err)
	}
}

// The index lists exactly its malicious SHA-256 hashes for the filter.
func TestIndexEachMalicious(t *testing.T) {
	x := NewIndex()
	want := map[[32]byte]bool{}
	for i := range 300 {
		h := hashN(i)
		v := []herd.Verdict{herd.VerdictMalicious, herd.VerdictSuspicious, herd.VerdictClean}[i%3]
		x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])}, Verdict: v, Source: herd.SourceRules}})
		if v == herd.VerdictMalicious {
			want[h] = true
		}
	}
	// Deleted, and a SHA-1: neither listed.
	gone := hashN(0)
	x.Apply(herd.VerdictChange{Seq: 301, Deleted: true, Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(gone[:])}}})
	delete(want, gone)
	x.Apply(herd.VerdictChange{Seq: 302, Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA1, Value: strings.Repeat("ab", 20)}, Verdict: herd.VerdictMalicious}})
	got := map[[32]byte]bool{}
	x.EachMalicious(herd.KindSHA256, func(h []byte) { got[[32]byte(h)] = true })
	if len(got) != len(want) {
		t.Fatalf("%d hashes listed, want %d", len(got), len(want))
	}
	for h := range want {
		if !got[h] {
			t.Fatalf("%x not listed", h)
		}
	}
}
