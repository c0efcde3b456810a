package filter

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

// randomHashes returns n pseudo-random digests, the same for the same seed.
// Distinct seeds give disjoint sets except with probability ~n²/2⁶⁴.
func randomHashes(seed uint64, n int) [][32]byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	r := rand.NewChaCha8(key)
	out := make([][32]byte, n)
	for i := range out {
		_, _ = r.Read(out[i][:])
	}
	return out
}

// MustBuild builds a snapshot or fails the test.
func MustBuild(tb testing.TB, gen uint64, hashes [][32]byte) *Snapshot {
	tb.Helper()
	s, err := Build(gen, hashes)
	if err != nil {
		tb.Fatalf("Build(%d, %d hashes): %v", gen, len(hashes), err)
	}
	return s
}

// MustBuildDelta builds a delta or fails the test.
func MustBuildDelta(tb testing.TB, from, to uint64, added [][32]byte) *Delta {
	tb.Helper()
	d, err := BuildDelta(from, to, added)
	if err != nil {
		tb.Fatalf("BuildDelta(%d, %d, %d hashes): %v", from, to, len(added), err)
	}
	return d
}

// MustMarshal encodes v or fails the test.
func MustMarshal(tb testing.TB, v interface{ MarshalBinary() ([]byte, error) }) []byte {
	tb.Helper()
	b, err := v.MarshalBinary()
	if err != nil {
		tb.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

// falsePositiveRate returns the fraction of the non-members that contains
// reports as contained.
func falsePositiveRate(nonMembers [][32]byte, contains func([32]byte) bool) float64 {
	hits := 0
	for _, h := range nonMembers {
		if contains(h) {
			hits++
		}
	}
	return float64(hits) / float64(len(nonMembers))
}

// reseal recomputes the trailing checksum of an encoding in place, so a test
// can reach the checks that follow it.
func reseal(b []byte) []byte {
	if len(b) >= checksumLen {
		binary.LittleEndian.PutUint32(b[len(b)-checksumLen:], crc32.Checksum(b[:len(b)-checksumLen], castagnoli))
	}
	return b
}

// wantError fails the test unless err is a herd error with code and a
// message containing substr.
func wantError(tb testing.TB, err error, code, substr string) {
	tb.Helper()
	var e *herd.Error
	if !errors.As(err, &e) {
		tb.Fatalf("error %v (%T), want a *herd.Error with code %q", err, err, code)
	}
	if e.Code != code || !strings.Contains(err.Error(), substr) {
		tb.Fatalf("error %q (code %q), want code %q and a message containing %q", err, e.Code, code, substr)
	}
}

// keyForHash returns the key that the library hashes to hash under seed
// (its hash is murmur64(key + seed), a bijection), so a test can probe the
// extreme slots of a filter.
func keyForHash(hash, seed uint64) uint64 {
	h := hash
	h ^= h >> 33
	h *= mulInverse(0xc4ceb9fe1a85ec53)
	h ^= h >> 33
	h *= mulInverse(0xff51afd7ed558ccd)
	h ^= h >> 33
	return h - seed
}

// murmur64 is the library's finaliser, to check keyForHash.
func murmur64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// mulInverse returns the inverse of odd c modulo 2⁶⁴ (Newton's iteration
// doubles the correct low bits each step).
func mulInverse(c uint64) uint64 {
	x := c
	for range 6 {
		x *= 2 - c*x
	}
	return x
}

// extremeHashes reach the first and last slots of every segment.
var extremeHashes = []uint64{0, 1, ^uint64(0), 1 << 63, 1<<63 - 1, 0x3ffff, ^uint64(0x3ffff)}
