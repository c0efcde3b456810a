// Package archive walks the members of archives (zip, tar) and compressed
// streams (gzip, bzip2, xz), archives inside archives included, so that the
// scanner can look inside them; it refuses archives built to exhaust the
// scanner (zip bombs) or to write outside a folder when unpacked (path
// traversal), and says why.
package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
)

// Format is an archive or compression format, recognised by its magic bytes.
type Format int

// The formats Walk opens. None is anything else.
const (
	None Format = iota
	Zip
	Tar
	Gzip
	Bzip2
	XZ
)

func (f Format) String() string {
	switch f {
	case Zip:
		return "zip"
	case Tar:
		return "tar"
	case Gzip:
		return "gzip"
	case Bzip2:
		return "bzip2"
	case XZ:
		return "xz"
	}
	return "none"
}

// HeadSize is how many leading bytes Detect needs to recognise every format
// (tar's magic sits at offset 257).
const HeadSize = 512

// Detect recognises a format from the first bytes of a file (HeadSize of
// them, or the whole file if it is shorter). File names play no part: a
// renamed archive is still opened, and a file named .zip that is none is not.
func Detect(head []byte) Format {
	switch {
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return Zip
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b, 0x08}):
		return Gzip
	case len(head) >= 4 && bytes.HasPrefix(head, []byte("BZh")) && head[3] >= '1' && head[3] <= '9':
		return Bzip2
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		return XZ
	case len(head) >= 262 && string(head[257:262]) == "ustar": // POSIX and GNU tar
		return Tar
	}
	return None
}

// Member is one file inside an archive.
type Member struct {
	// Path names the member for people: the archive's name, then each
	// member's name inside its archive, joined by "//", as in
	// "outer.zip//dir/inner.tar//file". A compressed stream's one member
	// is named after the name stored in it (gzip) or after the stream
	// without its extension ("x.tar.gz//x.tar").
	Path string
	// Name is the member's name inside its own archive.
	Name string
	// Depth is 1 for the members of the archive given to Walk, 2 for the
	// members of an archive inside it, and so on.
	Depth int
	// Archive is the member's own format when it is itself an archive
	// (its members follow it), None otherwise.
	Archive Format
}

// WalkFunc is called for each regular file in an archive, in archive
// order, one call at a time. r yields the member's content; it need not be
// read to the end. r fails with a *RefusedError if the member breaks a
// limit while it is read; Walk then returns that error whatever fn does
// with it. An error from fn stops the walk and is returned by Walk.
type WalkFunc func(m Member, r io.Reader) error

// Walk calls fn for every regular file inside the archive r of the given
// size, depth first: a member that is itself an archive is given to fn,
// then its own members are, before the next member; archives nest up to
// lim.MaxDepth deep. name is the archive's name for Member.Path and for
// errors. A file that is no archive (Detect says None) has no members: fn
// is not called and Walk returns nil.
//
// Directories, links (symbolic or hard), devices and FIFOs are skipped,
// never followed; encrypted zip members are skipped (their content cannot
// be read). Nothing is written where a member's name points: nested
// archives go to memory or to a temporary file in lim.TempDir, removed
// before Walk returns.
//
// Walk returns a *RefusedError when the archive breaks one of lim's limits
// or holds a member whose name escapes the archive's folder; members
// already given to fn stay given. Other errors (a corrupt archive, a read
// error) name the archive and member, and so does ctx's error.
func Walk(ctx context.Context, name string, r io.ReaderAt, size int64, lim Limits, fn WalkFunc) error {
	lim, err := lim.withDefaults()
	if err != nil {
		return err
	}
	head := make([]byte, HeadSize)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("archive %q: %w", name, err)
	}
	f := Detect(head[:n])
	if f == None {
		return nil
	}
	w := &walker{ctx: ctx, lim: lim, fn: fn}
	err = w.archive(name, f, r, size, 1)
	if w.refused != nil { // whatever fn made of it
		return w.refused
	}
	return err
}

// walker holds what one Walk counts across every nesting level.
type walker struct {
	ctx     context.Context
	lim     Limits
	fn      WalkFunc
	total   int64 // bytes produced by decompression, all levels
	members int   // entries met, all levels
	refused *RefusedError
}

func (w *walker) refuse(e *RefusedError) error {
	if w.refused == nil {
		w.refused = e
	}
	return w.refused
}

// archive walks the members of the archive r, of format f, at depth-1
// archives below the top-level one.
func (w *walker) archive(name string, f Format, r io.ReaderAt, size int64, depth int) error {
	switch f {
	case Zip:
		return w.zip(name, r, size, depth)
	case Tar:
		return w.tar(name, io.NewSectionReader(r, 0, size), depth)
	default:
		return w.stream(name, f, io.NewSectionReader(r, 0, size), depth)
	}
}

// enter counts an entry of an archive and checks its name; every entry
// counts, files or not.
func (w *walker) enter(archive, member string) error {
	if err := w.ctx.Err(); err != nil {
		return fmt.Errorf("archive %q: %w", archive, err)
	}
	w.members++
	if w.members > w.lim.MaxMembers {
		return w.refuse(&RefusedError{Archive: archive, Member: member, Reason: ReasonMembers,
			Detail: fmt.Sprintf("more than %d members", w.lim.MaxMembers)})
	}
	if why := unsafeName(member); why != "" {
		return w.refuse(&RefusedError{Archive: archive, Member: member, Reason: ReasonPath, Detail: why})
	}
	return nil
}

// member gives a regular file's content (r, metered) to fn and, when it is
// itself an archive, walks it.
func (w *walker) member(archive, name string, r io.Reader, depth int) error {
	head := make([]byte, HeadSize)
	n, err := io.ReadFull(r, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return w.memberErr(archive, name, err)
	}
	head = head[:n]
	m := Member{Path: archive + "//" + name, Name: name, Depth: depth, Archive: Detect(head)}
	content := io.MultiReader(bytes.NewReader(head), r)
	if m.Archive == None {
		if err := w.fn(m, content); err != nil {
			return w.memberErr(archive, name, err)
		}
		return nil
	}
	if depth+1 > w.lim.MaxDepth {
		return w.refuse(&RefusedError{Archive: archive, Member: name, Reason: ReasonDepth,
			Detail: fmt.Sprintf("archives nested more than %d deep", w.lim.MaxDepth)})
	}
	// The nested archive is read twice, by fn and by the walk, and zip
	// needs random access: keep it, in memory if small.
	sp, err := newSpill(content, w.lim)
	if err != nil {
		return w.memberErr(archive, name, err)
	}
	defer sp.Close()
	if err := w.fn(m, io.NewSectionReader(sp, 0, sp.size)); err != nil {
		return w.memberErr(archive, name, err)
	}
	return w.archive(m.Path, m.Archive, sp, sp.size, depth+1)
}

// memberErr names the archive and member of a failure, unless it is a
// refusal (which names them already).
func (w *walker) memberErr(archive, name string, err error) error {
	if w.refused != nil {
		return w.refused
	}
	return fmt.Errorf("archive %q: member %q: %w", archive, name, err)
}
