package archive

import (
	"archive/zip"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
)

// zip walks a zip archive. Before reading any content it checks the whole
// central directory: the count of entries, every name, and that no two
// members share compressed data (the overlapping-entry bomb, where one
// small compressed kernel is referenced by thousands of entries).
func (w *walker) zip(name string, r io.ReaderAt, size int64, depth int) error {
	// The central directory is read into memory whole: bound it by the
	// member count (1 KiB an entry is generous for real names).
	cr := &countingReaderAt{r: r, budget: int64(w.lim.MaxMembers)<<10 + 64<<10}
	zr, err := zip.NewReader(cr, size)
	if errors.Is(err, errBudget) {
		return w.refuse(&RefusedError{Archive: name, Reason: ReasonMembers,
			Detail: fmt.Sprintf("central directory over %s, more than %d members can hold", fmtSize(cr.budget), w.lim.MaxMembers)})
	}
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below, the same way for every format
		return fmt.Errorf("archive %q: %w", name, err)
	}
	cr.budget = -1
	if len(zr.File) > w.lim.MaxMembers-w.members {
		return w.refuse(&RefusedError{Archive: name, Reason: ReasonMembers,
			Detail: fmt.Sprintf("%d members, more than %d", len(zr.File), w.lim.MaxMembers)})
	}
	type span struct {
		start, end int64
		name       string
	}
	var spans []span
	for _, f := range zr.File {
		if err := w.enter(name, f.Name); err != nil {
			return err
		}
		if f.CompressedSize64 == 0 || !f.Mode().IsRegular() {
			continue
		}
		off, err := f.DataOffset()
		if err != nil {
			return fmt.Errorf("archive %q: member %q: %w", name, f.Name, err)
		}
		end := off + int64(min(f.CompressedSize64, uint64(size)))
		spans = append(spans, span{off, end, f.Name})
	}
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	for i := 1; i < len(spans); i++ {
		if spans[i].start < spans[i-1].end {
			return w.refuse(&RefusedError{Archive: name, Member: spans[i].name, Reason: ReasonOverlap,
				Detail: fmt.Sprintf("compressed data overlaps member %q's", spans[i-1].name)})
		}
	}

	for _, f := range zr.File {
		if !f.Mode().IsRegular() || f.Flags&1 != 0 { // folders, links; encrypted
			continue
		}
		if err := w.ctx.Err(); err != nil {
			return fmt.Errorf("archive %q: %w", name, err)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("archive %q: member %q: %w", name, f.Name, err)
		}
		start := cr.n
		m := &meter{w: w, r: rc, archive: name, member: f.Name, consumed: func() int64 { return cr.n - start }}
		err = w.member(name, f.Name, m, depth)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}
