package filter

// Snapshot is a filter over every malicious hash as of one generation: the
// sequence number of the last verdict store change it reflects. It is
// immutable once built or decoded and safe for concurrent use.
type Snapshot struct {
	gen uint64
	fuse
}

// Generation returns the verdict store sequence the snapshot reflects.
func (s *Snapshot) Generation() uint64 { return s.gen }

// Keys returns the number of distinct keys (see [Key]) in the snapshot.
func (s *Snapshot) Keys() uint64 { return s.keys }

// Contains reports whether sha256 may be malicious. It is true for every hash
// the snapshot was built over, and for about 0.39% of all others.
func (s *Snapshot) Contains(sha256 [32]byte) bool { return s.contains(Key(sha256)) }

// Size returns the length of the snapshot's binary encoding in bytes.
func (s *Snapshot) Size() int { return snapshotFormat.size(&s.fuse) }

// MarshalBinary encodes the snapshot in the format described in format.go.
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	return s.AppendBinary(make([]byte, 0, s.Size()))
}

// AppendBinary appends the snapshot's binary encoding to b.
func (s *Snapshot) AppendBinary(b []byte) ([]byte, error) {
	return snapshotFormat.append(b, []uint64{s.gen}, &s.fuse), nil
}

// UnmarshalBinary decodes data, which must be exactly one snapshot encoding.
// On error the snapshot is left unchanged.
func (s *Snapshot) UnmarshalBinary(data []byte) error {
	gens, f, err := snapshotFormat.decode(data)
	if err != nil {
		return err
	}
	*s = Snapshot{gen: gens[0], fuse: f}
	return nil
}

// DecodeSnapshot decodes a snapshot from data, which comes from the network
// or disk and is validated strictly: a wrong magic, version, length,
// parameter, checksum or trailing byte is an EINVALID error saying which.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	s := new(Snapshot)
	if err := s.UnmarshalBinary(data); err != nil {
		return nil, err
	}
	return s, nil
}
