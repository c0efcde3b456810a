// Package sample is the agent's side of suspicious-file samples: it tells
// what kind of executable a file is, and uploads one that a behaviour rule
// or heuristic flagged, only when the person's consent record has the
// suspicious category on. Nothing is opened, read or sent otherwise.
package sample

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
)

// MaxBytes is the largest file offered: the cloud's default cap.
const MaxBytes = httpapi.DefaultMaxSampleBytes

// File types (httpapi.SampleFileTypes).
const (
	TypeELF    = "elf"
	TypePE     = "pe"
	TypeScript = "script"
	TypeMachO  = "macho"
)

// headLen is how much of a file Classify reads first; a PE header further
// in is read where e_lfanew points.
const headLen = 4096

// maxLfanew bounds where a PE header may start: real ones sit within the
// first few hundred bytes, and a larger offset is not followed.
const maxLfanew = 1 << 20

// Classify tells whether the file at path is an executable, and of which
// kind: an ELF binary, a PE image (MZ, and "PE\0\0" where e_lfanew points),
// a script with a shebang line, or a Mach-O binary (thin, either byte
// order, 32 or 64 bits, or universal).
func Classify(path string) (fileType string, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return "", false
	}
	return classify(f, st.Size())
}

// ClassifyBytes is Classify for a file held in memory.
func ClassifyBytes(b []byte) (fileType string, ok bool) {
	return classify(bytes.NewReader(b), int64(len(b)))
}

func classify(r io.ReaderAt, size int64) (string, bool) {
	head := make([]byte, min(size, headLen))
	n, _ := r.ReadAt(head, 0)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return TypeELF, true
	case bytes.HasPrefix(head, []byte("#!")):
		return TypeScript, true
	case bytes.HasPrefix(head, []byte("MZ")):
		if isPE(r, head, size) {
			return TypePE, true
		}
		return "", false
	case len(head) >= 8 && isMachO(head):
		return TypeMachO, true
	}
	return "", false
}

// isPE: e_lfanew (at 0x3c, little-endian) points at "PE\0\0" inside the file.
func isPE(r io.ReaderAt, head []byte, size int64) bool {
	if len(head) < 0x40 {
		return false
	}
	off := int64(binary.LittleEndian.Uint32(head[0x3c:]))
	if off < 0x40 || off > maxLfanew || off+4 > size {
		return false
	}
	sig := make([]byte, 4)
	if off+4 <= int64(len(head)) {
		copy(sig, head[off:])
	} else if n, _ := r.ReadAt(sig, off); n != 4 {
		return false
	}
	return string(sig) == "PE\x00\x00"
}

// isMachO recognises the thin Mach-O magics in either byte order and the
// universal (fat) ones. A universal binary shares its magic with Java
// class files; there the next word is the number of architectures (a few),
// where a class file has its version (45 and up).
func isMachO(head []byte) bool {
	switch binary.BigEndian.Uint32(head) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return true
	case 0xcafebabe, 0xcafebabf:
		n := binary.BigEndian.Uint32(head[4:])
		return n > 0 && n < 45
	}
	return false
}

// Uploader sends a sample to the cloud (httpapi.Client).
type Uploader interface {
	UploadSample(ctx context.Context, o httpapi.SampleOffer, body io.Reader, size int64) (httpapi.SampleReceipt, error)
}

// Offer uploads the executable at path as a sample. Unless rec allows the
// suspicious category it returns ECONSENT before the file is even opened,
// and nothing is sent. It refuses (ETOOLARGE) a file over MaxBytes and
// (EINVALID) one that is not an executable Classify recognises: a document
// may hold personal data, a program rarely does. The bytes sent are the
// bytes hashed: the file is read once, into memory.
func Offer(ctx context.Context, c Uploader, path string, rec consent.Record) (httpapi.SampleReceipt, error) {
	var r httpapi.SampleReceipt
	if !rec.Allows(herd.CategorySuspicious) {
		return r, herd.Errorf(herd.ECONSENT, "sample %s: the suspicious category is not consented: nothing sent", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return r, fmt.Errorf("sample: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return r, fmt.Errorf("sample: %w", err)
	}
	switch {
	case !st.Mode().IsRegular():
		return r, herd.Errorf(herd.EINVALID, "sample %s: not a regular file", path)
	case st.Size() > MaxBytes:
		return r, herd.Errorf(herd.ETOOLARGE, "sample %s: %d bytes, over the cap of %d bytes: not sent", path, st.Size(), MaxBytes)
	case st.Size() == 0:
		return r, herd.Errorf(herd.EINVALID, "sample %s: empty", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return r, fmt.Errorf("sample: read %s: %w", path, err)
	}
	if int64(len(b)) > MaxBytes {
		return r, herd.Errorf(herd.ETOOLARGE, "sample %s: grew over the cap of %d bytes while read: not sent", path, MaxBytes)
	}
	typ, ok := ClassifyBytes(b)
	if !ok {
		return r, herd.Errorf(herd.EINVALID, "sample %s: not an executable (ELF, PE, Mach-O or a script with #!): not sent", path)
	}
	sum := sha256.Sum256(b)
	return c.UploadSample(ctx, httpapi.SampleOffer{SHA256: hex.EncodeToString(sum[:]), FileType: typ}, bytes.NewReader(b), int64(len(b)))
}
