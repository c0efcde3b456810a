package filter

import (
	"encoding/binary"
	"hash/crc32"
	"math/bits"

	"github.com/FastFilter/xorfilter"
	"github.com/herdsec/herd"
)

// Binary format, version 1. All integers are little-endian.
//
//	offset  size  field
//	0       4     magic: "HRFS" for a snapshot, "HRFD" for a delta
//	4       2     format version (1)
//	6       1     fingerprint width in bits (8)
//	7       1     reserved, 0
//	8       8·g   generations: a snapshot has g=1 (its generation), a delta
//	              g=2 (from, to; from < to)
//	h-28    8     key count: distinct keys the filter was built over
//	h-20    8     seed of the binary fuse filter
//	h-12    4     segment length, a power of two ≤ 262144
//	h-8     4     segment count ≥ 1
//	h-4     4     fingerprint count = (segment count + 2) × segment length
//	h       n     fingerprints, one byte each
//	h+n     4     CRC-32C (Castagnoli) of every byte before it
//
// where h = 36 + 8·g is the header length. A filter over no keys has key
// count, seed, segment length, segment count and fingerprint count all 0,
// and no fingerprints. The encoding is canonical: decoding accepts nothing
// that would not re-encode to the same bytes.
const (
	formatVersion    = 1
	fingerprintBits  = 8
	maxSegmentLength = 262144 // the library's cap
	checksumLen      = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type format struct {
	name       string // names the thing in errors
	magic      string
	gens       int    // number of generation fields
	otherMagic string // the other kind's magic, to say what was sent instead
	otherName  string
}

var (
	snapshotFormat = format{name: "filter snapshot", magic: "HRFS", gens: 1, otherMagic: "HRFD", otherName: "delta"}
	deltaFormat    = format{name: "filter delta", magic: "HRFD", gens: 2, otherMagic: "HRFS", otherName: "snapshot"}
)

func (ft *format) headerLen() int { return 36 + 8*ft.gens }

func (ft *format) size(x *fuse) int {
	n := ft.headerLen() + checksumLen
	if x.f != nil {
		n += len(x.f.Fingerprints)
	}
	return n
}

func (ft *format) append(b []byte, gens []uint64, x *fuse) []byte {
	start := len(b)
	b = append(b, ft.magic...)
	b = binary.LittleEndian.AppendUint16(b, formatVersion)
	b = append(b, fingerprintBits, 0)
	for _, g := range gens {
		b = binary.LittleEndian.AppendUint64(b, g)
	}
	b = binary.LittleEndian.AppendUint64(b, x.keys)
	var fps []uint8
	if x.f != nil {
		fps = x.f.Fingerprints
		b = binary.LittleEndian.AppendUint64(b, x.f.Seed)
		b = binary.LittleEndian.AppendUint32(b, x.f.SegmentLength)
		b = binary.LittleEndian.AppendUint32(b, x.f.SegmentCount)
	} else {
		b = append(b, make([]byte, 16)...)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(fps)))
	b = append(b, fps...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// decode validates data as one encoding of ft and returns its generations
// and filter. The checks run from the outside in (length, magic, version,
// framing, checksum, then the meaning of the fields), so each error names
// the first thing wrong.
func (ft *format) decode(data []byte) ([]uint64, fuse, error) {
	h := ft.headerLen()
	if len(data) < h+checksumLen {
		return nil, fuse{}, ft.errorf("%d bytes, shorter than the %d-byte header and checksum", len(data), h+checksumLen)
	}
	switch magic := string(data[:4]); magic {
	case ft.magic:
	case ft.otherMagic:
		return nil, fuse{}, ft.errorf("magic %q is that of a %s, want %q", magic, ft.otherName, ft.magic)
	default:
		return nil, fuse{}, ft.errorf("bad magic %q, want %q", magic, ft.magic)
	}
	if v := binary.LittleEndian.Uint16(data[4:]); v != formatVersion {
		return nil, fuse{}, ft.errorf("unsupported format version %d, want %d", v, formatVersion)
	}
	if w := data[6]; w != fingerprintBits {
		return nil, fuse{}, ft.errorf("fingerprint width %d bits, want %d", w, fingerprintBits)
	}
	if r := data[7]; r != 0 {
		return nil, fuse{}, ft.errorf("reserved byte 7 is %d, want 0", r)
	}
	nfp := binary.LittleEndian.Uint32(data[h-4:])
	if want := uint64(h) + uint64(nfp) + checksumLen; uint64(len(data)) < want {
		return nil, fuse{}, ft.errorf("truncated: %d bytes, want %d for %d fingerprints", len(data), want, nfp)
	} else if uint64(len(data)) > want {
		return nil, fuse{}, ft.errorf("%d trailing bytes after the checksum", uint64(len(data))-want)
	}
	body, sum := data[:len(data)-checksumLen], binary.LittleEndian.Uint32(data[len(data)-checksumLen:])
	if got := crc32.Checksum(body, castagnoli); got != sum {
		return nil, fuse{}, ft.errorf("checksum %08x does not match the content's %08x: data corrupted", sum, got)
	}

	gens := make([]uint64, ft.gens)
	for i := range gens {
		gens[i] = binary.LittleEndian.Uint64(data[8+8*i:])
	}
	if ft.gens == 2 && gens[0] >= gens[1] {
		return nil, fuse{}, ft.errorf("from generation %d is not before to generation %d", gens[0], gens[1])
	}
	p := data[h-28:]
	keys := binary.LittleEndian.Uint64(p[0:])
	seed := binary.LittleEndian.Uint64(p[8:])
	segLen := binary.LittleEndian.Uint32(p[16:])
	segCount := binary.LittleEndian.Uint32(p[20:])
	if keys == 0 {
		if seed != 0 || segLen != 0 || segCount != 0 || nfp != 0 {
			return nil, fuse{}, ft.errorf("0 keys but seed %d, segment length %d, segment count %d, %d fingerprints; want all 0", seed, segLen, segCount, nfp)
		}
		return gens, fuse{}, nil
	}
	// These checks keep every lookup in bounds: the three slots of a key lie
	// below (segment count + 2) × segment length, which must be the
	// fingerprint count, and the length must be a power of two for the
	// in-segment offsets to stay in their segment.
	if segLen == 0 || segLen > maxSegmentLength || bits.OnesCount32(segLen) != 1 {
		return nil, fuse{}, ft.errorf("segment length %d is not a power of two in [1, %d]", segLen, maxSegmentLength)
	}
	if segCount == 0 {
		return nil, fuse{}, ft.errorf("segment count is 0 for %d keys", keys)
	}
	if want := (uint64(segCount) + 2) * uint64(segLen); uint64(nfp) != want {
		return nil, fuse{}, ft.errorf("%d fingerprints, want (segment count %d + 2) × segment length %d = %d", nfp, segCount, segLen, want)
	}
	if keys > uint64(nfp) {
		return nil, fuse{}, ft.errorf("key count %d exceeds the %d fingerprints", keys, nfp)
	}
	f := &xorfilter.BinaryFuse8{
		Seed:               seed,
		SegmentLength:      segLen,
		SegmentLengthMask:  segLen - 1,
		SegmentCount:       segCount,
		SegmentCountLength: segCount * segLen, // < nfp, so no overflow
		Fingerprints:       make([]uint8, nfp),
	}
	copy(f.Fingerprints, data[h:])
	return gens, fuse{keys: keys, f: f}, nil
}

func (ft *format) errorf(format string, args ...any) error {
	e := herd.Errorf(herd.EINVALID, format, args...)
	e.Message = ft.name + ": " + e.Message
	return e
}
