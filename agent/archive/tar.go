package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
)

// tar walks a tar stream. Only regular files are members: links, devices,
// FIFOs and folders are counted and their names checked, never followed.
func (w *walker) tar(name string, r io.Reader, depth int) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if w.refused != nil { // the stream under the tar broke a limit
				return w.refused
			}
			if errors.Is(err, tar.ErrInsecurePath) { // names are checked below, as for every format
				err = nil
			} else {
				return fmt.Errorf("archive %q: %w", name, err)
			}
		}
		if err := w.enter(name, h.Name); err != nil {
			return err
		}
		if h.Typeflag != tar.TypeReg && h.Typeflag != tar.TypeGNUSparse {
			continue
		}
		// A sparse member expands to any size from a few stored bytes: the
		// one way a plain tar can hold a bomb. Refused, not read.
		if isSparse(h) {
			return w.refuse(&RefusedError{Archive: name, Member: h.Name, Reason: ReasonRatio, Detail: "sparse member (its holes are not stored)"})
		}
		// No ratio here: tar stores, and the bytes it yields were counted
		// by the layer that decompressed them.
		m := &meter{w: w, r: tr, archive: name, member: h.Name}
		if err := w.member(name, h.Name, m, depth); err != nil {
			return err
		}
	}
}

// isSparse reports whether a tar header describes a sparse file, in GNU
// or PAX form.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
