package filter

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to both decoders, as they are and with
// their checksum recomputed (so mutations reach the checks behind it).
// Decoding must never panic; whatever decodes must re-encode to the same
// bytes and answer lookups without panicking.
func FuzzDecode(f *testing.F) {
	hashes := randomHashes(80, 40)
	for _, n := range []int{0, 1, 2, 5, 40} {
		f.Add(MustMarshal(f, MustBuild(f, uint64(n), hashes[:n])))
		f.Add(MustMarshal(f, MustBuildDelta(f, uint64(n), uint64(n)+1, hashes[:n])))
	}
	f.Add([]byte("HRFS"))
	probes := randomHashes(81, 64)
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, b := range [][]byte{data, reseal(bytes.Clone(data))} {
			if s, err := DecodeSnapshot(b); err == nil {
				if got := MustMarshal(t, s); !bytes.Equal(got, b) {
					t.Fatalf("snapshot re-encodes to\n% x\nnot\n% x", got, b)
				}
				for _, h := range probes {
					s.Contains(h)
				}
				probeExtremes(&s.fuse)
				var set Set
				if err := set.Apply(s); err != nil {
					t.Fatal(err)
				}
				set.Contains(probes[0])
			}
			if d, err := DecodeDelta(b); err == nil {
				if got := MustMarshal(t, d); !bytes.Equal(got, b) {
					t.Fatalf("delta re-encodes to\n% x\nnot\n% x", got, b)
				}
				for _, h := range probes {
					d.Contains(h)
				}
				probeExtremes(&d.fuse)
			}
		}
	})
}

// probeExtremes looks up the keys that land on a filter's extreme slots,
// which would panic if decoding let through parameters that index past
// the fingerprints.
func probeExtremes(x *fuse) {
	if x.f == nil {
		return
	}
	for _, h := range extremeHashes {
		x.contains(keyForHash(h, x.f.Seed))
	}
}
