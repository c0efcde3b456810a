package apps

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Where snaps are mounted, relative to the root: /snap on most
// distributions, /var/lib/snapd/snap where /snap is not allowed.
var snapMounts = []string{"/snap", "/var/lib/snapd/snap"}

// Limits of reading the snap layout.
const (
	maxSnaps    = 10_000
	maxSnapYAML = 1 << 20
)

// Snap reads the installed snaps: with `snap list` when the snap program is
// installed and Root is "/", else (or when the program fails) from each
// mounted snap's
// <mount>/<name>/current/meta/snap.yaml under Root (which names no
// publisher).
type Snap struct {
	Root string // "" means "/"
	Run  Runner // nil means Exec{}
}

var _ Source = (*Snap)(nil)

// Name implements Source.
func (s *Snap) Name() string { return SourceSnap }

// List implements Source.
func (s *Snap) List(ctx context.Context) ([]App, error) {
	opts := Options{Root: s.Root, Run: s.Run}
	if opts.root() == "/" {
		out, err := opts.runner().Run(ctx, "snap", "list", "--unicode=never", "--color=never")
		if err == nil {
			return ParseSnapList(out)
		}
		if !errors.Is(err, ErrNoTool) {
			// The tool is there but failed: what the layout holds is
			// still worth having.
			apps, lerr := s.layout(ctx, opts)
			return apps, errors.Join(fmt.Errorf("snap list failed, read the mounted snaps instead: %w", err), lerr)
		}
	}
	return s.layout(ctx, opts)
}

// ParseSnapList parses the output of `snap list`: a header line
// ("Name Version Rev Tracking Publisher Notes"), then one snap per line,
// columns separated by spaces. The marks snap puts after a verified or
// starred publisher ("**", "*", "✓", "✪") are removed, and a publisher of
// "-" (a snap installed from a file) is left empty. A line that is not in
// that form is named by an *EntryError; the other lines are still returned.
func ParseSnapList(out []byte) ([]App, error) {
	var apps []App
	var errs []error
	header := false
	for n, line := range strings.Split(string(out), "\n") {
		col := strings.Fields(line)
		if len(col) == 0 {
			continue
		}
		if !header {
			if col[0] != "Name" || len(col) < 5 || col[4] != "Publisher" {
				if strings.HasPrefix(line, "No snaps") {
					return nil, nil
				}
				return nil, &EntryError{Source: SourceSnap, Line: n + 1, Err: errors.New(`want the header "Name Version Rev Tracking Publisher Notes"`)}
			}
			header = true
			continue
		}
		if len(col) < 5 || len(col) > 6 || !validSnapName(col[0]) {
			if len(errs) < maxEntryErrors {
				errs = append(errs, &EntryError{Source: SourceSnap, Line: n + 1, Err: fmt.Errorf("%d columns, want 6 beginning with a snap name", len(col))})
			}
			continue
		}
		pub := Publisher(strings.TrimRight(col[4], "*✓✪"))
		if pub == "-" {
			pub = ""
		}
		apps = append(apps, App{Name: col[0], Version: col[1], Publisher: pub, Source: SourceSnap})
	}
	return apps, errors.Join(errs...)
}

// validSnapName checks the form of a snap name (lower-case letters, digits
// and hyphens, optionally an instance key after "_"), which also keeps
// names that become file names safe.
func validSnapName(s string) bool {
	if s == "" || len(s) > 80 {
		return false
	}
	name, key, _ := strings.Cut(s, "_")
	if name == "" || strings.ContainsRune(key, '_') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// layout reads <mount>/<name>/current/meta/snap.yaml of every mounted snap.
func (s *Snap) layout(ctx context.Context, opts Options) ([]App, error) {
	var apps []App
	var errs []error
	seen := map[string]bool{}
	for _, mount := range snapMounts {
		ents, err := os.ReadDir(opts.under(mount))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for i, e := range ents {
			if i >= maxSnaps || ctx.Err() != nil {
				break
			}
			name := e.Name()
			if !e.IsDir() || !validSnapName(name) || seen[name] {
				continue
			}
			b, err := readCapped(filepath.Join(opts.under(mount), name, "current", "meta", "snap.yaml"), maxSnapYAML)
			if errors.Is(err, fs.ErrNotExist) {
				continue // not a snap (such as /snap/bin)
			}
			if err == nil {
				var y SnapYAML
				if y, err = ParseSnapYAML(b); err == nil {
					if y.Name != name {
						err = fmt.Errorf("snap.yaml names %q", clipQuote(y.Name))
					} else {
						seen[name] = true
						apps = append(apps, App{Name: name, Version: y.Version, Source: SourceSnap})
						continue
					}
				}
			}
			errs = append(errs, &EntryError{Source: SourceSnap, Entry: name, Err: err})
		}
	}
	return apps, errors.Join(errs...)
}

// SnapYAML is what Herd reads of a snap's meta/snap.yaml.
type SnapYAML struct {
	Name    string
	Version string
}

// ParseSnapYAML reads the top-level name and version keys of a snap.yaml.
// Only plain and quoted scalars on one line are read, which is how snapcraft
// writes them.
func ParseSnapYAML(b []byte) (SnapYAML, error) {
	var y SnapYAML
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 64<<10)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == ' ' || line[0] == '\t' || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = unquoteYAML(strings.TrimSpace(val))
		switch key {
		case "name":
			y.Name = val
		case "version":
			y.Version = val
		}
	}
	if err := sc.Err(); err != nil {
		return y, fmt.Errorf("snap.yaml: %w", err)
	}
	if y.Name == "" {
		return y, errors.New("snap.yaml: no name")
	}
	return y, nil
}

func unquoteYAML(v string) string {
	if len(v) >= 2 && (v[0] == '\'' && v[len(v)-1] == '\'' || v[0] == '"' && v[len(v)-1] == '"') {
		return v[1 : len(v)-1]
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = strings.TrimSpace(v[:i])
	}
	return v
}
