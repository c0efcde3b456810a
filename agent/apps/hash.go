package apps

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
)

// hashFile returns the SHA-256 and MD5 of the regular file at path under
// the root, in lower-case hex, within the hasher's limits. ok is false when
// the file is not a regular file, is over the size cap, would exceed the
// run's budget, or cannot be read.
func (h *hasher) hashFile(path string) (sha, md5sum string, ok bool) {
	f, err := os.Open(filepath.Join(h.root, filepath.FromSlash(path)))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() > h.lim.MaxFileSize || h.bytes+fi.Size() > h.lim.MaxBytes {
		return "", "", false
	}
	h.files++
	h.bytes += fi.Size()
	s, m := sha256.New(), md5.New()
	// Read one byte past the size seen, so that a file that grew is noticed
	// rather than hashed in part.
	n, err := io.Copy(io.MultiWriter(s, m), io.LimitReader(f, fi.Size()+1))
	if err != nil || n != fi.Size() {
		return "", "", false
	}
	return hex.EncodeToString(s.Sum(nil)), hex.EncodeToString(m.Sum(nil)), true
}
