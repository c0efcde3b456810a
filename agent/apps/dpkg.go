package apps

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// dpkg's database, relative to the root.
const (
	dpkgStatus = "/var/lib/dpkg/status"
	dpkgInfo   = "/var/lib/dpkg/info"
)

// Limits of the dpkg status parser.
const (
	// maxLine bounds one line of the status database; long Description or
	// Conffiles lines are far shorter.
	maxLine = 1 << 20
	// maxEntryErrors bounds how many malformed entries are named one by one.
	maxEntryErrors = 50
)

// DpkgPackage is one stanza of dpkg's status database.
type DpkgPackage struct {
	Package      string
	Version      string
	Maintainer   string
	Architecture string
	Status       string // "want flag state", such as "install ok installed"
	Line         int    // where the stanza starts
}

// Installed reports whether the package's files are on the machine: its
// state is "installed" with no error flag. This is "install ok installed"
// and also held packages ("hold ok installed") and packages selected for
// removal that are still there ("deinstall ok installed").
func (p DpkgPackage) Installed() bool {
	f := strings.Fields(p.Status)
	return len(f) == 3 && f[1] == "ok" && f[2] == "installed"
}

// dpkgFields are the fields the parser keeps; the others are skipped.
var dpkgFields = [...]string{"package", "version", "maintainer", "architecture", "status"}

// ParseDpkgStatus reads dpkg's status database (RFC 822-like stanzas
// separated by blank lines) from r and returns every well-formed stanza,
// installed or not, in order. A malformed stanza is skipped and named by an
// *EntryError (with its first line) in the returned error; the stanzas
// around it are still returned. An error reading r ends the parse and is
// returned too.
func ParseDpkgStatus(r io.Reader) ([]DpkgPackage, error) {
	p := statusParser{br: bufio.NewReaderSize(r, 64<<10)}
	return p.parse()
}

type statusParser struct {
	br      *bufio.Reader
	line    int
	pkgs    []DpkgPackage
	errs    []error
	errMore int

	// the stanza being read
	start  int
	vals   [len(dpkgFields)]string
	seen   [len(dpkgFields)]bool
	last   int // index in dpkgFields of the field continuation lines extend; -1 for none, -2 for a skipped field
	bad    error
	inside bool
}

func (p *statusParser) parse() ([]DpkgPackage, error) {
	for {
		line, long, err := readLine(p.br, maxLine)
		if err != nil && err != io.EOF {
			p.finish()
			p.errs = append(p.errs, fmt.Errorf("dpkg status: line %d: %w", p.line+1, err))
			break
		}
		if len(line) == 0 && !long && err == io.EOF {
			break
		}
		p.line++
		p.feed(line, long)
		if err == io.EOF {
			break
		}
	}
	p.finish()
	if p.errMore > 0 {
		p.errs = append(p.errs, fmt.Errorf("dpkg status: %d more malformed stanzas", p.errMore))
	}
	return p.pkgs, errors.Join(p.errs...)
}

func (p *statusParser) feed(line []byte, long bool) {
	line = bytes.TrimSuffix(line, []byte("\r"))
	if !long && len(bytes.TrimSpace(line)) == 0 {
		p.finish()
		return
	}
	if !p.inside {
		p.inside, p.start, p.last = true, p.line, -1
	}
	if p.bad != nil {
		return // the rest of a bad stanza is skipped
	}
	if long {
		p.bad = fmt.Errorf("line %d: longer than %d bytes", p.line, maxLine)
		return
	}
	if line[0] == ' ' || line[0] == '\t' {
		switch {
		case p.last == -1:
			p.bad = fmt.Errorf("line %d: continuation line without a field before it", p.line)
		case p.last >= 0:
			// The fields kept are single-line; a continuation is joined
			// with a space so that nothing is lost.
			p.vals[p.last] += " " + string(bytes.TrimSpace(line))
		}
		return
	}
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		p.bad = fmt.Errorf("line %d: not a field (want \"Name: value\")", p.line)
		return
	}
	name := line[:i]
	for _, c := range name {
		if c <= ' ' || c >= 0x7f {
			p.bad = fmt.Errorf("line %d: field name has a character that is not printable ASCII", p.line)
			return
		}
	}
	p.last = -2
	for k, f := range dpkgFields {
		if !strings.EqualFold(string(name), f) {
			continue
		}
		if p.seen[k] {
			p.bad = fmt.Errorf("line %d: field %s given twice", p.line, name)
			return
		}
		p.seen[k] = true
		p.vals[k] = string(bytes.TrimSpace(line[i+1:]))
		p.last = k
	}
}

// finish ends the stanza being read, if any.
func (p *statusParser) finish() {
	if !p.inside {
		return
	}
	pkg := DpkgPackage{
		Package: p.vals[0], Version: p.vals[1], Maintainer: p.vals[2],
		Architecture: p.vals[3], Status: p.vals[4], Line: p.start,
	}
	err := p.bad
	if err == nil {
		err = pkg.check()
	}
	if err != nil {
		if len(p.errs) < maxEntryErrors {
			p.errs = append(p.errs, &EntryError{Source: SourceDpkg, Line: p.start, Entry: p.vals[0], Err: err})
		} else {
			p.errMore++
		}
	} else {
		p.pkgs = append(p.pkgs, pkg)
	}
	p.inside, p.bad, p.vals, p.seen, p.last = false, nil, [len(dpkgFields)]string{}, [len(dpkgFields)]bool{}, -1
}

// check validates the fields of a stanza that parsed.
func (p DpkgPackage) check() error {
	if p.Package == "" {
		return errors.New("no Package field")
	}
	if !validPackageName(p.Package) {
		return errors.New("field Package: not a valid package name")
	}
	if p.Architecture != "" && !validArch(p.Architecture) {
		return errors.New("field Architecture: not a valid architecture name")
	}
	if p.Status == "" {
		return errors.New("no Status field")
	}
	if len(strings.Fields(p.Status)) != 3 {
		return errors.New(`field Status: not "want flag state"`)
	}
	if p.Installed() && p.Version == "" {
		return errors.New("installed, but no Version field")
	}
	return nil
}

// validPackageName follows Debian policy (lower-case letters, digits, "+",
// "-", "."; two characters at least, starting alphanumeric). It also keeps
// names that become file names under /var/lib/dpkg/info safe.
func validPackageName(s string) bool {
	if len(s) < 2 || len(s) > 255 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || c != '+' && c != '-' && c != '.') {
			return false
		}
	}
	return true
}

func validArch(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// readLine reads one line without its '\n'. A line longer than limit is
// consumed whole but returned cut, with long set.
func readLine(br *bufio.Reader, limit int) (line []byte, long bool, err error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		if !long && len(buf)+len(frag) <= limit+1 {
			buf = append(buf, frag...)
		} else {
			long = true
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		buf = bytes.TrimSuffix(buf, []byte("\n"))
		if len(buf) > limit {
			long = true
			buf = buf[:limit]
		}
		return buf, long, err
	}
}

// Dpkg reads the applications dpkg installed from its database
// (/var/lib/dpkg/status) and hashes each one's main executable.
//
// The main executable is the first regular file (symbolic links are not
// followed) under /usr/bin or /usr/sbin in the package's file list, or
// failing that under /bin or /sbin. Its
// SHA-256 is reported only when the file's MD5 matches the one dpkg
// recorded when it installed the package (/var/lib/dpkg/info/<pkg>.md5sums):
// the inventory reports the hash to mark exactly that file as known-good, so
// a file changed since installation must not be vouched for. Such a file
// sets App.Modified instead.
type Dpkg struct {
	Root string // "" means "/"
	Hash HashLimits
}

var _ Source = (*Dpkg)(nil)

// HashLimits bound the hashing of main executables in one run.
type HashLimits struct {
	MaxFileSize int64 // larger files are not hashed; 0 means 64 MiB
	MaxFiles    int   // files hashed at most; 0 means 2000, < 0 means none
	MaxBytes    int64 // bytes read at most; 0 means 1 GiB
}

func (h HashLimits) withDefaults() HashLimits {
	if h.MaxFileSize == 0 {
		h.MaxFileSize = 64 << 20
	}
	if h.MaxFiles == 0 {
		h.MaxFiles = 2000
	}
	if h.MaxBytes == 0 {
		h.MaxBytes = 1 << 30
	}
	return h
}

// Name implements Source.
func (d *Dpkg) Name() string { return SourceDpkg }

// List implements Source.
func (d *Dpkg) List(ctx context.Context) ([]App, error) {
	opts := Options{Root: d.Root}
	f, err := os.Open(opts.under(dpkgStatus))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	pkgs, perr := ParseDpkgStatus(f)
	h := hasher{root: opts.root(), lim: d.Hash.withDefaults()}
	var apps []App
	for _, p := range pkgs {
		if !p.Installed() {
			continue
		}
		a := App{Name: p.Package, Version: p.Version, Publisher: Publisher(p.Maintainer), Source: SourceDpkg, Arch: p.Architecture}
		if ctx.Err() == nil {
			a.Executable, a.SHA256, a.Modified = h.mainExecutable(p)
		}
		apps = append(apps, a)
	}
	if err := ctx.Err(); err != nil {
		perr = errors.Join(perr, err)
	}
	return apps, perr
}

// hasher hashes main executables within its limits.
type hasher struct {
	root  string
	lim   HashLimits
	files int
	bytes int64
}

// maxListLines bounds how much of a package's file list is searched.
const maxListLines = 100_000

// infoFile returns the path of pkg's info file with the given suffix
// (".list", ".md5sums"): dpkg names it <pkg>:<arch><suffix> for
// multi-arch packages and <pkg><suffix> otherwise.
func (h *hasher) infoFile(p DpkgPackage, suffix string) (*os.File, error) {
	dir := filepath.Join(h.root, filepath.FromSlash(dpkgInfo))
	if p.Architecture != "" {
		f, err := os.Open(filepath.Join(dir, p.Package+":"+p.Architecture+suffix))
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
	}
	return os.Open(filepath.Join(dir, p.Package+suffix))
}

// mainExecutable finds, checks and hashes p's main executable. It returns
// the executable's path (as the package lists it) and its SHA-256 when the
// file is as dpkg installed it, or modified=true when it is not.
func (h *hasher) mainExecutable(p DpkgPackage) (exe, sum string, modified bool) {
	if h.lim.MaxFiles < 0 || h.files >= h.lim.MaxFiles || h.bytes >= h.lim.MaxBytes {
		return "", "", false
	}
	exe = h.findExecutable(p)
	if exe == "" {
		return "", "", false
	}
	want := h.recordedMD5(p, exe)
	if want == "" {
		return exe, "", false // nothing to check the file against
	}
	sha, md5sum, ok := h.hashFile(exe)
	if !ok {
		return exe, "", false
	}
	if md5sum != want {
		return exe, "", true
	}
	return exe, sha, false
}

// findExecutable returns the first regular file under /usr/bin or
// /usr/sbin in p's file list, or else the first under /bin or /sbin (where
// packages not yet moved to /usr keep their programs).
func (h *hasher) findExecutable(p DpkgPackage) string {
	f, err := h.infoFile(p, ".list")
	if err != nil {
		return ""
	}
	defer f.Close()
	fallback := ""
	br := bufio.NewReader(f)
	for n := 0; n < maxListLines; n++ {
		line, long, err := readLine(br, 4096)
		if path := string(line); !long && filepath.Clean(path) == path {
			usr := strings.HasPrefix(path, "/usr/bin/") || strings.HasPrefix(path, "/usr/sbin/")
			root := strings.HasPrefix(path, "/bin/") || strings.HasPrefix(path, "/sbin/")
			if (usr || root && fallback == "") && h.regular(path) {
				if usr {
					return path
				}
				fallback = path
			}
		}
		if err != nil {
			break
		}
	}
	return fallback
}

// regular reports whether path, under the root, is a regular file (not a
// symbolic link, which could point anywhere).
func (h *hasher) regular(path string) bool {
	fi, err := os.Lstat(filepath.Join(h.root, filepath.FromSlash(path)))
	return err == nil && fi.Mode().IsRegular()
}

// recordedMD5 returns the MD5 dpkg recorded for path, in lower-case hex,
// or "" if it recorded none.
func (h *hasher) recordedMD5(p DpkgPackage, path string) string {
	f, err := h.infoFile(p, ".md5sums")
	if err != nil {
		return ""
	}
	defer f.Close()
	rel := strings.TrimPrefix(path, "/")
	br := bufio.NewReader(f)
	for n := 0; n < maxListLines; n++ {
		line, long, err := readLine(br, 4096)
		if !long {
			sum, name, ok := strings.Cut(string(line), "  ")
			if ok && name == rel && len(sum) == 32 {
				return strings.ToLower(sum)
			}
		}
		if err != nil {
			return ""
		}
	}
	return ""
}
