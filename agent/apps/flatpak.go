package apps

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// flatpakApps is where system-wide flatpak applications are deployed,
// relative to the root. Per-user installations are not read: they belong to
// one person.
const flatpakApps = "/var/lib/flatpak/app"

// Limits of reading the flatpak layout.
const (
	maxFlatpakApps = 10_000
	maxMetainfo    = 1 << 20
)

// Flatpak reads the system-wide flatpak applications: with
// `flatpak list --app --columns=application,version,origin` when the flatpak
// program is installed and Root is "/", else (or when the program fails)
// from the deployment layout under Root
// (/var/lib/flatpak/app/<id>/current/active/, with the version and
// developer from the application's AppStream metainfo file).
type Flatpak struct {
	Root string // "" means "/"
	Run  Runner // nil means Exec{}
}

var _ Source = (*Flatpak)(nil)

// Name implements Source.
func (f *Flatpak) Name() string { return SourceFlatpak }

// List implements Source.
func (f *Flatpak) List(ctx context.Context) ([]App, error) {
	opts := Options{Root: f.Root, Run: f.Run}
	if opts.root() == "/" {
		out, err := opts.runner().Run(ctx, "flatpak", "list", "--system", "--app", "--columns=application,version,origin")
		if err == nil {
			return ParseFlatpakList(out)
		}
		if !errors.Is(err, ErrNoTool) {
			// The tool is there but failed: what the layout holds is
			// still worth having.
			apps, lerr := f.layout(ctx, opts)
			return apps, errors.Join(fmt.Errorf("flatpak list failed, read the deployment folders instead: %w", err), lerr)
		}
	}
	return f.layout(ctx, opts)
}

// ParseFlatpakList parses the output of
// `flatpak list --app --columns=application,version,origin`: one
// application per line, columns separated by tabs (flatpak's form when its
// output is not a terminal) or, failing that, by spaces. A header line is
// skipped. A line that is not in that form is named by an *EntryError; the
// other lines are still returned.
func ParseFlatpakList(out []byte) ([]App, error) {
	var apps []App
	var errs []error
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		col := strings.Split(line, "\t")
		if len(col) == 1 {
			col = strings.Fields(line)
		}
		for i := range col {
			col[i] = strings.TrimSpace(col[i])
		}
		if n == 0 && len(col) > 0 && strings.EqualFold(col[0], "Application ID") {
			continue
		}
		if len(col) < 1 || len(col) > 3 || !validAppID(col[0]) {
			if len(errs) < maxEntryErrors {
				errs = append(errs, &EntryError{Source: SourceFlatpak, Line: n + 1, Err: errors.New("want an application ID, a version and an origin")})
			}
			continue
		}
		a := App{Name: col[0], Source: SourceFlatpak}
		if len(col) > 1 {
			a.Version = col[1]
		}
		if len(col) > 2 {
			a.Origin = col[2]
		}
		apps = append(apps, a)
	}
	return apps, errors.Join(errs...)
}

// validAppID checks the form of a flatpak application ID (reverse DNS:
// at least three elements of letters, digits, "_" and "-", none starting
// with a digit). It also keeps IDs that become file names safe.
func validAppID(s string) bool {
	if len(s) > 255 {
		return false
	}
	parts := strings.Split(s, ".")
	if len(parts) < 3 {
		return false
	}
	for _, p := range parts {
		if p == "" || '0' <= p[0] && p[0] <= '9' {
			return false
		}
		for i := 0; i < len(p); i++ {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
				return false
			}
		}
	}
	return true
}

// layout reads the deployment tree: every <id>/current/active directory.
func (f *Flatpak) layout(ctx context.Context, opts Options) ([]App, error) {
	dir := opts.under(flatpakApps)
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var apps []App
	var errs []error
	for i, e := range ents {
		if i >= maxFlatpakApps || ctx.Err() != nil {
			break
		}
		id := e.Name()
		if !e.IsDir() || !validAppID(id) {
			continue
		}
		active, err := flatpakActive(filepath.Join(dir, id))
		if err != nil {
			errs = append(errs, &EntryError{Source: SourceFlatpak, Entry: id, Err: err})
			continue
		}
		a := App{Name: id, Source: SourceFlatpak}
		if arch, _, ok := strings.Cut(active.arch, "/"); ok {
			a.Arch = arch
		}
		for _, name := range []string{"metainfo/" + id + ".metainfo.xml", "appdata/" + id + ".appdata.xml"} {
			b, err := readCapped(filepath.Join(active.path, "files", "share", filepath.FromSlash(name)), maxMetainfo)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err == nil {
				var m Metainfo
				m, err = ParseMetainfo(b)
				a.Version, a.Publisher = m.Version, m.Developer
			}
			if err != nil {
				errs = append(errs, &EntryError{Source: SourceFlatpak, Entry: id, Err: fmt.Errorf("%s: %w", name, err)})
			}
			break
		}
		apps = append(apps, a)
	}
	return apps, errors.Join(errs...)
}

type flatpakDeploy struct {
	arch string // "<arch>/<branch>", what current points to
	path string // the active deployment
}

// flatpakActive follows <app>/current (to <arch>/<branch>) and its active
// link (to the deployed commit). Both links must be relative and stay
// inside the application's directory.
func flatpakActive(appDir string) (flatpakDeploy, error) {
	cur, err := os.Readlink(filepath.Join(appDir, "current"))
	if err != nil {
		return flatpakDeploy{}, fmt.Errorf("no current deployment: %w", err)
	}
	if !localLink(cur) || strings.Count(cur, "/") != 1 {
		return flatpakDeploy{}, errors.New(`"current" does not point to <arch>/<branch>`)
	}
	act, err := os.Readlink(filepath.Join(appDir, filepath.FromSlash(cur), "active"))
	if err != nil {
		return flatpakDeploy{}, fmt.Errorf("no active deployment: %w", err)
	}
	if !localLink(act) || strings.Contains(act, "/") {
		return flatpakDeploy{}, errors.New(`"active" does not point to a deployment`)
	}
	return flatpakDeploy{arch: cur, path: filepath.Join(appDir, filepath.FromSlash(cur), act)}, nil
}

// localLink reports whether a link target is relative and stays below the
// link's directory.
func localLink(target string) bool {
	return target != "" && !filepath.IsAbs(target) && filepath.IsLocal(target)
}

// readCapped reads a file of at most limit bytes.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("longer than %d bytes", limit)
	}
	return b, nil
}

// Metainfo is what Herd reads of an AppStream metainfo file.
type Metainfo struct {
	Version   string // of the newest release
	Developer string
}

// ParseMetainfo reads the newest release's version and the developer's name
// from an AppStream metainfo (or older appdata) document.
func ParseMetainfo(b []byte) (Metainfo, error) {
	var doc struct {
		XMLName       xml.Name `xml:"component"`
		DeveloperName []string `xml:"developer_name"`
		Developer     struct {
			Name []string `xml:"name"`
		} `xml:"developer"`
		Releases struct {
			Release []struct {
				Version string `xml:"version,attr"`
			} `xml:"release"`
		} `xml:"releases"`
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.Strict = true
	if err := dec.Decode(&doc); err != nil {
		return Metainfo{}, fmt.Errorf("not an AppStream component: %w", err)
	}
	var m Metainfo
	// AppStream lists releases newest first.
	for _, r := range doc.Releases.Release {
		if v := strings.TrimSpace(r.Version); v != "" {
			m.Version = v
			break
		}
	}
	// The untranslated name comes first; translations carry xml:lang.
	for _, names := range [][]string{doc.Developer.Name, doc.DeveloperName} {
		if len(names) > 0 && strings.TrimSpace(names[0]) != "" {
			m.Developer = Publisher(names[0])
			break
		}
	}
	return m, nil
}
