package apps_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herdsec/herd/agent/apps"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/scrub"
)

// replay is a Runner that answers the package tools with recorded outputs
// from testdata, and reports the programs in missing as not installed.
type replay struct {
	missing []string
	calls   [][]string
}

func (r *replay) Run(_ context.Context, name string, args ...string) ([]byte, error) {
	r.calls = append(r.calls, append([]string{name}, args...))
	if slices.Contains(r.missing, name) {
		return nil, fmt.Errorf("%s: %w", name, apps.ErrNoTool)
	}
	switch name {
	case "rpm":
		return os.ReadFile("testdata/rpm-qa.txt")
	case "flatpak":
		return os.ReadFile("testdata/flatpak-list.txt")
	case "snap":
		return os.ReadFile("testdata/snap-list.txt")
	}
	return nil, fmt.Errorf("unexpected program %q", name)
}

func sha256File(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// byName indexes apps by name, failing on duplicates.
func byName(tb testing.TB, list []apps.App) map[string]apps.App {
	tb.Helper()
	m := map[string]apps.App{}
	for _, a := range list {
		if _, dup := m[a.Name]; dup {
			tb.Fatalf("%s listed twice", a.Name)
		}
		m[a.Name] = a
	}
	return m
}

func TestDpkgFixture(t *testing.T) {
	got, err := (&apps.Dpkg{Root: "testdata/root"}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	root := "testdata/root"
	want := []apps.App{
		{Name: "bash", Version: "5.2.15-2+b7", Publisher: "Matthias Klose", Source: "dpkg", Arch: "amd64",
			Executable: "/usr/bin/bash", SHA256: sha256File(t, root+"/usr/bin/bash")},
		// /usr/bin/arch comes first in the list but is not on disk.
		{Name: "coreutils", Version: "9.1-1", Publisher: "Michael Stone", Source: "dpkg", Arch: "amd64",
			Executable: "/usr/bin/cat", SHA256: sha256File(t, root+"/usr/bin/cat")},
		// No program in it.
		{Name: "libc6", Version: "2.36-9+deb12u4", Publisher: "GNU Libc Maintainers", Source: "dpkg", Arch: "amd64"},
		// Held packages are installed; nano (config files only) is not.
		{Name: "tcpdump", Version: "4.99.3-1", Publisher: "Romain Francoise", Source: "dpkg", Arch: "amd64",
			Executable: "/usr/sbin/tcpdump", SHA256: sha256File(t, root+"/usr/sbin/tcpdump")},
		// Changed since installation: not vouched for.
		{Name: "sudo", Version: "1.9.13p3-1+deb12u1", Publisher: "Sudo Maintainers", Source: "dpkg", Arch: "amd64",
			Executable: "/usr/bin/sudo", Modified: true},
		// No md5sums to check the file against: no hash.
		{Name: "python3-apt", Version: "2.6.0", Publisher: "APT Development Team", Source: "dpkg", Arch: "amd64",
			Executable: "/usr/bin/apt-helper"},
		{Name: "fonts-example", Version: "1:2.37-1", Publisher: "Debian Fonts Task Force", Source: "dpkg", Arch: "all"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	checkInventoryExact(t, got)
}

// copyTree copies the fixture tree src into a new temporary folder.
func copyTree(tb testing.TB, src string) string {
	tb.Helper()
	dst := tb.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
	return dst
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}

func symlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		tb.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

// TestDpkgMultiArchAndLinks: multi-arch packages keep their file lists as
// <pkg>:<arch>.list, and a symbolic link is never taken for the main
// executable (it could point anywhere).
func TestDpkgMultiArchAndLinks(t *testing.T) {
	root := copyTree(t, "testdata/root")
	info := filepath.Join(root, "var/lib/dpkg/info")
	ldd := "#!/bin/sh\n# ldd stand-in\n"
	writeFile(t, filepath.Join(root, "usr/bin/ldd"), ldd)
	writeFile(t, filepath.Join(info, "libc6:amd64.list"), "/.\n/usr\n/usr/bin\n/usr/bin/ldd\n")
	writeFile(t, filepath.Join(info, "libc6:amd64.md5sums"), fmt.Sprintf("%x  usr/bin/ldd\n", md5.Sum([]byte(ldd))))
	symlink(t, "cat", filepath.Join(root, "usr/bin/arch"))
	symlink(t, "/etc/passwd", filepath.Join(root, "usr/bin/bash-link"))
	// /usr/bin and /usr/sbin come before /bin and /sbin, wherever listed.
	writeFile(t, filepath.Join(root, "sbin/tcpdump-old"), "old")
	writeFile(t, filepath.Join(info, "tcpdump.list"), "/sbin/tcpdump-old\n/usr/sbin/tcpdump\n")
	su := "#!/bin/sh\n# su stand-in\n"
	writeFile(t, filepath.Join(root, "bin/su"), su)
	writeFile(t, filepath.Join(info, "sudo.list"), "/etc/sudoers\n/bin/su\n")
	writeFile(t, filepath.Join(info, "sudo.md5sums"), fmt.Sprintf("%x  bin/su\n", md5.Sum([]byte(su))))
	writeFile(t, filepath.Join(info, "bash.list"), "/usr/bin/bash-link\n/usr/bin/../bin/bash\n/usr/bin/bash\n")

	got, err := (&apps.Dpkg{Root: root}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := byName(t, got)
	if a := m["libc6"]; a.Executable != "/usr/bin/ldd" || a.SHA256 != sha256File(t, filepath.Join(root, "usr/bin/ldd")) {
		t.Errorf("libc6: %+v", a)
	}
	if a := m["coreutils"]; a.Executable != "/usr/bin/cat" || a.SHA256 == "" {
		t.Errorf("coreutils took the link /usr/bin/arch: %+v", a)
	}
	if a := m["bash"]; a.Executable != "/usr/bin/bash" || a.SHA256 == "" {
		t.Errorf("bash: %+v", a)
	}
	if a := m["tcpdump"]; a.Executable != "/usr/sbin/tcpdump" || a.SHA256 == "" {
		t.Errorf("tcpdump: %+v", a)
	}
	if a := m["sudo"]; a.Executable != "/bin/su" || a.SHA256 != sha256File(t, filepath.Join(root, "bin/su")) || a.Modified {
		t.Errorf("sudo: %+v", a)
	}
}

func TestDpkgHashLimits(t *testing.T) {
	hashed := func(lim apps.HashLimits) []string {
		got, err := (&apps.Dpkg{Root: "testdata/root", Hash: lim}).List(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range got {
			if a.SHA256 != "" || a.Modified {
				names = append(names, a.Name)
			}
		}
		return names
	}
	for _, c := range []struct {
		lim  apps.HashLimits
		want []string
	}{
		{apps.HashLimits{}, []string{"bash", "coreutils", "tcpdump", "sudo"}},
		{apps.HashLimits{MaxFiles: 2}, []string{"bash", "coreutils"}},
		{apps.HashLimits{MaxFiles: -1}, nil},
		{apps.HashLimits{MaxFileSize: 10}, nil},
		// bash's stand-in is 57 bytes, cat's 55: the budget holds one.
		{apps.HashLimits{MaxBytes: 60}, []string{"bash"}},
	} {
		if got := hashed(c.lim); !slices.Equal(got, c.want) {
			t.Errorf("%+v: hashed %q, want %q", c.lim, got, c.want)
		}
	}
}

func TestParseDpkgStatusMalformed(t *testing.T) {
	f, err := os.Open("testdata/malformed-status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pkgs, err := apps.ParseDpkgStatus(f)
	var names []string
	for _, p := range pkgs {
		names = append(names, p.Package)
	}
	if !slices.Equal(names, []string{"good-one", "good-two"}) {
		t.Fatalf("packages %q, want good-one and good-two", names)
	}
	if pkgs[1].Line != 38 || pkgs[1].Version != "2:4.5~rc1-0ubuntu1" || pkgs[1].Architecture != "all" {
		t.Errorf("good-two: %+v", pkgs[1])
	}
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		`dpkg: line 7: no Package field`,
		`dpkg: line 11: package "broken-field": line 13: not a field (want "Name: value")`,
		`dpkg: line 16: package "twice": line 19: field Version given twice`,
		`dpkg: line 21: package "../../etc/shadow": field Package: not a valid package name`,
		`dpkg: line 25: package "no-version": installed, but no Version field`,
		`dpkg: line 29: package "bad-status": field Status: not "want flag state"`,
		`dpkg: line 33: line 33: continuation line without a field before it`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
	var ee *apps.EntryError
	if !errors.As(err, &ee) || ee.Source != "dpkg" || ee.Line != 7 {
		t.Errorf("first error %#v, want an *EntryError for line 7", ee)
	}
}

func TestParseDpkgStatusLongLineAndCRLF(t *testing.T) {
	long := strings.Repeat("x", 1<<20+10)
	in := "Package: before\r\nStatus: install ok installed\r\nVersion: 1\r\n\r\n" +
		"Package: huge\nStatus: install ok installed\nVersion: 1\nDescription: " + long + "\n continued\n\n" +
		"Package: after\nStatus: install ok installed\nVersion: 2\nMaintainer: A\n B <a@example.org>" // no final newline
	pkgs, err := apps.ParseDpkgStatus(strings.NewReader(in))
	if len(pkgs) != 2 || pkgs[0].Package != "before" || pkgs[1].Package != "after" || pkgs[1].Maintainer != "A B <a@example.org>" {
		t.Fatalf("packages %+v", pkgs)
	}
	if err == nil || !strings.Contains(err.Error(), `line 5: package "huge": line 8: longer than 1048576 bytes`) {
		t.Fatalf("error %v", err)
	}
}

func TestParseDpkgStatusManyErrors(t *testing.T) {
	var b strings.Builder
	for i := range 80 {
		fmt.Fprintf(&b, "Package: p%d\nStatus: bad\n\n", i)
	}
	b.WriteString("Package: last\nStatus: install ok installed\nVersion: 1\n")
	pkgs, err := apps.ParseDpkgStatus(strings.NewReader(b.String()))
	if len(pkgs) != 1 || pkgs[0].Package != "last" {
		t.Fatalf("packages %+v", pkgs)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != 51 || !strings.HasSuffix(err.Error(), "30 more malformed stanzas") {
		t.Fatalf("%d error lines, ending %q", n, err.Error()[len(err.Error())-40:])
	}
}

func TestPublisher(t *testing.T) {
	for in, want := range map[string]string{
		"Ubuntu Developers <ubuntu-devel-discuss@lists.ubuntu.com>": "Ubuntu Developers",
		"Matthias Klose <doko@debian.org>":                          "Matthias Klose",
		"jdoe@example.org (Jane Doe)":                               "Jane Doe",
		"jdoe@example.org":                                          "",
		`"Doe, Jane" <jdoe@example.org>`:                            "Doe, Jane",
		"Red Hat, Inc. <http://bugzilla.redhat.com/bugzilla>":       "Red Hat, Inc.",
		"Fedora Project":                                            "Fedora Project",
		"Team <a@b.org>, Other <c@d.org>":                           "Team , Other",
		"Mozilla https://www.mozilla.org":                           "Mozilla",
		"":                                                          "",
	} {
		if got := apps.Publisher(in); got != want {
			t.Errorf("Publisher(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(apps.Publisher(in), "@") {
			t.Errorf("Publisher(%q) keeps an address", in)
		}
	}
}

func TestRPM(t *testing.T) {
	r := &replay{}
	got, err := (&apps.RPM{Root: "/", Run: r}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []apps.App{
		{Name: "bash", Version: "5.2.26-3.fc40", Publisher: "Fedora Project", Source: "rpm", Arch: "x86_64"},
		{Name: "kernel-core", Version: "6.8.5-301.fc40", Publisher: "Fedora Project", Source: "rpm", Arch: "x86_64"},
		{Name: "openssl-libs", Version: "1:3.2.1-2.fc40", Publisher: "Fedora Project", Source: "rpm", Arch: "x86_64"},
		{Name: "google-chrome-stable", Version: "124.0.6367.60-1", Publisher: "Google Inc.", Source: "rpm", Arch: "x86_64"},
		{Name: "local-tool", Version: "0.1-1", Publisher: "Jane Doe", Source: "rpm", Arch: "noarch"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if len(r.calls) != 1 || !slices.Equal(r.calls[0][:3], []string{"rpm", "-qa", "--queryformat"}) {
		t.Errorf("calls %q", r.calls)
	}
	checkInventoryExact(t, got)

	(&apps.RPM{Root: "/mnt/image", Run: r}).List(context.Background())
	if c := r.calls[1]; !slices.Equal(c[:3], []string{"rpm", "--root", "/mnt/image"}) {
		t.Errorf("with a root: %q", c)
	}
	got, err = (&apps.RPM{Run: &replay{missing: []string{"rpm"}}}).List(context.Background())
	if got != nil || err != nil {
		t.Errorf("without rpm: %v, %v", got, err)
	}
}

func TestParseRPMBadLines(t *testing.T) {
	out := "a\t(none)\t1\t1\tx86_64\t(none)\t(none)\n" +
		"too\tfew\n" +
		"\t(none)\t1\t1\tx86_64\t(none)\t(none)\n" +
		"noversion\t(none)\t(none)\t(none)\tx86_64\t(none)\t(none)\n" +
		"b\t0\t2\t(none)\tnoarch\tVendor <v@example.org>\t(none)\r\n"
	got, err := apps.ParseRPM([]byte(out))
	if len(got) != 2 || got[0].Name != "a" || got[1].Version != "2" || got[1].Publisher != "Vendor" {
		t.Fatalf("apps %+v", got)
	}
	for _, want := range []string{"rpm: line 2: 2 tab-separated columns, want 7", "rpm: line 3: no valid package name", `rpm: line 4: package "noversion": no version`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

func TestFlatpakCommand(t *testing.T) {
	got, err := (&apps.Flatpak{Run: &replay{}}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []apps.App{
		{Name: "org.mozilla.firefox", Version: "125.0.2", Source: "flatpak", Origin: "flathub"},
		{Name: "org.gnome.Calculator", Version: "46.0", Source: "flatpak", Origin: "flathub"},
		{Name: "com.example.NoVersion", Source: "flatpak", Origin: "local-repo"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	checkInventoryExact(t, got)
	got, err = apps.ParseFlatpakList([]byte("Application ID\tVersion\tOrigin\norg.a.B\t1\tflathub\nnot an id at all\n../x\t1\tr\n"))
	if len(got) != 1 || got[0].Name != "org.a.B" || err == nil || !strings.Contains(err.Error(), "flatpak: line 3: want an application ID") || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("%+v, %v", got, err)
	}
}

// mustFlatpakLayout deploys apps the way flatpak does under root.
func mustFlatpakLayout(tb testing.TB, root string) {
	tb.Helper()
	meta, err := os.ReadFile("testdata/org.gnome.Calculator.metainfo.xml")
	if err != nil {
		tb.Fatal(err)
	}
	app := filepath.Join(root, "var/lib/flatpak/app/org.gnome.Calculator")
	commit := "6f0e7ab3c1d2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9"
	writeFile(tb, filepath.Join(app, "x86_64/stable", commit, "files/share/metainfo/org.gnome.Calculator.metainfo.xml"), string(meta))
	symlink(tb, commit, filepath.Join(app, "x86_64/stable/active"))
	symlink(tb, "x86_64/stable", filepath.Join(app, "current"))
	// No metainfo: listed by name only.
	bare := filepath.Join(root, "var/lib/flatpak/app/com.example.Bare")
	writeFile(tb, filepath.Join(bare, "x86_64/master/abc/files/bin/bare"), "#!/bin/sh\n")
	symlink(tb, "abc", filepath.Join(bare, "x86_64/master/active"))
	symlink(tb, "x86_64/master", filepath.Join(bare, "current"))
	// A link out of the application's folder is refused.
	symlink(tb, "../../../../../etc", filepath.Join(root, "var/lib/flatpak/app/org.example.Escape/current"))
}

func TestFlatpakLayout(t *testing.T) {
	root := t.TempDir()
	mustFlatpakLayout(t, root)
	got, err := (&apps.Flatpak{Root: root, Run: &replay{}}).List(context.Background())
	want := []apps.App{
		{Name: "com.example.Bare", Source: "flatpak", Arch: "x86_64"},
		{Name: "org.gnome.Calculator", Version: "46.0", Publisher: "The GNOME Project", Source: "flatpak", Arch: "x86_64"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	if err == nil || !strings.Contains(err.Error(), `flatpak: package "org.example.Escape": "current" does not point to <arch>/<branch>`) {
		t.Fatalf("error %v", err)
	}
	checkInventoryExact(t, got)
}

func TestParseMetainfo(t *testing.T) {
	m, err := apps.ParseMetainfo([]byte(`<component><developer_name>Old Style Dev</developer_name><releases><release date="2020-01-01"/><release version=" 1.2 "/></releases></component>`))
	if err != nil || m.Version != "1.2" || m.Developer != "Old Style Dev" {
		t.Fatalf("%+v, %v", m, err)
	}
	if _, err := apps.ParseMetainfo([]byte(`<application><id>x</id></application>`)); err == nil || !strings.Contains(err.Error(), "not an AppStream component") {
		t.Fatalf("wrong root element: %v", err)
	}
}

func TestSnapCommand(t *testing.T) {
	got, err := (&apps.Snap{Run: &replay{}}).List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []apps.App{
		{Name: "core22", Version: "20240408", Publisher: "canonical", Source: "snap"},
		{Name: "firefox", Version: "125.0.3-1", Publisher: "mozilla", Source: "snap"},
		{Name: "hello-world", Version: "6.4", Publisher: "canonical", Source: "snap"},
		{Name: "my-local", Version: "0.1", Source: "snap"},
		{Name: "snapd", Version: "2.62", Publisher: "canonical", Source: "snap"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	checkInventoryExact(t, got)
	got, err = apps.ParseSnapList([]byte("No snaps are installed yet. Try 'snap install hello-world'.\n"))
	if got != nil || err != nil {
		t.Errorf("no snaps: %v, %v", got, err)
	}
	if _, err := apps.ParseSnapList([]byte("garbage\n")); err == nil || !strings.Contains(err.Error(), "snap: line 1: want the header") {
		t.Errorf("no header: %v", err)
	}
	got, err = apps.ParseSnapList([]byte("Name Version Rev Tracking Publisher Notes\nok 1 2 latest/stable pub✓ -\nBAD 1 2 x y -\nshort 1\n"))
	if len(got) != 1 || got[0].Publisher != "pub" || err == nil || !strings.Contains(err.Error(), "line 3") || !strings.Contains(err.Error(), "line 4") {
		t.Errorf("bad lines: %+v, %v", got, err)
	}
}

// failing is a Runner whose every program fails.
type failing struct{}

func (failing) Run(_ context.Context, name string, _ ...string) ([]byte, error) {
	return nil, fmt.Errorf("%s: exit status 1: error: cannot communicate with server", name)
}

func TestToolFailsFallsBackToLayout(t *testing.T) {
	for _, s := range []apps.Source{&apps.Snap{Run: failing{}}, &apps.Flatpak{Run: failing{}}} {
		_, err := s.List(context.Background())
		want := s.Name() + " list failed, read the "
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "cannot communicate with server") {
			t.Errorf("%s: error %v, want one saying %q", s.Name(), err, want)
		}
	}
}

func mustSnapLayout(tb testing.TB, root string) {
	tb.Helper()
	y, err := os.ReadFile("testdata/hello-world.snap.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	writeFile(tb, filepath.Join(root, "snap/hello-world/29/meta/snap.yaml"), string(y))
	symlink(tb, "29", filepath.Join(root, "snap/hello-world/current"))
	writeFile(tb, filepath.Join(root, "snap/bin/hello-world"), "")
	writeFile(tb, filepath.Join(root, "snap/liar/current/meta/snap.yaml"), "name: other\nversion: 1\n")
}

func TestSnapLayout(t *testing.T) {
	root := t.TempDir()
	mustSnapLayout(t, root)
	got, err := (&apps.Snap{Root: root, Run: &replay{}}).List(context.Background())
	if len(got) != 1 || got[0] != (apps.App{Name: "hello-world", Version: "6.4", Source: "snap"}) {
		t.Fatalf("got %+v", got)
	}
	if err == nil || !strings.Contains(err.Error(), `snap: package "liar": snap.yaml names "other"`) {
		t.Fatalf("error %v", err)
	}
}

// TestList reads every source at once from a fixture root.
func TestList(t *testing.T) {
	root := copyTree(t, "testdata/root")
	mustFlatpakLayout(t, root)
	mustSnapLayout(t, root)
	got, err := apps.List(context.Background(), apps.Options{Root: root, Run: &replay{}})
	var names []string
	for _, a := range got {
		names = append(names, a.Source+":"+a.Name)
	}
	want := []string{
		"dpkg:bash", "dpkg:coreutils", "dpkg:fonts-example", "dpkg:libc6", "dpkg:python3-apt", "dpkg:sudo", "dpkg:tcpdump",
		"flatpak:com.example.Bare", "flatpak:org.gnome.Calculator",
		"rpm:bash", "rpm:google-chrome-stable", "rpm:kernel-core", "rpm:local-tool", "rpm:openssl-libs",
		"snap:hello-world",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("got %q\nwant %q", names, want)
	}
	// The broken flatpak and snap are named; the rest was read.
	if err == nil || !strings.Contains(err.Error(), "org.example.Escape") || !strings.Contains(err.Error(), "liar") {
		t.Fatalf("error %v", err)
	}
	checkInventoryExact(t, got)
}

func TestFieldsFitInventory(t *testing.T) {
	a := apps.App{
		Name:      strings.Repeat("é", 100), // 200 bytes
		Version:   "1.0\x00\n\tbeta",
		Publisher: "Org\u2028Name",
		Source:    "homebrew",
		SHA256:    "NOT-A-HASH",
	}
	f := a.Fields()
	if n := f["name"].(string); len(n) != 128 || !strings.HasPrefix(n, "éé") {
		t.Errorf("name %q (%d bytes)", n, len(n))
	}
	if f["version"] != "1.0 beta" || f["publisher"] != "Org Name" || f["source"] != "other" {
		t.Errorf("fields %q", f)
	}
	if _, ok := f["sha256"]; ok {
		t.Error("a malformed hash was kept")
	}
	checkInventory(t, []apps.App{a})
}

// checkInventory checks that every app's fields pass the inventory's
// app.installed type, with the agent's scrubber, with nothing dropped, and
// that the source and hash come through unchanged. It returns the text
// fields the scrubber changed.
func checkInventory(t *testing.T, list []apps.App) (changed []string) {
	t.Helper()
	et, ok := inventory.Get(apps.EventType)
	if !ok {
		t.Fatalf("inventory has no %s", apps.EventType)
	}
	for _, a := range list {
		fields := a.Fields()
		raw, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		res, err := et.Clean(raw, scrub.Inventory{})
		if err != nil {
			t.Errorf("%s: Clean(%s): %v", a.Name, raw, err)
			continue
		}
		if len(res.Dropped) > 0 {
			t.Errorf("%s: Clean dropped %v", a.Name, res.Dropped)
		}
		var out map[string]string
		if err := json.Unmarshal(res.Payload, &out); err != nil {
			t.Fatal(err)
		}
		for k, v := range fields {
			if out[k] != v {
				switch k {
				case "source", "sha256":
					t.Errorf("%s: %s %q became %q", a.Name, k, v, out[k])
				default:
					changed = append(changed, fmt.Sprintf("%s: %q became %q", k, v, out[k]))
				}
			}
		}
		if len(out) != len(fields) {
			t.Errorf("%s: %d fields in, %d out", a.Name, len(fields), len(out))
		}
		if strings.Contains(out["publisher"], "@") {
			t.Errorf("%s: publisher %q holds an address", a.Name, out["publisher"])
		}
	}
	return changed
}

// checkInventoryExact is checkInventory for fixtures, where the scrubber
// must find nothing to change either.
func checkInventoryExact(t *testing.T, list []apps.App) {
	t.Helper()
	if changed := checkInventory(t, list); len(changed) > 0 {
		t.Errorf("the scrubber changed %q", changed)
	}
}

// TestRealDpkgStatus reads this machine's dpkg database.
func TestRealDpkgStatus(t *testing.T) {
	if _, err := os.Stat("/var/lib/dpkg/status"); err != nil {
		t.Skip("no dpkg database on this machine")
	}
	got, err := (&apps.Dpkg{Root: "/"}).List(context.Background())
	if err != nil {
		t.Fatalf("reading the real database: %v", err)
	}
	m := byName(t, got)
	d, ok := m["dpkg"]
	if !ok || d.Version == "" || d.Source != "dpkg" {
		t.Fatalf("package dpkg: %+v, found %v", d, ok)
	}
	// dpkg ships its md5sums, so its program is hashed unless it was
	// changed since installation.
	switch {
	case d.Modified:
		t.Logf("dpkg's %s differs from what dpkg installed", d.Executable)
	case d.Executable == "" || d.SHA256 != sha256File(t, d.Executable):
		t.Errorf("dpkg's main executable %q: sha256 %q is not the file's", d.Executable, d.SHA256)
	}
	hashed := 0
	for _, a := range got {
		if a.SHA256 != "" {
			hashed++
		}
	}
	changed := checkInventory(t, got)
	t.Logf("%d installed packages, %d main executables hashed; the scrubber changed %d values: %q", len(got), hashed, len(changed), changed)
}

// TestExecRunner runs package tools as real processes from $PATH.
func TestExecRunner(t *testing.T) {
	bin := t.TempDir()
	abs, err := filepath.Abs("testdata/rpm-qa.txt")
	if err != nil {
		t.Fatal(err)
	}
	writeScript := func(body string) {
		if err := os.WriteFile(filepath.Join(bin, "rpm"), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", bin)
	if got, err := (&apps.RPM{}).List(context.Background()); got != nil || err != nil {
		t.Fatalf("no rpm: %v, %v", got, err)
	}
	// The query format reaches rpm as one argument, without a shell.
	writeScript(fmt.Sprintf(`[ "$1" = -qa ] && [ "$2" = --queryformat ] && [ "$3" = '%s' ] && [ "$LC_ALL" = C ] || { echo "bad call: $*" >&2; exit 1; }
exec /bin/cat %q`, `%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\t%{VENDOR}\t%{PACKAGER}\n`, abs))
	got, err := (&apps.RPM{}).List(context.Background())
	if err != nil || len(got) != 5 || got[0].Name != "bash" {
		t.Fatalf("rpm: %+v, %v", got, err)
	}
	writeScript(`echo "error: rpmdb: BDB0113 Thread/process failed" >&2; exit 1`)
	if _, err := (&apps.RPM{}).List(context.Background()); err == nil || !strings.Contains(err.Error(), "rpmdb: BDB0113") {
		t.Fatalf("failing rpm: %v", err)
	}
	writeScript(`exec /bin/cat ` + abs)
	if out, err := (apps.Exec{MaxOutput: 100}).Run(context.Background(), "rpm"); err == nil || !bytes.Contains([]byte(err.Error()), []byte("longer than 100 bytes")) {
		t.Fatalf("over the cap: %q, %v", out, err)
	}
}
