package pseudonym

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf/hmacprf"
)

// fileFormat names the file's layout; a change of layout changes it.
const fileFormat = "herd-pseudonym-keyring-v1"

// maxFileSize bounds what load reads: a keyring with a few keys is ~1 KiB.
const maxFileSize = 1 << 20

// minKeySize is the smallest HMAC key accepted, in bytes (256 bits).
const minKeySize = 32

// file is the on-disk layout: the keys and the creation time of each
// rotating key, in one file so that they are written atomically together.
type file struct {
	Format   string               `json:"format"`
	Rotating json.RawMessage      `json:"rotating_keyset"`
	Created  map[uint32]time.Time `json:"created"`
	Stable   json.RawMessage      `json:"stable_keyset"`
}

// load reads the keyring at path. It returns nil, nil if there is no file.
func load(path string) (*state, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("pseudonym: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("pseudonym: key file %s: not a regular file", path)
	}
	// On Windows, permission bits say nothing about who may read the file.
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("pseudonym: key file %s has mode %#o: group or others may access it, "+
			"which exposes the keys that link pseudonyms; restrict it with chmod 600 (and check who read it)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("pseudonym: read %s: %w", path, err)
	}
	s, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("pseudonym: key file %s: %w", path, err)
	}
	return s, nil
}

// decode parses and checks a keyring file. Every failure is an error that
// says what is wrong; no input makes it panic.
func decode(data []byte) (*state, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d bytes: not a keyring file", maxFileSize)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file: not a keyring file")
	}
	var f file
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("not a keyring file: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a keyring file: data after the JSON object")
	}
	if f.Format != fileFormat {
		return nil, fmt.Errorf("format %q: want %q", f.Format, fileFormat)
	}
	rot, err := readKeyset(f.Rotating)
	if err != nil {
		return nil, fmt.Errorf("rotating_keyset: %w", err)
	}
	stable, err := readKeyset(f.Stable)
	if err != nil {
		return nil, fmt.Errorf("stable_keyset: %w", err)
	}
	return build(rot, f.Created, stable)
}

func readKeyset(raw json.RawMessage) (*keyset.Handle, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("missing")
	}
	// Parse and validate once ourselves for a precise error: Tink's reader
	// reports every failure as "invalid keyset".
	ks, err := keyset.NewJSONReader(bytes.NewReader(raw)).Read()
	if err != nil {
		return nil, fmt.Errorf("not a Tink JSON keyset: %w", err)
	}
	if err := keyset.Validate(ks); err != nil {
		return nil, err
	}
	// The file holds cleartext keys; see save for why that is acceptable.
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(raw)))
	if err != nil {
		return nil, err
	}
	return h, nil
}

// checkKeys accepts only enabled HMAC-SHA256 PRF keys of at least 256 bits:
// a file edited to hold weaker or other keys is refused, not used.
func checkKeys(h *keyset.Handle) error {
	for i := range h.Len() {
		e, err := h.Entry(i)
		if err != nil {
			return err
		}
		if e.KeyStatus() != keyset.Enabled {
			return fmt.Errorf("key %d: status %v: want enabled", e.KeyID(), e.KeyStatus())
		}
		k, ok := e.Key().(*hmacprf.Key)
		if !ok {
			return fmt.Errorf("key %d: %T: want an HMAC PRF key", e.KeyID(), e.Key())
		}
		p, ok := k.Parameters().(*hmacprf.Parameters)
		if !ok || p.HashType() != hmacprf.SHA256 {
			return fmt.Errorf("key %d: want HMAC-SHA256", e.KeyID())
		}
		if p.KeySizeInBytes() < minKeySize {
			return fmt.Errorf("key %d: %d-byte key: want at least %d", e.KeyID(), p.KeySizeInBytes(), minKeySize)
		}
	}
	return nil
}

func encode(s *state) ([]byte, error) {
	// Tink writes keys in cleartext only through insecurecleartextkeyset.
	// That is acceptable here because the file is mode 0600 in a 0700
	// directory, and lives outside the telemetry store (never in JetStream),
	// so whoever can read telemetry cannot read it. Envelope encryption of
	// key files under a KMS or the identity service's master key
	// (keyset.Handle.Write with an AEAD) comes with the identity work.
	var rot, stable bytes.Buffer
	if err := insecurecleartextkeyset.Write(s.rotating, keyset.NewJSONWriter(&rot)); err != nil {
		return nil, fmt.Errorf("encode rotating keyset: %w", err)
	}
	if err := insecurecleartextkeyset.Write(s.stable, keyset.NewJSONWriter(&stable)); err != nil {
		return nil, fmt.Errorf("encode stable keyset: %w", err)
	}
	return json.MarshalIndent(file{
		Format:   fileFormat,
		Rotating: rot.Bytes(),
		Created:  s.created,
		Stable:   stable.Bytes(),
	}, "", "  ")
}

// save writes s to path atomically: a temporary file in the same directory,
// synced, renamed over path, then the directory synced, so that a crash
// leaves either the old keys or the new ones, never a torn file. Losing the
// file would make every stored pseudonym unlinkable, including for deletion.
func save(path string, s *state) (err error) {
	data, err := encode(s)
	if err != nil {
		return fmt.Errorf("pseudonym: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pseudonym: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return fmt.Errorf("pseudonym: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("pseudonym: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("pseudonym: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("pseudonym: sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pseudonym: write key file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pseudonym: %w", err)
	}
	if runtime.GOOS != "windows" {
		d, err := os.Open(dir)
		if err != nil {
			return fmt.Errorf("pseudonym: sync directory: %w", err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("pseudonym: sync directory: %w", err)
		}
	}
	return nil
}
