package vault

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVault(t *testing.T) {
	dir := t.TempDir()
	v, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := v.Seal([]byte("alice@example.org"), []byte("licence/A"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("alice")) {
		t.Fatal("sealed record holds the plain text")
	}
	if _, err := v.Open(sealed, []byte("licence/B")); err == nil {
		t.Fatal("a record opened under another record's name")
	}
	// The keys persist: a second Open reads what the first sealed.
	v2, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if plain, err := v2.Open(sealed, []byte("licence/A")); err != nil || string(plain) != "alice@example.org" {
		t.Fatalf("reopened vault: %q %v", plain, err)
	}
	m1, _ := v.MAC("p", []byte("x"))
	m2, _ := v2.MAC("p", []byte("x"))
	m3, _ := v2.MAC("q", []byte("x"))
	if m1 != m2 || m1 == m3 || len(m1) < 64 {
		t.Fatalf("MACs %s %s %s: want stable per key, different per purpose", m1, m2, m3)
	}
	// A data key opens only with the master key and its own name.
	wrapped, k, err := v.NewDataKey([]byte("datakey/A"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := k.Encrypt([]byte("record"), nil)
	k2, err := v2.DataKey(wrapped, []byte("datakey/A"))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := k2.Decrypt(c, nil); err != nil || string(p) != "record" {
		t.Fatalf("unwrapped data key: %q %v", p, err)
	}
	if _, err := v2.DataKey(wrapped, []byte("datakey/B")); err == nil {
		t.Fatal("a data key unwrapped under another licence's name")
	}
	other, _ := Open(t.TempDir())
	if _, err := other.DataKey(wrapped, []byte("datakey/A")); err == nil {
		t.Fatal("another vault unwrapped the data key")
	}
	// A key file others can read is refused.
	os.Chmod(filepath.Join(dir, File), 0o644)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
}
