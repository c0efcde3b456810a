package filter

// Delta is a filter over the hashes that became malicious between two
// generations. It is immutable once built or decoded and safe for
// concurrent use.
type Delta struct {
	from, to uint64
	fuse
}

// From returns the generation the delta applies to.
func (d *Delta) From() uint64 { return d.from }

// To returns the generation a set reaches once the delta is applied.
func (d *Delta) To() uint64 { return d.to }

// Keys returns the number of distinct keys (see [Key]) in the delta.
func (d *Delta) Keys() uint64 { return d.keys }

// Contains reports whether sha256 may have been added as malicious between
// From and To: true for every such hash, and for about 0.39% of all others.
func (d *Delta) Contains(sha256 [32]byte) bool { return d.contains(Key(sha256)) }

// Size returns the length of the delta's binary encoding in bytes.
func (d *Delta) Size() int { return deltaFormat.size(&d.fuse) }

// MarshalBinary encodes the delta in the format described in format.go.
func (d *Delta) MarshalBinary() ([]byte, error) {
	return d.AppendBinary(make([]byte, 0, d.Size()))
}

// AppendBinary appends the delta's binary encoding to b.
func (d *Delta) AppendBinary(b []byte) ([]byte, error) {
	return deltaFormat.append(b, []uint64{d.from, d.to}, &d.fuse), nil
}

// UnmarshalBinary decodes data, which must be exactly one delta encoding.
// On error the delta is left unchanged.
func (d *Delta) UnmarshalBinary(data []byte) error {
	gens, f, err := deltaFormat.decode(data)
	if err != nil {
		return err
	}
	*d = Delta{from: gens[0], to: gens[1], fuse: f}
	return nil
}

// DecodeDelta decodes a delta from data, validated as strictly as
// [DecodeSnapshot]; a delta whose from generation is not before its to
// generation is also refused.
func DecodeDelta(data []byte) (*Delta, error) {
	d := new(Delta)
	if err := d.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return d, nil
}
