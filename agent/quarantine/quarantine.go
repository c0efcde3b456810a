// Package quarantine keeps detected files out of harm's way: a file is
// moved into the agent's quarantine folder encrypted (Tink streaming AEAD,
// AES-256-GCM-HKDF, a key of this installation's own), so it can neither run
// nor be opened by accident, and another scanner does not find it again.
// It can be restored where it was, or deleted.
//
// Each item is two files named by a random id: ID.bin, the file's content,
// and ID.meta, where it was and why it was taken (also encrypted: the path
// may name a person). The id is bound to both as associated data, so a blob
// cannot be passed off as another item's.
package quarantine

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/streamingaead"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/herdsec/herd"
)

// KeyFile is the quarantine key's file name in the quarantine folder.
const KeyFile = "key.json"

// Item is one quarantined file.
type Item struct {
	ID     string      `json:"id"`
	Path   string      `json:"path"` // where it was
	Threat string      `json:"threat"`
	SHA256 string      `json:"sha256"`
	Size   int64       `json:"size"`
	Mode   fs.FileMode `json:"mode"`
	Time   time.Time   `json:"time"` // when it was quarantined
}

// Quarantine is a quarantine folder. It is safe for concurrent use by one
// process.
type Quarantine struct {
	dir string
	sa  tink.StreamingAEAD
}

// Open opens (or creates, mode 0700) the quarantine folder dir and its key.
func Open(dir string) (*Quarantine, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("quarantine %s: %w", dir, err)
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	var h *keyset.Handle
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if h, err = newKey(path); err != nil {
			return nil, fmt.Errorf("quarantine key %s: %w", path, err)
		}
	case err != nil:
		return nil, fmt.Errorf("quarantine key: %w", err)
	default:
		if h, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(b))); err != nil {
			return nil, fmt.Errorf("quarantine key %s: %w", path, err)
		}
	}
	sa, err := streamingaead.New(h)
	if err != nil {
		return nil, fmt.Errorf("quarantine key %s: %w", path, err)
	}
	return &Quarantine{dir: dir, sa: sa}, nil
}

func newKey(path string) (*keyset.Handle, error) {
	h, err := keyset.NewHandle(streamingaead.AES256GCMHKDF4KBKeyTemplate())
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&b)); err != nil {
		return nil, err
	}
	// O_EXCL: two agents starting at once must not each write a key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	if _, err := f.Write(b.Bytes()); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, err
	}
	return h, f.Close()
}

// ErrChanged is returned by Add when the file's content is no longer what
// was detected: it was changed between the scan and the quarantine.
var ErrChanged = errors.New("file changed since it was scanned")

// Add moves the file at path into the quarantine. wantSHA256, if not
// empty, is the hex SHA-256 the detection was made on: a file whose content
// differs now is left alone (ErrChanged), so that a swapped file is not
// quarantined under another file's verdict. The file is removed only once
// its encrypted copy is safely on disk; if it cannot be removed, the copy is
// deleted again and the error returned.
func (q *Quarantine) Add(path, threat, wantSHA256 string) (Item, error) {
	// A symbolic link is not the file: taking the link would leave the
	// file, following it could take a file the detection was not about.
	if li, err := os.Lstat(path); err != nil {
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	} else if !li.Mode().IsRegular() {
		return Item{}, fmt.Errorf("quarantine %s: not a regular file", path)
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Item{}, fmt.Errorf("quarantine %s: not a regular file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	}
	it := Item{ID: newID(), Path: abs, Threat: threat, Mode: fi.Mode().Perm(), Time: time.Now().UTC()}
	h := sha256.New()
	n, err := q.writeSealed(q.file(it.ID, ".bin"), it.ID, io.TeeReader(f, h))
	if err != nil {
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	}
	it.Size, it.SHA256 = n, hex.EncodeToString(h.Sum(nil))
	if wantSHA256 != "" && !strings.EqualFold(wantSHA256, it.SHA256) {
		os.Remove(q.file(it.ID, ".bin"))
		return Item{}, fmt.Errorf("quarantine %s: %w", path, ErrChanged)
	}
	meta, err := json.Marshal(it)
	if err != nil {
		return Item{}, err
	}
	if _, err := q.writeSealed(q.file(it.ID, ".meta"), it.ID+".meta", bytes.NewReader(meta)); err != nil {
		os.Remove(q.file(it.ID, ".bin"))
		return Item{}, fmt.Errorf("quarantine %s: %w", path, err)
	}
	// The path must still name the file that was read: if it was swapped
	// meanwhile, removing it would take another file.
	if now, err := os.Lstat(path); err != nil || !os.SameFile(now, fi) {
		q.remove(it.ID)
		return Item{}, fmt.Errorf("quarantine %s: %w", path, ErrChanged)
	}
	if err := os.Remove(path); err != nil {
		q.remove(it.ID)
		return Item{}, fmt.Errorf("quarantine %s: could not remove the file: %w", path, err)
	}
	return it, nil
}

// List returns the quarantined items, oldest first. An item whose record
// cannot be read is listed with its id and no details, never hidden.
func (q *Quarantine) List() ([]Item, error) {
	ents, err := os.ReadDir(q.dir)
	if err != nil {
		return nil, fmt.Errorf("quarantine: %w", err)
	}
	var out []Item
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".bin")
		if !ok || !idPattern.MatchString(id) {
			continue
		}
		it, err := q.Get(id)
		if err != nil {
			it = Item{ID: id, Threat: "(record unreadable: " + err.Error() + ")"}
		}
		out = append(out, it)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Get returns one item's record.
func (q *Quarantine) Get(id string) (Item, error) {
	if err := checkID(id); err != nil {
		return Item{}, err
	}
	var b bytes.Buffer
	if err := q.readSealed(q.file(id, ".meta"), id+".meta", &b); err != nil {
		return Item{}, err
	}
	var it Item
	if err := json.Unmarshal(b.Bytes(), &it); err != nil {
		return Item{}, fmt.Errorf("quarantine %s: record: %w", id, err)
	}
	if it.ID != id {
		return Item{}, fmt.Errorf("quarantine %s: record names another item", id)
	}
	return it, nil
}

// Restore decrypts an item back to where it was (or to the path to, if not
// empty) with its permissions, and removes it from the quarantine. It never
// overwrites a file: if one exists at the destination, Restore fails.
// Files with the same content are allowed from then on (Allow).
func (q *Quarantine) Restore(id, to string) (Item, error) {
	restored := false
	it, err := q.Get(id)
	if err != nil {
		return Item{}, err
	}
	// Allowed before the content is written (a watching daemon must not
	// take it back while it is being restored), and no longer if the
	// restore fails.
	if !q.Allowed(it.SHA256) {
		if err := q.Allow(it.SHA256); err != nil {
			return Item{}, fmt.Errorf("restore %s: %w", id, err)
		}
		defer func() {
			if !restored {
				os.Remove(filepath.Join(q.dir, "allowed", it.SHA256))
			}
		}()
	}
	dst := it.Path
	if to != "" {
		dst = to
	}
	dir := filepath.Dir(dst)
	tmp, err := os.CreateTemp(dir, ".herd-restore-*")
	if err != nil {
		return Item{}, fmt.Errorf("restore %s: %w", id, err)
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if err := q.readSealed(q.file(id, ".bin"), id, io.MultiWriter(tmp, h)); err != nil {
		tmp.Close()
		return Item{}, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != it.SHA256 {
		tmp.Close()
		return Item{}, fmt.Errorf("restore %s: content does not match its record", id)
	}
	if err := tmp.Chmod(it.Mode); err != nil {
		tmp.Close()
		return Item{}, fmt.Errorf("restore %s: %w", id, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Item{}, fmt.Errorf("restore %s: %w", id, err)
	}
	if err := tmp.Close(); err != nil {
		return Item{}, fmt.Errorf("restore %s: %w", id, err)
	}
	// A hard link fails if dst exists: never overwrite what is there now.
	if err := os.Link(tmp.Name(), dst); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return Item{}, herd.Errorf(herd.ECONFLICT, "restore %s: %s exists; restore to another path with --to", id, dst)
		}
		return Item{}, fmt.Errorf("restore %s: %w", id, err)
	}
	it.Path = dst
	restored = true
	return it, q.remove(id)
}

// Delete removes an item for good.
func (q *Quarantine) Delete(id string) error {
	if err := checkID(id); err != nil {
		return err
	}
	if _, err := os.Stat(q.file(id, ".bin")); err != nil {
		return herd.Errorf(herd.ENOTFOUND, "quarantine: no item %q", id)
	}
	return q.remove(id)
}

func (q *Quarantine) remove(id string) error {
	err1 := os.Remove(q.file(id, ".bin"))
	err2 := os.Remove(q.file(id, ".meta"))
	if err1 != nil && !errors.Is(err1, fs.ErrNotExist) {
		return fmt.Errorf("quarantine %s: %w", id, err1)
	}
	if err2 != nil && !errors.Is(err2, fs.ErrNotExist) {
		return fmt.Errorf("quarantine %s: %w", id, err2)
	}
	return nil
}

// Allow records that files with this SHA-256 are to be left alone: the
// person restored one. Real-time protection still alerts, but no longer
// takes them.
func (q *Quarantine) Allow(sha256Hex string) error {
	if !shaPattern.MatchString(sha256Hex) {
		return herd.Errorf(herd.EINVALID, "allow %q: not a SHA-256", sha256Hex)
	}
	dir := filepath.Join(q.dir, "allowed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, strings.ToLower(sha256Hex)), nil, 0o600)
}

// Allowed reports whether files with this SHA-256 are to be left alone.
func (q *Quarantine) Allowed(sha256Hex string) bool {
	if !shaPattern.MatchString(sha256Hex) {
		return false
	}
	_, err := os.Stat(filepath.Join(q.dir, "allowed", strings.ToLower(sha256Hex)))
	return err == nil
}

var shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)

func (q *Quarantine) file(id, ext string) string { return filepath.Join(q.dir, id+ext) }

// writeSealed encrypts r into path (written to a temporary file, synced,
// then renamed) and returns the plaintext bytes written.
func (q *Quarantine) writeSealed(path, ad string, r io.Reader) (int64, error) {
	tmp, err := os.CreateTemp(q.dir, ".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	w, err := q.sa.NewEncryptingWriter(tmp, []byte(ad))
	if err != nil {
		tmp.Close()
		return 0, err
	}
	n, err := io.Copy(w, r)
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	return n, os.Rename(tmp.Name(), path)
}

// readSealed decrypts path into w; a wrong key, a changed byte or a blob
// of another item fails.
func (q *Quarantine) readSealed(path, ad string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return herd.Errorf(herd.ENOTFOUND, "quarantine: no item %q", strings.TrimSuffix(filepath.Base(path), filepath.Ext(path)))
		}
		return err
	}
	defer f.Close()
	r, err := q.sa.NewDecryptingReader(f, []byte(ad))
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", filepath.Base(path), err)
	}
	if _, err := io.Copy(w, r); err != nil {
		return fmt.Errorf("quarantine %s: cannot decrypt (damaged, or not this installation's): %w", filepath.Base(path), err)
	}
	return nil
}

var idPattern = regexp.MustCompile(`^[0-9a-f]{16}$`)

// checkID refuses what is not an item id (a path, say) before it names a file.
func checkID(id string) error {
	if !idPattern.MatchString(id) {
		return herd.Errorf(herd.EINVALID, "quarantine id %q: not an id (herd quarantine list shows them)", id)
	}
	return nil
}

func newID() string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
