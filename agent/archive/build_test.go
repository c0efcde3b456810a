package archive_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"os"
	"testing"

	"github.com/ulikunitz/xz"
)

// file is an archive entry to build: a regular file unless typ says
// otherwise (tar only).
type file struct {
	name string
	data []byte
	typ  byte
}

func MustZip(tb testing.TB, files ...file) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(f.data); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func MustTar(tb testing.TB, files ...file) []byte {
	tb.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}
		switch f.typ {
		case 0:
		case tar.TypeSymlink, tar.TypeLink:
			h.Typeflag, h.Linkname, h.Size = f.typ, string(f.data), 0
		default:
			h.Typeflag, h.Size = f.typ, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			tb.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(f.data); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// MustGzip compresses data; name, if set, goes into the gzip header.
func MustGzip(tb testing.TB, name string, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Name = name
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func MustXZ(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw, err := xz.NewWriter(&b)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// MustRead reads a fixture: the bzip2 ones were made with the bzip2 tool
// (the standard library has no bzip2 writer): eicar.com.bz2 holds EICAR,
// eicar.tar.bz2 a ustar archive holding eicar.com.
func MustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// zerosDeflate returns a deflate stream of n zeros (n a multiple of 1 MiB)
// without compressing n bytes: one MiB is compressed and sync-flushed
// (which byte-aligns it and keeps it open), repeated, and closed with an
// empty final stored block. Each copy decodes alone, so the copies decode
// to n zeros.
func zerosDeflate(tb testing.TB, n int) []byte {
	tb.Helper()
	var chunk bytes.Buffer
	fw, _ := flate.NewWriter(&chunk, flate.BestCompression)
	if _, err := fw.Write(make([]byte, 1<<20)); err != nil {
		tb.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		tb.Fatal(err)
	}
	out := bytes.Repeat(chunk.Bytes(), n>>20)
	return append(out, 0x01, 0x00, 0x00, 0xff, 0xff)
}

// MustGzipZeros returns a gzip stream of n zeros (n a multiple of 1 MiB).
func MustGzipZeros(tb testing.TB, n int) []byte {
	tb.Helper()
	b := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff}
	b = append(b, zerosDeflate(tb, n)...)
	b = binary.LittleEndian.AppendUint32(b, crc32Zeros(n))
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

// MustZipBomb returns a zip whose members (names) each hold n zeros (n a
// multiple of 1 MiB).
func MustZipBomb(tb testing.TB, names []string, n int) []byte {
	tb.Helper()
	raw := bytes.NewBuffer(zerosDeflate(tb, n))
	crc := crc32Zeros(n)
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, name := range names {
		w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
			CompressedSize64: uint64(raw.Len()), UncompressedSize64: uint64(n)})
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := w.Write(raw.Bytes()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func crc32Zeros(n int) uint32 {
	h := crc32.NewIEEE()
	zeros := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(zeros) {
		h.Write(zeros[:min(left, len(zeros))])
	}
	return h.Sum32()
}
