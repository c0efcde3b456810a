package filter

import (
	"testing"

	"github.com/herdsec/herd"
)

func TestKeyIsFirstEightBytesBigEndian(t *testing.T) {
	var h [32]byte
	for i := range h {
		h[i] = byte(i + 1)
	}
	if got, want := Key(h), uint64(0x0102030405060708); got != want {
		t.Fatalf("Key = %016x, want %016x", got, want)
	}
}

// testSize is the number of hashes of the large tests: 1,000,000, or
// 100,000 with -short (the race detector makes the full size take ~30 s).
func testSize() int {
	if testing.Short() {
		return 100_000
	}
	return 1_000_000
}

func TestBuildNoFalseNegatives(t *testing.T) {
	n := testSize()
	hashes := randomHashes(1, n)
	// Duplicates must be counted once and must not break the build.
	withDups := append(append([][32]byte(nil), hashes...), hashes[:1000]...)
	s := MustBuild(t, 42, withDups)
	if s.Generation() != 42 || s.Keys() != uint64(n) {
		t.Fatalf("Generation %d Keys %d, want 42 and %d", s.Generation(), s.Keys(), n)
	}
	for i, h := range hashes {
		if !s.Contains(h) {
			t.Fatalf("hash %d (%x) is missing: false negative", i, h)
		}
	}
	fpr := falsePositiveRate(randomHashes(2, n), s.Contains)
	bits := float64(s.Size()) * 8 / float64(n)
	t.Logf("snapshot of %d hashes: %d bytes, %.2f bits/hash, false-positive rate %.4f%% on %d non-members (expected %.4f%%)",
		n, s.Size(), bits, 100*fpr, n, 100*FalsePositiveRate(1))
	if fpr > 0.005 {
		t.Errorf("false-positive rate %.4f%%, want ≤ 0.5%%", 100*fpr)
	}
	if bits > 10 {
		t.Errorf("%.2f bits per hash, want ≤ 10", bits)
	}
}

func TestBuildSmallAndDegenerateSets(t *testing.T) {
	probes := randomHashes(99, 10_000)
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 10, 31, 100, 1000, 4099} {
		hashes := randomHashes(uint64(n)+100, n)
		s := MustBuild(t, 1, hashes)
		if s.Keys() != uint64(n) {
			t.Errorf("n=%d: Keys %d", n, s.Keys())
		}
		for i, h := range hashes {
			if !s.Contains(h) {
				t.Fatalf("n=%d: hash %d missing", n, i)
			}
		}
		if n == 0 {
			for _, h := range probes {
				if s.Contains(h) {
					t.Fatalf("the empty snapshot contains %x", h)
				}
			}
		}
	}

	// One hash a thousand times is one key.
	one := randomHashes(7, 1)[0]
	same := make([][32]byte, 1000)
	for i := range same {
		same[i] = one
	}
	s := MustBuild(t, 1, same)
	if s.Keys() != 1 || !s.Contains(one) {
		t.Fatalf("1000 copies of one hash: Keys %d Contains %v, want 1 and true", s.Keys(), s.Contains(one))
	}

	// Hashes that differ only after the first 8 bytes share a key.
	a, b := one, one
	b[31] ^= 1
	s = MustBuild(t, 1, [][32]byte{a, b})
	if s.Keys() != 1 || !s.Contains(a) || !s.Contains(b) {
		t.Fatalf("two hashes sharing a key: Keys %d, want 1 and both contained", s.Keys())
	}
}

// TestDeltaMatchesFreshSnapshot churns 1% of a 1,000,000-hash set (0.5%
// removed, 0.5% added) and checks that base + delta contains every hash a
// fresh snapshot of the new set contains, and what it costs in false
// positives.
func TestDeltaMatchesFreshSnapshot(t *testing.T) {
	n := testSize()
	churn := n / 200
	old := randomHashes(10, n)
	added := randomHashes(11, churn)
	current := append(append([][32]byte(nil), old[churn:]...), added...) // old[:churn] removed

	base := MustBuild(t, 100, old)
	delta := MustBuildDelta(t, 100, 101, added)
	fresh := MustBuild(t, 101, current)
	var set Set
	if err := set.Apply(base); err != nil {
		t.Fatal(err)
	}
	if err := set.ApplyDelta(delta); err != nil {
		t.Fatal(err)
	}
	if set.Generation() != fresh.Generation() {
		t.Fatalf("set generation %d, fresh snapshot %d", set.Generation(), fresh.Generation())
	}

	// Every hash of the union: the new set must be contained by both; the
	// removed ones stay (harmless) false positives of the set.
	for i, h := range current {
		if !set.Contains(h) || !fresh.Contains(h) {
			t.Fatalf("current hash %d: set %v fresh %v, want both true", i, set.Contains(h), fresh.Contains(h))
		}
	}
	for i, h := range old[:churn] {
		if !set.Contains(h) {
			t.Fatalf("removed hash %d: not in the set, but its base snapshot holds it", i)
		}
	}

	nonMembers := randomHashes(12, n)
	setFPR := falsePositiveRate(nonMembers, set.Contains)
	freshFPR := falsePositiveRate(nonMembers, fresh.Contains)
	frac := float64(delta.Size()) / float64(fresh.Size())
	t.Logf("false-positive rate on %d non-members: base+delta %.4f%% (expected %.4f%%), fresh snapshot %.4f%% (expected %.4f%%)",
		n, 100*setFPR, 100*set.Stats().FalsePositiveRate, 100*freshFPR, 100*FalsePositiveRate(1))
	t.Logf("delta for 1%% churn: %d bytes = %.3f%% of the fresh snapshot's %d", delta.Size(), 100*frac, fresh.Size())
	if setFPR > 0.009 || freshFPR > 0.005 {
		t.Errorf("false-positive rates %.4f%% (base+delta) and %.4f%% (fresh), want ≤ 0.9%% and ≤ 0.5%%", 100*setFPR, 100*freshFPR)
	}
	if frac > 0.02 {
		t.Errorf("delta is %.3f%% of a snapshot, want ≤ 2%%", 100*frac)
	}
}

func TestBuildDeltaRefusesBackwardGenerations(t *testing.T) {
	for _, g := range [][2]uint64{{5, 5}, {6, 5}} {
		_, err := BuildDelta(g[0], g[1], randomHashes(1, 3))
		wantError(t, err, herd.EINVALID, "is not before")
	}
	d := MustBuildDelta(t, 5, 6, nil)
	if d.From() != 5 || d.To() != 6 || d.Keys() != 0 || d.Contains(randomHashes(1, 1)[0]) {
		t.Fatalf("empty delta: From %d To %d Keys %d", d.From(), d.To(), d.Keys())
	}
}

func TestFalsePositiveRateFormula(t *testing.T) {
	for _, c := range []struct {
		filters int
		want    float64
	}{{0, 0}, {1, 1.0 / 256}, {2, 1 - (255.0/256)*(255.0/256)}} {
		if got := FalsePositiveRate(c.filters); got != c.want {
			t.Errorf("FalsePositiveRate(%d) = %v, want %v", c.filters, got, c.want)
		}
	}
}

func TestKeyForHashInvertsMurmur(t *testing.T) {
	for _, h := range append(extremeHashes, 0x0123456789abcdef) {
		if got := murmur64(keyForHash(h, 77) + 77); got != h {
			t.Fatalf("murmur64(keyForHash(%x)) = %x", h, got)
		}
	}
}
