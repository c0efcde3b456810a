package filter

import (
	"sync"
	"testing"

	"github.com/herdsec/herd"
)

func TestSetEmpty(t *testing.T) {
	var s Set
	h := randomHashes(1, 1)[0]
	if s.Contains(h) || s.Generation() != 0 || !s.NeedsSnapshot() || s.Stats() != (SetStats{}) {
		t.Fatalf("zero Set: Contains %v Generation %d NeedsSnapshot %v Stats %+v", s.Contains(h), s.Generation(), s.NeedsSnapshot(), s.Stats())
	}
	err := s.ApplyDelta(MustBuildDelta(t, 0, 1, [][32]byte{h}))
	wantError(t, err, herd.ECONFLICT, "no snapshot yet")
	if s.Contains(h) || s.Generation() != 0 {
		t.Fatal("a refused delta changed the set")
	}
	wantError(t, s.Apply(nil), herd.EINVALID, "nil snapshot")
	wantError(t, s.ApplyDelta(nil), herd.EINVALID, "nil delta")
}

func TestSetGenerations(t *testing.T) {
	hs := randomHashes(3, 60)
	var s Set
	if err := s.Apply(MustBuild(t, 10, hs[0:10])); err != nil {
		t.Fatal(err)
	}
	must := func(d *Delta) {
		t.Helper()
		if err := s.ApplyDelta(d); err != nil {
			t.Fatalf("ApplyDelta(%d..%d): %v", d.From(), d.To(), err)
		}
		if s.Generation() != d.To() {
			t.Fatalf("after delta %d..%d: generation %d", d.From(), d.To(), s.Generation())
		}
	}
	refuse := func(d *Delta) {
		t.Helper()
		before := s.Stats()
		wantError(t, s.ApplyDelta(d), herd.ECONFLICT, "starts neither at the set's generation")
		if after := s.Stats(); after != before {
			t.Fatalf("refused delta %d..%d changed the set: %+v, was %+v", d.From(), d.To(), after, before)
		}
	}
	contains := func(lo, hi int, want bool) {
		t.Helper()
		for i := lo; i < hi; i++ {
			if s.Contains(hs[i]) != want {
				t.Fatalf("Contains(hs[%d]) = %v, want %v", i, !want, want)
			}
		}
	}

	refuse(MustBuildDelta(t, 9, 11, hs[10:20])) // starts before the set
	refuse(MustBuildDelta(t, 11, 12, hs[10:20]))
	contains(0, 10, true)

	must(MustBuildDelta(t, 10, 12, hs[10:20]))
	must(MustBuildDelta(t, 12, 13, hs[20:30]))
	must(MustBuildDelta(t, 13, 14, nil)) // empty: moves the generation only
	contains(0, 30, true)
	if st := s.Stats(); st.Deltas != 2 || st.DeltaKeys != 20 || st.SnapshotGeneration != 10 {
		t.Fatalf("stats %+v, want 2 deltas of 20 keys over snapshot 10", st)
	}
	refuse(MustBuildDelta(t, 12, 15, hs[30:40])) // skips back into the chain
	refuse(MustBuildDelta(t, 10, 13, hs[10:30])) // cumulative but older than the set

	// A cumulative delta from the snapshot replaces the chain.
	must(MustBuildDelta(t, 10, 15, hs[10:40]))
	contains(0, 40, true)
	if st := s.Stats(); st.Deltas != 1 || st.DeltaKeys != 30 {
		t.Fatalf("after a cumulative delta: stats %+v, want 1 delta of 30 keys", st)
	}

	// Snapshots may not go back.
	wantError(t, s.Apply(MustBuild(t, 14, hs[0:40])), herd.ECONFLICT, "generation 14 is older than the set's generation 15")
	contains(0, 40, true)
	if err := s.Apply(MustBuild(t, 15, hs[40:60])); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Generation != 15 || st.Deltas != 0 || st.SnapshotKeys != 20 {
		t.Fatalf("after snapshot 15: stats %+v", st)
	}
	contains(40, 60, true)
}

func TestSetNeedsSnapshot(t *testing.T) {
	base := MustBuild(t, 1, randomHashes(20, 10_000))
	t.Run("chain length", func(t *testing.T) {
		var s Set
		if err := s.Apply(base); err != nil {
			t.Fatal(err)
		}
		gen := base.Generation()
		for i := range MaxDeltas + 1 {
			if s.NeedsSnapshot() {
				t.Fatalf("NeedsSnapshot after %d small deltas, want false until %d", i, MaxDeltas+1)
			}
			// Empty deltas do not count.
			for _, d := range []*Delta{MustBuildDelta(t, gen, gen+1, nil), MustBuildDelta(t, gen+1, gen+2, randomHashes(uint64(100+i), 10))} {
				if err := s.ApplyDelta(d); err != nil {
					t.Fatal(err)
				}
			}
			gen += 2
		}
		st := s.Stats()
		if !s.NeedsSnapshot() || st.Deltas != MaxDeltas+1 {
			t.Fatalf("after %d deltas: NeedsSnapshot %v, stats %+v", MaxDeltas+1, s.NeedsSnapshot(), st)
		}
		if want := FalsePositiveRate(MaxDeltas + 2); st.FalsePositiveRate != want {
			t.Fatalf("FalsePositiveRate %v, want %v", st.FalsePositiveRate, want)
		}
	})
	t.Run("bytes", func(t *testing.T) {
		var s Set
		if err := s.Apply(base); err != nil {
			t.Fatal(err)
		}
		small := MustBuildDelta(t, 1, 2, randomHashes(30, 2000)) // about 20% of the base's bytes
		if err := s.ApplyDelta(small); err != nil {
			t.Fatal(err)
		}
		if s.NeedsSnapshot() {
			t.Fatalf("NeedsSnapshot with deltas of %d bytes over a %d-byte snapshot", s.Stats().DeltaBytes, base.Size())
		}
		if err := s.ApplyDelta(MustBuildDelta(t, 2, 3, randomHashes(31, 1000))); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); !s.NeedsSnapshot() || float64(st.DeltaBytes) <= MaxDeltaFraction*float64(st.SnapshotBytes) {
			t.Fatalf("NeedsSnapshot false with deltas of %d bytes over a %d-byte snapshot", st.DeltaBytes, st.SnapshotBytes)
		}
	})
}

// TestSetConcurrentReaders checks, under -race, that readers never see a
// half-applied change and never lose a hash of the base.
func TestSetConcurrentReaders(t *testing.T) {
	hs := randomHashes(40, 1000)
	var s Set
	if err := s.Apply(MustBuild(t, 0, hs[:100])); err != nil {
		t.Fatal(err)
	}
	deltas := make([]*Delta, 0, 90)
	for i := range 90 {
		deltas = append(deltas, MustBuildDelta(t, uint64(i), uint64(i+1), hs[100+10*i:110+10*i]))
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				gen := s.Generation()
				for i := range 100 + 10*int(gen) {
					if !s.Contains(hs[i]) {
						t.Errorf("hash %d missing at generation ≥ %d", i, gen)
						return
					}
				}
			}
		})
	}
	for _, d := range deltas {
		if err := s.ApplyDelta(d); err != nil {
			t.Error(err)
			break
		}
	}
	close(stop)
	wg.Wait()
}
