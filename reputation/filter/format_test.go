package filter

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/herdsec/herd"
)

func TestEncodingRoundTrip(t *testing.T) {
	hashes := randomHashes(50, 5000)
	probes := randomHashes(51, 5000)
	for _, n := range []int{0, 1, 5000} {
		s := MustBuild(t, 7, hashes[:n])
		b := MustMarshal(t, s)
		if len(b) != s.Size() {
			t.Fatalf("n=%d: snapshot encodes to %d bytes, Size says %d", n, len(b), s.Size())
		}
		got, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("n=%d: DecodeSnapshot: %v", n, err)
		}
		if got.Generation() != 7 || got.Keys() != uint64(n) || !bytes.Equal(MustMarshal(t, got), b) {
			t.Fatalf("n=%d: decoded snapshot differs: generation %d keys %d", n, got.Generation(), got.Keys())
		}
		for _, h := range append(hashes[:n:n], probes...) {
			if got.Contains(h) != s.Contains(h) {
				t.Fatalf("n=%d: decoded snapshot answers %v for %x, the original %v", n, got.Contains(h), h, s.Contains(h))
			}
		}

		d := MustBuildDelta(t, 7, 9, hashes[:n])
		b = MustMarshal(t, d)
		if len(b) != d.Size() {
			t.Fatalf("n=%d: delta encodes to %d bytes, Size says %d", n, len(b), d.Size())
		}
		gotD, err := DecodeDelta(b)
		if err != nil {
			t.Fatalf("n=%d: DecodeDelta: %v", n, err)
		}
		if gotD.From() != 7 || gotD.To() != 9 || gotD.Keys() != uint64(n) || !bytes.Equal(MustMarshal(t, gotD), b) {
			t.Fatalf("n=%d: decoded delta differs: %d..%d keys %d", n, gotD.From(), gotD.To(), gotD.Keys())
		}
		for _, h := range hashes[:n] {
			if !gotD.Contains(h) {
				t.Fatalf("n=%d: decoded delta misses %x", n, h)
			}
		}
	}
}

// TestEncodingLayout pins the header fields at the offsets format.go
// documents, so agents of another build keep reading what the cloud sends.
func TestEncodingLayout(t *testing.T) {
	s := MustBuild(t, 0x1122334455667788, randomHashes(60, 100))
	b := MustMarshal(t, s)
	le := binary.LittleEndian
	if string(b[:4]) != "HRFS" || le.Uint16(b[4:]) != 1 || b[6] != 8 || b[7] != 0 ||
		le.Uint64(b[8:]) != 0x1122334455667788 || le.Uint64(b[16:]) != 100 ||
		int(le.Uint32(b[40:])) != len(b)-48 || le.Uint32(b[40:]) != (le.Uint32(b[36:])+2)*le.Uint32(b[32:]) {
		t.Fatalf("snapshot header % x does not follow the documented layout", b[:44])
	}
	d := MustBuildDelta(t, 3, 4, randomHashes(60, 100))
	b = MustMarshal(t, d)
	if string(b[:4]) != "HRFD" || le.Uint64(b[8:]) != 3 || le.Uint64(b[16:]) != 4 || le.Uint64(b[24:]) != 100 ||
		int(le.Uint32(b[48:])) != len(b)-56 {
		t.Fatalf("delta header % x does not follow the documented layout", b[:52])
	}
	empty := MustMarshal(t, MustBuild(t, 1, nil))
	if len(empty) != 48 || !bytes.Equal(empty[16:44], make([]byte, 28)) {
		t.Fatalf("empty snapshot % x, want 48 bytes with zero parameters", empty)
	}
}

func TestDecodeErrors(t *testing.T) {
	snap := MustMarshal(t, MustBuild(t, 5, randomHashes(70, 100)))
	delta := MustMarshal(t, MustBuildDelta(t, 5, 6, randomHashes(71, 100)))
	empty := MustMarshal(t, MustBuild(t, 5, nil))
	le := binary.LittleEndian

	// edit returns a copy of b changed by f, with its checksum recomputed
	// when reseal is set.
	edit := func(b []byte, resealed bool, f func(b []byte) []byte) []byte {
		b = f(bytes.Clone(b))
		if resealed {
			b = reseal(b)
		}
		return b
	}
	cases := []struct {
		name   string
		delta  bool // decode as a delta
		data   []byte
		substr string
	}{
		{"nil", false, nil, "filter snapshot: 0 bytes, shorter than the 48-byte header and checksum"},
		{"short delta", true, delta[:55], "filter delta: 55 bytes, shorter than the 56-byte header"},
		{"bad magic", false, edit(snap, true, func(b []byte) []byte { copy(b, "XXXX"); return b }), `bad magic "XXXX", want "HRFS"`},
		{"delta as snapshot", false, delta, `filter snapshot: magic "HRFD" is that of a delta`},
		{"snapshot as delta", true, snap, `filter delta: magic "HRFS" is that of a snapshot`},
		{"version", false, edit(snap, true, func(b []byte) []byte { le.PutUint16(b[4:], 2); return b }), "unsupported format version 2, want 1"},
		{"width", false, edit(snap, true, func(b []byte) []byte { b[6] = 16; return b }), "fingerprint width 16 bits, want 8"},
		{"reserved", false, edit(snap, true, func(b []byte) []byte { b[7] = 1; return b }), "reserved byte 7 is 1, want 0"},
		{"truncated", false, snap[:len(snap)-1], "truncated"},
		{"trailing", false, append(bytes.Clone(snap), 0, 0), "2 trailing bytes after the checksum"},
		{"corrupt fingerprint", false, edit(snap, false, func(b []byte) []byte { b[50] ^= 1; return b }), "data corrupted"},
		{"corrupt checksum", true, edit(delta, false, func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "data corrupted"},
		{"delta backwards", true, edit(delta, true, func(b []byte) []byte { le.PutUint64(b[16:], 5); return b }), "from generation 5 is not before to generation 5"},
		{"segment length", false, edit(snap, true, func(b []byte) []byte { le.PutUint32(b[32:], 3); return b }), "segment length 3 is not a power of two"},
		{"segment length too big", false, edit(snap, true, func(b []byte) []byte { le.PutUint32(b[32:], 1<<19); return b }), "segment length 524288 is not a power of two in [1, 262144]"},
		{"segment count", false, edit(snap, true, func(b []byte) []byte { le.PutUint32(b[36:], 0); return b }), "segment count is 0"},
		{"fingerprint count", false, edit(snap, true, func(b []byte) []byte { le.PutUint32(b[36:], le.Uint32(b[36:])+1); return b }), "fingerprints, want (segment count"},
		{"key count", false, edit(snap, true, func(b []byte) []byte { le.PutUint64(b[16:], 1<<40); return b }), "key count 1099511627776 exceeds the"},
		{"empty with seed", false, edit(empty, true, func(b []byte) []byte { b[24] = 1; return b }), "0 keys but seed 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.delta {
				var d *Delta
				d, err = DecodeDelta(c.data)
				if d != nil {
					t.Fatalf("DecodeDelta returned a delta with error %v", err)
				}
			} else {
				var s *Snapshot
				s, err = DecodeSnapshot(c.data)
				if s != nil {
					t.Fatalf("DecodeSnapshot returned a snapshot with error %v", err)
				}
			}
			wantError(t, err, herd.EINVALID, c.substr)
		})
	}

	// A failed UnmarshalBinary leaves the value as it was.
	s := MustBuild(t, 9, randomHashes(72, 10))
	before := MustMarshal(t, s)
	if err := s.UnmarshalBinary(snap[:10]); err == nil {
		t.Fatal("UnmarshalBinary accepted 10 bytes")
	}
	if !bytes.Equal(MustMarshal(t, s), before) {
		t.Fatal("a failed UnmarshalBinary changed the snapshot")
	}
}
