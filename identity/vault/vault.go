// Package vault holds the identity side's key material: the master AEAD
// that seals identity records and wraps each person's data key, and the MAC
// key that turns licence secrets and hardware fingerprints into lookup keys.
// The keys live in their own file (DATA/identity/keys.json, mode 0600), apart
// from the pseudonym keys and from JetStream. Only the identity service and
// the code that assembles the cloud import this package; a test keeps the
// telemetry packages from reaching it.
package vault

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/mac"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// File is the key file's name in the vault's folder.
const File = "keys.json"

const fileFormat = "herd-identity-vault-v1"

type file struct {
	Format string          `json:"format"`
	Master json.RawMessage `json:"master_aead_keyset"`
	MAC    json.RawMessage `json:"mac_keyset"`
}

// Vault seals and opens identity records.
type Vault struct {
	master tink.AEAD
	mac    tink.MAC
}

// Open loads the vault in dir, creating its keys on first use.
func Open(dir string) (*Vault, error) {
	path := filepath.Join(dir, File)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return create(dir, path)
	}
	if err != nil {
		return nil, fmt.Errorf("identity keys: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 && runtime.GOOS != "windows" {
		return nil, fmt.Errorf("identity keys %s: mode %#o lets group or others read the keys that protect identity data; chmod 600 it", path, st.Mode().Perm())
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil || f.Format != fileFormat {
		return nil, fmt.Errorf("identity keys %s: not a %s file", path, fileFormat)
	}
	mh, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(f.Master)))
	if err != nil {
		return nil, fmt.Errorf("identity keys %s: master keyset: %w", path, err)
	}
	kh, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(f.MAC)))
	if err != nil {
		return nil, fmt.Errorf("identity keys %s: MAC keyset: %w", path, err)
	}
	return fromHandles(mh, kh)
}

func create(dir, path string) (*Vault, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("identity keys: %w", err)
	}
	mh, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, err
	}
	kh, err := keyset.NewHandle(mac.HMACSHA256Tag256KeyTemplate())
	if err != nil {
		return nil, err
	}
	var mb, kb bytes.Buffer
	if err := insecurecleartextkeyset.Write(mh, keyset.NewJSONWriter(&mb)); err != nil {
		return nil, err
	}
	if err := insecurecleartextkeyset.Write(kh, keyset.NewJSONWriter(&kb)); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(file{Format: fileFormat, Master: mb.Bytes(), MAC: kb.Bytes()}, "", "  ")
	if err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		return nil, fmt.Errorf("identity keys: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("identity keys: %w", err)
	}
	return fromHandles(mh, kh)
}

func fromHandles(mh, kh *keyset.Handle) (*Vault, error) {
	m, err := aead.New(mh)
	if err != nil {
		return nil, fmt.Errorf("identity keys: master: %w", err)
	}
	k, err := mac.New(kh)
	if err != nil {
		return nil, fmt.Errorf("identity keys: MAC: %w", err)
	}
	return &Vault{master: m, mac: k}, nil
}

// Seal encrypts a record under the master key, bound to ad (its bucket and key).
func (v *Vault) Seal(plain, ad []byte) ([]byte, error) { return v.master.Encrypt(plain, ad) }

// Open decrypts what Seal sealed with the same ad.
func (v *Vault) Open(sealed, ad []byte) ([]byte, error) { return v.master.Decrypt(sealed, ad) }

// MAC returns a keyed hash of data for one purpose, in hex: the same input
// gives the same output, and nobody without the key can compute or invert it.
func (v *Vault) MAC(purpose string, data []byte) (string, error) {
	in := make([]byte, 0, len(purpose)+1+len(data))
	in = append(append(append(in, purpose...), 0), data...)
	tag, err := v.mac.ComputeMAC(in)
	if err != nil {
		return "", err
	}
	return hex.EncodeToString(tag), nil
}

// NewDataKey makes a new data key (a Tink AES-256-GCM keyset) and returns it
// wrapped under the master key, bound to ad, with the AEAD it gives.
func (v *Vault) NewDataKey(ad []byte) (wrapped []byte, key tink.AEAD, err error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return nil, nil, err
	}
	var b bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&b), v.master, ad); err != nil {
		return nil, nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return nil, nil, err
	}
	return b.Bytes(), a, nil
}

// DataKey unwraps a data key that NewDataKey made with the same ad.
func (v *Vault) DataKey(wrapped, ad []byte) (tink.AEAD, error) {
	h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(wrapped)), v.master, ad)
	if err != nil {
		return nil, fmt.Errorf("data key: %w", err)
	}
	return aead.New(h)
}
