package apps_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/herdsec/herd/agent/apps"
)

func addFile(f *testing.F, path string) {
	f.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
}

const sentinel = "Package: zz-sentinel\nStatus: install ok installed\nVersion: 1\n"

// FuzzParseDpkgStatus: whatever the database holds, what comes back is
// well-formed, and a bad stanza never loses the good one after it.
func FuzzParseDpkgStatus(f *testing.F) {
	addFile(f, "testdata/root/var/lib/dpkg/status")
	addFile(f, "testdata/malformed-status")
	f.Add([]byte("Package: a\n continued\n\tmore\nStatus: install ok installed\r\nVersion: 1\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		pkgs, _ := apps.ParseDpkgStatus(bytes.NewReader(in))
		last := 0
		var list []apps.App
		for _, p := range pkgs {
			if p.Package == "" || strings.ContainsAny(p.Package, "/\x00 ") || len(strings.Fields(p.Status)) != 3 || p.Installed() && p.Version == "" || p.Line <= last {
				t.Fatalf("package %+v after line %d", p, last)
			}
			last = p.Line
			list = append(list, apps.App{Name: p.Package, Version: p.Version, Publisher: apps.Publisher(p.Maintainer), Source: "dpkg"})
		}
		checkInventory(t, list)

		in = append(append(in, "\n\n"...), sentinel...)
		pkgs, _ = apps.ParseDpkgStatus(bytes.NewReader(in))
		if len(pkgs) == 0 || pkgs[len(pkgs)-1].Package != "zz-sentinel" || pkgs[len(pkgs)-1].Version != "1" {
			t.Fatalf("the stanza after the input was lost: %+v", pkgs)
		}
	})
}

// fuzzOutput checks that every app parse returns fits the inventory.
func fuzzOutput(f *testing.F, parse func([]byte) ([]apps.App, error), source string, seeds ...string) {
	for _, s := range seeds {
		addFile(f, s)
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		list, _ := parse(out)
		for _, a := range list {
			if a.Name == "" || a.Source != source {
				t.Fatalf("app %+v", a)
			}
			if strings.Contains(a.Publisher, "@") {
				t.Fatalf("publisher %q keeps an address", a.Publisher)
			}
		}
		checkInventory(t, list)
	})
}

func FuzzParseRPM(f *testing.F) {
	fuzzOutput(f, apps.ParseRPM, "rpm", "testdata/rpm-qa.txt")
}

func FuzzParseFlatpakList(f *testing.F) {
	fuzzOutput(f, apps.ParseFlatpakList, "flatpak", "testdata/flatpak-list.txt")
}

func FuzzParseSnapList(f *testing.F) {
	fuzzOutput(f, apps.ParseSnapList, "snap", "testdata/snap-list.txt")
}

func FuzzParseMetainfo(f *testing.F) {
	addFile(f, "testdata/org.gnome.Calculator.metainfo.xml")
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := apps.ParseMetainfo(b)
		if err != nil && m != (apps.Metainfo{}) {
			t.Fatalf("error %v with %+v", err, m)
		}
		if strings.Contains(m.Developer, "@") {
			t.Fatalf("developer %q keeps an address", m.Developer)
		}
		checkInventory(t, []apps.App{{Name: "org.example.App", Version: m.Version, Publisher: m.Developer, Source: "flatpak"}})
	})
}

func FuzzParseSnapYAML(f *testing.F) {
	addFile(f, "testdata/hello-world.snap.yaml")
	f.Fuzz(func(t *testing.T, b []byte) {
		y, err := apps.ParseSnapYAML(b)
		if err == nil && y.Name == "" {
			t.Fatal("no error and no name")
		}
	})
}
