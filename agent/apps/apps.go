// Package apps lists the applications installed on the machine by reading
// the package systems' own databases (dpkg, rpm, flatpak, snap), and turns
// each into the fields of an app.installed event of the data inventory.
package apps

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd/inventory"
)

// App is one installed application.
//
// Only Name, Version, Publisher, Source and SHA256 may leave the device (see
// Fields); the other fields are for local use.
type App struct {
	Name      string
	Version   string
	Publisher string // the organization or person who publishes it; never an e-mail address
	Source    string // "dpkg", "rpm", "flatpak" or "snap"
	Arch      string // the package's architecture, when the package system gives it
	Origin    string // flatpak: the remote it came from
	// Executable is the path of the main executable that SHA256 hashes.
	Executable string
	// SHA256 is the hash of Executable in lower-case hex, set only when the
	// file is exactly what the package shipped (see Dpkg).
	SHA256 string
	// Modified is set when the main executable's content differs from what
	// the package system recorded: that file is not reported as known-good.
	Modified bool
}

// Source values of the inventory's app.installed "source" field.
const (
	SourceDpkg    = "dpkg"
	SourceRPM     = "rpm"
	SourceFlatpak = "flatpak"
	SourceSnap    = "snap"
)

// EventType is the inventory event type that Fields produces.
const EventType = "app.installed"

// Fields returns a's fields for an app.installed event. Values are cut to
// the inventory's length limits and stripped of control characters, so that
// the map passes inventory cleaning with nothing dropped or refused; fields
// with nothing to say are left out.
func (a App) Fields() map[string]any {
	m := map[string]any{"name": fit("name", a.Name)}
	if v := fit("version", a.Version); v != "" {
		m["version"] = v
	}
	if v := fit("publisher", a.Publisher); v != "" {
		m["publisher"] = v
	}
	switch a.Source {
	case SourceDpkg, SourceRPM, SourceFlatpak, SourceSnap:
		m["source"] = a.Source
	default:
		m["source"] = "other"
	}
	if isSHA256(a.SHA256) {
		m["sha256"] = a.SHA256
	}
	return m
}

// fit makes v fit the inventory's limits of the app.installed field name:
// control characters become spaces, runs of spaces are collapsed, and the
// result is cut to the field's MaxLen without splitting a character.
func fit(name, v string) string {
	v = strings.ToValidUTF8(v, "")
	v = strings.Join(strings.FieldsFunc(v, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
	}), " ")
	if n := maxLen(name); n > 0 && len(v) > n {
		for n > 0 && !utf8.RuneStart(v[n]) {
			n--
		}
		v = strings.TrimSpace(v[:n])
	}
	return v
}

func maxLen(name string) int {
	if et, ok := inventory.Get(EventType); ok {
		if f, ok := et.Field(name); ok {
			return f.MaxLen
		}
	}
	return 64
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Source is one package system.
type Source interface {
	// Name is the source's value in the inventory: "dpkg", "rpm",
	// "flatpak" or "snap".
	Name() string
	// List returns the applications the package system has installed.
	// A package system that is not present yields no applications and no
	// error. Entries that cannot be read are skipped and each is named by
	// an *EntryError in the returned error (joined with errors.Join); the
	// applications that could be read are returned all the same.
	List(ctx context.Context) ([]App, error)
}

// EntryError names one entry of a package database that could not be read.
type EntryError struct {
	Source string // "dpkg", "rpm", ...
	Line   int    // where the entry starts in the database or command output; 0 if not from a text
	Entry  string // the package's name, when known
	Err    error
}

func (e *EntryError) Error() string {
	var b strings.Builder
	b.WriteString(e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, ": line %d", e.Line)
	}
	if e.Entry != "" {
		fmt.Fprintf(&b, ": package %q", clipQuote(e.Entry))
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *EntryError) Unwrap() error { return e.Err }

// clipQuote shortens what an error quotes from a database.
func clipQuote(s string) string {
	if len(s) <= 64 {
		return s
	}
	n := 61
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// Options says where to look and how much work hashing may do.
type Options struct {
	// Root is the file system root the databases are read under; "" means
	// "/". Tests point it at a fixture tree.
	Root string
	// Run runs the package tools (rpm, flatpak, snap); nil means Exec{}.
	Run Runner
	// Hash bounds the hashing of main executables; zero fields take the
	// defaults of HashLimits.
	Hash HashLimits
}

func (o Options) root() string {
	if o.Root == "" {
		return "/"
	}
	return o.Root
}

func (o Options) runner() Runner {
	if o.Run == nil {
		return Exec{}
	}
	return o.Run
}

// under returns the absolute path p (such as /var/lib/dpkg/status) under
// the root.
func (o Options) under(p string) string {
	return filepath.Join(o.root(), filepath.FromSlash(p))
}

// Sources returns every package system Herd reads, configured by opts.
func Sources(opts Options) []Source {
	return []Source{
		&Dpkg{Root: opts.root(), Hash: opts.Hash},
		&RPM{Root: opts.root(), Run: opts.runner()},
		&Flatpak{Root: opts.root(), Run: opts.runner()},
		&Snap{Root: opts.root(), Run: opts.runner()},
	}
}

// List reads every package system present and returns the applications
// found, sorted by source then name. A source or entry that fails does not
// lose the others: what was read is returned, and err joins what failed.
func List(ctx context.Context, opts Options) ([]App, error) {
	var all []App
	var errs []error
	for _, s := range Sources(opts) {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		apps, err := s.List(ctx)
		all = append(all, apps...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	slices.SortFunc(all, func(a, b App) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Name, b.Name), cmp.Compare(a.Arch, b.Arch))
	})
	return all, errors.Join(errs...)
}

// Publisher turns a maintainer or vendor field into a publisher's name:
// e-mail addresses and web addresses are personal or useless data and are
// removed, keeping the name of the person or organization only.
// "Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>" becomes
// "Ubuntu Developers"; "jdoe@example.org (Jane Doe)" becomes "Jane Doe".
func Publisher(s string) string {
	var b strings.Builder
	depth := 0 // inside <...>
	for _, r := range s {
		switch {
		case r == '<':
			depth++
		case r == '>' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	var words []string
	for _, w := range strings.Fields(b.String()) {
		if strings.Contains(w, "@") || strings.Contains(w, "://") {
			continue // a bare address, or a web address
		}
		words = append(words, w)
	}
	out := strings.Join(words, " ")
	out = strings.TrimSpace(strings.Trim(out, ",;"))
	// "addr (Name)": the name is the comment.
	if strings.HasPrefix(out, "(") && strings.HasSuffix(out, ")") {
		out = strings.TrimSpace(out[1 : len(out)-1])
	}
	out = strings.Trim(out, `"`)
	return strings.TrimSpace(out)
}
