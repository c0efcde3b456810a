package scan

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/herdsec/herd"
)

// randomBytes returns n bytes that are the same on every run for a seed.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// wantDigests computes the digests of b with the standard library, one
// hash at a time: what the one-pass hasher must agree with.
func wantDigests(b []byte) herd.FileDigests {
	return herd.FileDigests{
		Size:     int64(len(b)),
		SHA256:   sha256.Sum256(b),
		SHA1:     sha1.Sum(b),
		MD5:      md5.Sum(b),
		HaveSHA1: true,
		HaveMD5:  true,
	}
}

// hashSizes cross the hasher's 256 KiB buffer on either side.
var hashSizes = []int{0, 1, 68, 256<<10 - 1, 256 << 10, 256<<10 + 1, 1<<20 + 3}

func TestHasherDigests(t *testing.T) {
	readers := map[string]func([]byte) io.Reader{
		"whole":    func(b []byte) io.Reader { return bytes.NewReader(b) },
		"half":     func(b []byte) io.Reader { return iotest.HalfReader(bytes.NewReader(b)) },
		"data+EOF": func(b []byte) io.Reader { return iotest.DataErrReader(bytes.NewReader(b)) },
		"one byte": func(b []byte) io.Reader { return iotest.OneByteReader(bytes.NewReader(b)) },
		"multipart": func(b []byte) io.Reader {
			return io.MultiReader(bytes.NewReader(b[:len(b)/3]), bytes.NewReader(b[len(b)/3:]))
		},
	}
	// One hasher for everything, large and small inputs interleaved, so a
	// digest that is not reset between files shows up.
	h := newHasher(true, true)
	for name, mk := range readers {
		for i, n := range append(append([]int{}, hashSizes...), 1<<20+3, 0, 1) {
			content := randomBytes(n, byte(i))
			if name == "one byte" {
				content = content[:min(n, 4096)] // a byte per Read: keep it short
			}
			got, err := h.hash(mk(content))
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", name, n, err)
			}
			if want := wantDigests(content); got != want {
				t.Errorf("%s, %d bytes: digests\n got %s\nwant %s", name, len(content), fmtDigests(got), fmtDigests(want))
			}
		}
	}
}

func TestHasherEICAR(t *testing.T) {
	d, err := newHasher(true, true).hash(bytes.NewReader([]byte(herd.EICAR)))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x %x %x %d", d.SHA256, d.SHA1, d.MD5, d.Size); got != herd.EICARSHA256+" "+herd.EICARSHA1+" "+herd.EICARMD5+" 68" {
		t.Fatalf("EICAR digests = %s, want the published ones", got)
	}
}

func TestHashFile(t *testing.T) {
	dir := t.TempDir()
	h := newHasher(true, true)
	for i, n := range hashSizes {
		content := randomBytes(n, byte(100+i))
		path := filepath.Join(dir, fmt.Sprintf("f%d", n))
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := h.hashFile(path)
		if err != nil {
			t.Fatalf("hashFile(%d bytes): %v", n, err)
		}
		if want := wantDigests(content); got != want {
			t.Errorf("hashFile(%d bytes):\n got %s\nwant %s", n, fmtDigests(got), fmtDigests(want))
		}
	}
	if _, err := h.hashFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("hashFile(missing) error = %v, want ErrNotExist", err)
	}
}

func TestHasherReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	h := newHasher(true, true)
	for _, r := range []io.Reader{
		iotest.ErrReader(boom),
		io.MultiReader(bytes.NewReader(randomBytes(300<<10, 1)), iotest.ErrReader(boom)),
	} {
		if _, err := h.hash(r); !errors.Is(err, boom) {
			t.Errorf("hash of a failing reader: error = %v, want %v", err, boom)
		}
	}
	// The failure leaves nothing behind for the next file.
	content := randomBytes(1000, 2)
	got, err := h.hash(bytes.NewReader(content))
	if err != nil || got != wantDigests(content) {
		t.Fatalf("hash after a failure = %s, %v; want %s", fmtDigests(got), err, fmtDigests(wantDigests(content)))
	}
}

func fmtDigests(d herd.FileDigests) string {
	return fmt.Sprintf("size=%d sha256=%x sha1=%x(%v) md5=%x(%v)", d.Size, d.SHA256, d.SHA1, d.HaveSHA1, d.MD5, d.HaveMD5)
}

// BenchmarkHash measures the one-pass sha256+sha1+md5 hasher on 1 MiB.
func BenchmarkHash(b *testing.B) {
	buf := randomBytes(1<<20, 7)
	h := newHasher(true, true)
	r := bytes.NewReader(buf)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(buf)
		if _, err := h.hash(r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestHasherSkipsUnwantedHashes: without MD5/SHA-1 consumers the hasher
// computes SHA-256 only and says so, so Match cannot use zero digests.
func TestHasherSkipsUnwantedHashes(t *testing.T) {
	d, err := newHasher(false, false).hash(bytes.NewReader([]byte(herd.EICAR)))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(d.SHA256[:]) != herd.EICARSHA256 || d.HaveMD5 || d.HaveSHA1 || d.MD5 != [16]byte{} || d.SHA1 != [20]byte{} {
		t.Fatalf("digests %+v: want SHA-256 only", d)
	}
	d, _ = newHasher(true, false).hash(bytes.NewReader([]byte(herd.EICAR)))
	if !d.HaveMD5 || d.HaveSHA1 || hex.EncodeToString(d.MD5[:]) != herd.EICARMD5 {
		t.Fatalf("digests %+v: want SHA-256 and MD5", d)
	}
}
