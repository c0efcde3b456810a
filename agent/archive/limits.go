package archive

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Limits bound what one Walk may cost. Zero fields take the defaults
// (DefaultLimits); negative ones are an error.
type Limits struct {
	// MaxDepth is how many archives may nest, the one given to Walk
	// counting as 1 (x.tar.gz is two: gzip, then tar). Default 5.
	MaxDepth int
	// MaxTotal bounds the bytes decompressed in one Walk, every level
	// counted (a tar's members count once, as the bytes of the tar).
	// Default 512 MiB.
	MaxTotal int64
	// MaxMember bounds the bytes of one member. Default 256 MiB.
	MaxMember int64
	// MaxMembers bounds the entries (files, folders, links) met in one
	// Walk, every level counted. Default 10,000.
	MaxMembers int
	// MaxRatio bounds a member's decompressed size over its compressed
	// size, counting the bytes actually read on both sides, once the
	// member has produced RatioFloor bytes. Default 100 (100:1).
	MaxRatio int64
	// RatioFloor is the size under which the ratio is not checked: small
	// runs of zeros compress well and harm no one. Default 1 MiB.
	RatioFloor int64
	// MaxSpill is the size up to which a nested archive is kept in memory
	// while it is walked; a larger one goes to a temporary file in
	// TempDir ("" for the system's). Default 4 MiB.
	MaxSpill int64
	TempDir  string
}

// DefaultLimits returns the limits Walk applies to zero fields.
func DefaultLimits() Limits {
	return Limits{
		MaxDepth:   5,
		MaxTotal:   512 << 20,
		MaxMember:  256 << 20,
		MaxMembers: 10_000,
		MaxRatio:   100,
		RatioFloor: 1 << 20,
		MaxSpill:   4 << 20,
	}
}

// maxXZDict bounds the dictionary an xz stream may ask the decoder to
// allocate: enough for "xz -9", far below the 4 GiB the format allows.
const maxXZDict = 64 << 20

func (l Limits) withDefaults() (Limits, error) {
	d := DefaultLimits()
	for _, f := range []struct {
		name string
		v    *int64
		def  int64
	}{
		{"MaxTotal", &l.MaxTotal, d.MaxTotal},
		{"MaxMember", &l.MaxMember, d.MaxMember},
		{"MaxRatio", &l.MaxRatio, d.MaxRatio},
		{"RatioFloor", &l.RatioFloor, d.RatioFloor},
		{"MaxSpill", &l.MaxSpill, d.MaxSpill},
	} {
		if *f.v < 0 {
			return l, fmt.Errorf("archive limits: %s = %d: must be >= 0", f.name, *f.v)
		}
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	if l.MaxDepth < 0 {
		return l, fmt.Errorf("archive limits: MaxDepth = %d: must be >= 0", l.MaxDepth)
	}
	if l.MaxMembers < 0 {
		return l, fmt.Errorf("archive limits: MaxMembers = %d: must be >= 0", l.MaxMembers)
	}
	if l.MaxDepth == 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxMembers == 0 {
		l.MaxMembers = d.MaxMembers
	}
	return l, nil
}

// meter counts the bytes a member yields and refuses it as soon as it
// breaks a limit, while it is read: declared sizes are never trusted.
type meter struct {
	w               *walker
	r               io.Reader
	archive, member string
	n               int64
	// consumed returns the compressed bytes read so far for this member;
	// nil when the member is not compressed at this level (tar).
	consumed func() int64
}

func (m *meter) Read(p []byte) (int, error) {
	if err := m.w.ctx.Err(); err != nil {
		return 0, err
	}
	if m.w.refused != nil {
		return 0, m.w.refused
	}
	n, err := m.r.Read(p)
	m.n += int64(n)
	lim := m.w.lim
	if m.consumed != nil {
		m.w.total += int64(n)
		if m.w.total > lim.MaxTotal {
			return n, m.refuse(ReasonTotalSize, fmt.Sprintf("more than %s decompressed in all", fmtSize(lim.MaxTotal)))
		}
		if c := m.consumed(); m.n > lim.RatioFloor && m.n > lim.MaxRatio*max(c, 1) {
			return n, m.refuse(ReasonRatio, fmt.Sprintf("compression ratio over %d:1", lim.MaxRatio))
		}
	}
	if m.n > lim.MaxMember {
		return n, m.refuse(ReasonMemberSize, fmt.Sprintf("more than %s", fmtSize(lim.MaxMember)))
	}
	return n, err
}

func (m *meter) refuse(r Reason, detail string) error {
	return m.w.refuse(&RefusedError{Archive: m.archive, Member: m.member, Reason: r, Detail: detail})
}

func fmtSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// countingReader counts the bytes read through it: the compressed side of
// a stream's ratio.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// errBudget stops zip.NewReader from reading a central directory larger
// than the member limit allows.
var errBudget = errors.New("read budget exhausted")

// countingReaderAt counts the bytes read through it (the compressed side of
// a zip member's ratio) and, while budget >= 0, refuses to read past it.
type countingReaderAt struct {
	r      io.ReaderAt
	n      int64
	budget int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if c.budget >= 0 && c.n+int64(len(p)) > c.budget {
		return 0, errBudget
	}
	n, err := c.r.ReadAt(p, off)
	c.n += int64(n)
	return n, err
}

// spill holds a nested archive for random access: in memory up to
// Limits.MaxSpill, in a temporary file beyond (removed by Close).
type spill struct {
	io.ReaderAt
	size int64
	file *os.File
}

func newSpill(r io.Reader, lim Limits) (*spill, error) {
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, lim.MaxSpill+1))
	if err != nil {
		return nil, err
	}
	if n <= lim.MaxSpill {
		return &spill{ReaderAt: bytes.NewReader(buf.Bytes()), size: n}, nil
	}
	f, err := os.CreateTemp(lim.TempDir, "herd-archive-*")
	if err != nil {
		return nil, err
	}
	sp := &spill{ReaderAt: f, file: f}
	if _, err := buf.WriteTo(f); err != nil {
		sp.Close()
		return nil, err
	}
	rest, err := io.Copy(f, r)
	if err != nil {
		sp.Close()
		return nil, err
	}
	sp.size = n + rest
	return sp, nil
}

// Close removes the temporary file, if any.
func (s *spill) Close() error {
	if s.file == nil {
		return nil
	}
	err := s.file.Close()
	if rmErr := os.Remove(s.file.Name()); err == nil {
		err = rmErr
	}
	return err
}
