package quarantine_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/quarantine"
)

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestAddListRestoreDelete(t *testing.T) {
	qdir, work := t.TempDir(), t.TempDir()
	q, err := quarantine.Open(qdir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(work, "bad.sh")
	content := []byte("#!/bin/sh\n" + herd.EICAR + "\n")
	if err := os.WriteFile(path, content, 0o750); err != nil {
		t.Fatal(err)
	}
	it, err := q.Add(path, "Eicar-Test-Signature", sum(content))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("original still there after quarantine: %v", err)
	}
	// Nothing in the quarantine folder holds the content, its hash or the path in clear.
	ents, _ := os.ReadDir(qdir)
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(qdir, e.Name()))
		for _, clear := range [][]byte{[]byte("EICAR"), []byte("bad.sh"), []byte(it.SHA256)} {
			if bytes.Contains(b, clear) {
				t.Fatalf("%s holds %q in clear", e.Name(), clear)
			}
		}
	}
	items, err := q.List()
	if err != nil || len(items) != 1 || items[0].ID != it.ID || items[0].Path != path || items[0].Threat != "Eicar-Test-Signature" || items[0].Size != int64(len(content)) {
		t.Fatalf("List = %+v, %v", items, err)
	}
	// Restoring never overwrites.
	if err := os.WriteFile(path, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Restore(it.ID, ""); herd.ErrorCode(err) != herd.ECONFLICT {
		t.Fatalf("Restore over an existing file: %v, want conflict", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("existing file changed by a refused restore: %q", b)
	}
	os.Remove(path)
	if _, err := q.Restore(it.ID, ""); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	fi, _ := os.Stat(path)
	if err != nil || !bytes.Equal(b, content) || fi.Mode().Perm() != 0o750 {
		t.Fatalf("restored %q mode %v, %v", b, fi.Mode().Perm(), err)
	}
	if items, _ := q.List(); len(items) != 0 {
		t.Fatalf("List after restore = %+v", items)
	}
	// Quarantine again, then delete.
	it, err = q.Add(path, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(it.ID); err != nil {
		t.Fatal(err)
	}
	if err := q.Delete(it.ID); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Fatalf("second Delete: %v", err)
	}
	if err := q.Delete("../key"); herd.ErrorCode(err) != herd.EINVALID {
		t.Fatalf("Delete of a non-id: %v", err)
	}
	if _, err := os.Stat(filepath.Join(qdir, quarantine.KeyFile)); err != nil {
		t.Fatalf("key removed: %v", err)
	}
}

func TestChangedFileIsLeftAlone(t *testing.T) {
	q, err := quarantine.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte("now harmless"), 0o600)
	if _, err := q.Add(path, "x", sum([]byte("what was detected"))); !errors.Is(err, quarantine.ErrChanged) {
		t.Fatalf("Add of a changed file: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("changed file removed: %v", err)
	}
	if items, _ := q.List(); len(items) != 0 {
		t.Fatalf("List = %+v", items)
	}
}

func TestOtherKeyOrTamperingCannotRestore(t *testing.T) {
	qdir := t.TempDir()
	q, _ := quarantine.Open(qdir)
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte(strings.Repeat("malware ", 1000)), 0o600)
	it, err := q.Add(path, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	// Flip one byte of the encrypted content.
	bin := filepath.Join(qdir, it.ID+".bin")
	b, _ := os.ReadFile(bin)
	b[len(b)/2] ^= 1
	os.WriteFile(bin, b, 0o600)
	if _, err := q.Restore(it.ID, ""); err == nil {
		t.Fatal("restored a tampered item")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a tampered restore left a file: %v", err)
	}
	// Another installation's key cannot read the record.
	other := t.TempDir()
	os.Rename(filepath.Join(qdir, it.ID+".meta"), filepath.Join(other, it.ID+".meta"))
	os.Rename(bin, filepath.Join(other, it.ID+".bin"))
	q2, _ := quarantine.Open(other)
	if _, err := q2.Get(it.ID); err == nil {
		t.Fatal("read a record under another key")
	}
}

// TestFailedRestoreAllowsNothing: a restore refused (a file is in the way)
// leaves the content as it was: not allow-listed.
func TestFailedRestoreAllowsNothing(t *testing.T) {
	q, _ := quarantine.Open(t.TempDir())
	path := filepath.Join(t.TempDir(), "f")
	os.WriteFile(path, []byte(herd.EICAR), 0o600)
	it, err := q.Add(path, "x", "")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, []byte("in the way"), 0o600)
	if _, err := q.Restore(it.ID, ""); err == nil {
		t.Fatal("restored over a file")
	}
	if q.Allowed(it.SHA256) {
		t.Fatal("a refused restore allow-listed the content")
	}
	os.Remove(path)
	if _, err := q.Restore(it.ID, ""); err != nil || !q.Allowed(it.SHA256) {
		t.Fatalf("restore: %v; allowed %v", err, q.Allowed(it.SHA256))
	}
}

// TestSymlinkIsNotTaken: a link to a detected file is refused; the file
// and the link stay.
func TestSymlinkIsNotTaken(t *testing.T) {
	q, _ := quarantine.Open(t.TempDir())
	dir := t.TempDir()
	target, link := filepath.Join(dir, "target"), filepath.Join(dir, "link")
	os.WriteFile(target, []byte(herd.EICAR), 0o600)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Add(link, "x", ""); err == nil {
		t.Fatal("quarantined through a symbolic link")
	}
	for _, p := range []string{target, link} {
		if _, err := os.Lstat(p); err != nil {
			t.Fatalf("%s gone: %v", p, err)
		}
	}
}
