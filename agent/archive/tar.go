package archive

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
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
		// No ratio here: tar stores, and the bytes it yields were counted
		// by the layer that decompressed them.
		m := &meter{w: w, r: tr, archive: name, member: h.Name}
		if err := w.member(name, h.Name, m, depth); err != nil {
			return err
		}
	}
}
