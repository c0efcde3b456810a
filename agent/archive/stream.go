package archive

import (
	"compress/bzip2"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/therootcompany/xz"
)

// stream walks a compressed stream (gzip, bzip2, xz): one member, the
// decompressed content, named by the gzip header or after the stream.
func (w *walker) stream(name string, f Format, r io.Reader, depth int) error {
	cr := &countingReader{r: r}
	member := streamMember(name)
	var dr io.Reader
	switch f {
	case Gzip:
		zr, err := gzip.NewReader(cr)
		if err != nil {
			return fmt.Errorf("archive %q: %w", name, err)
		}
		if zr.Name != "" {
			member = zr.Name
		}
		dr = zr
	case Bzip2:
		dr = bzip2.NewReader(cr)
	case XZ:
		// The xz format lets a stream ask for a 4 GiB dictionary; this
		// decoder refuses more than maxXZDict instead of allocating it.
		zr, err := xz.NewReader(cr, maxXZDict)
		if err != nil {
			return fmt.Errorf("archive %q: %w", name, err)
		}
		dr = zr
	default:
		return fmt.Errorf("archive %q: format %v is no stream", name, f)
	}
	if err := w.enter(name, member); err != nil {
		return err
	}
	m := &meter{w: w, r: dr, archive: name, member: member, consumed: func() int64 { return cr.n }}
	return w.member(name, member, m, depth)
}

// streamMember names a compressed stream's content after the stream:
// "x.tar.gz" holds "x.tar", "x.tgz" too, "x.gz" holds "x", and a stream
// with no known extension holds "data".
func streamMember(name string) string {
	base := path.Base(strings.ReplaceAll(name[strings.LastIndex(name, "//")+1:], `\`, "/"))
	lower := strings.ToLower(base)
	for _, ext := range []struct{ from, to string }{
		{".tgz", ".tar"}, {".tbz2", ".tar"}, {".tbz", ".tar"}, {".txz", ".tar"},
		{".gz", ""}, {".bz2", ""}, {".xz", ""},
	} {
		if strings.HasSuffix(lower, ext.from) && len(base) > len(ext.from) {
			return base[:len(base)-len(ext.from)] + ext.to
		}
	}
	return "data"
}
