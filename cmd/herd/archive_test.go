package main

import (
	"archive/zip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

func mustZip(t *testing.T, path string, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for name, content := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(content))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestScanArchives: a threat inside an archive is found under the
// member's path; an archive whose member would climb out of its folder is
// refused with the reason, and the scan says so in its summary.
func TestScanArchives(t *testing.T) {
	dir := t.TempDir()
	mustZip(t, filepath.Join(dir, "bundle.zip"), map[string]string{"docs/readme.txt": "hello", "tools/eicar.com": herd.EICAR})
	mustZip(t, filepath.Join(dir, "evil.zip"), map[string]string{"../../etc/cron.d/x": "* * * * * root true"})
	r := run(t, nil, "scan", "--no-cloud", dir)
	if r.code != ExitFound {
		t.Fatalf("exit %d, want 1 (found)\n%v", r.code, r)
	}
	if want := filepath.Join(dir, "bundle.zip") + "//tools/eicar.com: EICAR-Test-File FOUND"; !strings.Contains(r.stdout, want) {
		t.Errorf("no %q in\n%v", want, r)
	}
	if want := filepath.Join(dir, "evil.zip") + ": REFUSED"; !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "../../etc/cron.d/x") {
		t.Errorf("traversal archive not refused with its member named:\n%v", r)
	}
	if !strings.Contains(r.stdout, "archives refused") {
		t.Errorf("summary does not count refused archives:\n%v", r)
	}
	// With archives off, the EICAR inside is not looked for.
	if r := run(t, nil, "scan", "--no-cloud", "--no-archives", dir); r.code != ExitClean {
		t.Errorf("--no-archives: exit %d\n%v", r.code, r)
	}
}
