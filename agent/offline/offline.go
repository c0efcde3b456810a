// Package offline keeps the cloud's offline filter of malicious SHA-256
// hashes on the agent (package reputation/filter): it downloads the filter,
// stores it in the state folder and loads it, so that a scan without the
// cloud still recognises known malware, as a possible match to confirm
// online.
//
// The filter is two files beside the state file: the base snapshot
// (SnapshotFile) and at most one delta from that snapshot's generation
// (DeltaFile), which each update replaces: the cloud's deltas are
// cumulative from its snapshot. Each file is written whole to a temporary
// name, synced and renamed, so a reader sees an old file or a new one,
// never half of one. Files, not the bbolt state, because a snapshot of
// millions of hashes is tens of megabytes read whole at each scan.
package offline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation/filter"
)

// File names in the state folder.
const (
	SnapshotFile = "filter.snapshot"
	DeltaFile    = "filter.delta"
)

// MaxFileBytes bounds a filter file read from disk, as the API client
// bounds a download.
const MaxFileBytes = 256 << 20

// Source is the cloud's filter service (httpapi.Client).
type Source interface {
	FilterSnapshot(ctx context.Context) (*filter.Snapshot, error)
	// FilterDelta returns nil, nil when nothing was added since from, and
	// ECONFLICT when from is older than the cloud's snapshot.
	FilterDelta(ctx context.Context, from uint64) (*filter.Delta, error)
}

// Info describes the filter held.
type Info struct {
	filter.SetStats
	// Updated is when the filter was last stored.
	Updated time.Time
	// Ignored says why a delta file was not applied (nil if none was): a
	// delta left over from an interrupted update, or a damaged one. The
	// snapshot alone is older, never wrong.
	Ignored error
}

// Load reads the filter held in dir. Without one it returns an empty set
// (Info.HasSnapshot false) and no error. A damaged snapshot is an EINVALID
// error, so that the caller says so rather than scan with a filter that
// could miss malware; herd update replaces it.
func Load(dir string) (*filter.Set, Info, error) {
	set := new(filter.Set)
	var info Info
	b, mod, err := readFile(filepath.Join(dir, SnapshotFile))
	if errors.Is(err, fs.ErrNotExist) {
		return set, info, nil
	}
	if err != nil {
		return set, info, err
	}
	snap, err := filter.DecodeSnapshot(b)
	if err != nil {
		return set, info, fmt.Errorf("%s: %w", filepath.Join(dir, SnapshotFile), err)
	}
	if err := set.Apply(snap); err != nil {
		return set, info, err
	}
	info.Updated = mod
	b, mod, err = readFile(filepath.Join(dir, DeltaFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		info.Ignored = err
	default:
		d, err := filter.DecodeDelta(b)
		if err == nil {
			err = set.ApplyDelta(d)
		}
		if err != nil {
			info.Ignored = fmt.Errorf("%s: %w", filepath.Join(dir, DeltaFile), err)
		} else if mod.After(info.Updated) {
			info.Updated = mod
		}
	}
	info.SetStats = set.Stats()
	return set, info, nil
}

func readFile(path string) ([]byte, time.Time, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	if st.Size() > MaxFileBytes {
		return nil, time.Time{}, herd.Errorf(herd.EINVALID, "%s: %d bytes, more than %d", path, st.Size(), MaxFileBytes)
	}
	b := make([]byte, st.Size())
	if _, err := f.ReadAt(b, 0); err != nil && st.Size() > 0 {
		return nil, time.Time{}, err
	}
	return b, st.ModTime(), nil
}

// Result says what an update did.
type Result struct {
	// Snapshot and Delta say what was downloaded and stored.
	Snapshot, Delta bool
	// Info is the filter now held.
	Info Info
}

// Update brings the filter held in dir up to date: a delta from the held
// snapshot's generation when it can, a snapshot when the set has none (or
// a damaged one), needs one (filter.Set.NeedsSnapshot) or the cloud
// answers the delta with ECONFLICT (it has a newer snapshot). It never
// replaces the filter with an older one: a stale cloud replica leaves the
// filter as it is.
func Update(ctx context.Context, dir string, src Source) (Result, error) {
	var res Result
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("state dir: %w", err)
	}
	set, _, err := Load(dir)
	if err != nil { // damaged: start afresh
		set = new(filter.Set)
	}
	fetchSnapshot := func() error {
		snap, err := src.FilterSnapshot(ctx)
		if err != nil {
			return fmt.Errorf("download filter snapshot: %w", err)
		}
		if err := set.Apply(snap); herd.ErrorCode(err) == herd.ECONFLICT {
			return nil // older than what is held: keep that
		} else if err != nil {
			return err
		}
		b, err := snap.MarshalBinary()
		if err != nil {
			return err
		}
		// The old delta goes first: beside the new snapshot it would be
		// refused anyway, and without it a crash leaves a consistent pair.
		if err := os.Remove(filepath.Join(dir, DeltaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := writeFile(dir, SnapshotFile, b); err != nil {
			return err
		}
		res.Snapshot = true
		return nil
	}
	if set.NeedsSnapshot() {
		if err := fetchSnapshot(); err != nil {
			return res, err
		}
	}
	if st := set.Stats(); st.HasSnapshot {
		d, err := src.FilterDelta(ctx, st.SnapshotGeneration)
		if herd.ErrorCode(err) == herd.ECONFLICT && !res.Snapshot {
			// The cloud built a newer snapshot: take it, then what was
			// added since.
			if err := fetchSnapshot(); err != nil {
				return res, err
			}
			d, err = src.FilterDelta(ctx, set.Stats().SnapshotGeneration)
		}
		if err != nil {
			return res, fmt.Errorf("download filter delta: %w", err)
		}
		// The cloud's delta is cumulative from its snapshot: one reaching
		// no further than the set is what is held already, or less (a
		// replica behind this one).
		if d != nil && d.To() > set.Generation() {
			switch err := set.ApplyDelta(d); {
			case herd.ErrorCode(err) == herd.ECONFLICT:
				// It does not start at the snapshot held: keep what is held.
			case err != nil:
				return res, err
			default:
				b, err := d.MarshalBinary()
				if err != nil {
					return res, err
				}
				if err := writeFile(dir, DeltaFile, b); err != nil {
					return res, err
				}
				res.Delta = true
			}
		}
	}
	if _, res.Info, err = Load(dir); err != nil {
		return res, err
	}
	return res, nil
}

// Save stores snap and, if not nil, d (which must start at snap's
// generation) as the filter held in dir, replacing it. Update is the usual
// way; Save is for tools and tests.
func Save(dir string, snap *filter.Snapshot, d *filter.Delta) error {
	var set filter.Set
	if err := set.Apply(snap); err != nil {
		return err
	}
	if d != nil && d.From() != snap.Generation() {
		return herd.Errorf(herd.EINVALID, "save filter: delta from generation %d, want the snapshot's %d", d.From(), snap.Generation())
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	b, err := snap.MarshalBinary()
	if err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, DeltaFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeFile(dir, SnapshotFile, b); err != nil {
		return err
	}
	if d == nil {
		return nil
	}
	if b, err = d.MarshalBinary(); err != nil {
		return err
	}
	return writeFile(dir, DeltaFile, b)
}

// writeFile replaces dir/name with b atomically: a temporary file, synced,
// renamed over it, and the folder synced so the rename survives a crash.
func writeFile(dir, name string, b []byte) (err error) {
	f, err := os.CreateTemp(dir, name+".*.tmp")
	if err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("store %s: %w", name, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every system syncs folders
		d.Close()
	}
	return nil
}
