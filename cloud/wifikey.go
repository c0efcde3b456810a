package cloud

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/herdsec/herd/httpapi"
)

// The region's Wi-Fi key is not stored anywhere: it is derived from the
// identity vault's MAC key (DATA/identity/keys.json, which the telemetry
// side cannot read), so every replica that shares the vault derives the
// same key and nothing new holds a secret. There is one region for now.

// wifiKeyPurpose is the vault MAC purpose the key is derived under; no
// other use of the MAC key shares it.
const wifiKeyPurpose = "wifi-bssid-key"

// WiFiKeyVersion is the version of the region's Wi-Fi key. Raising it
// derives a new key (the version is part of the derivation), which agents
// take in place of theirs at their next check; pseudonyms made under the
// old key then no longer match the new ones.
const WiFiKeyVersion = 1

// keyMAC is the vault's keyed hash: the same purpose and data always give
// the same output, and nobody without the vault's key can compute it.
type keyMAC interface {
	MAC(purpose string, data []byte) (string, error)
}

// wifiKeys serves the one region's Wi-Fi key, derived once.
type wifiKeys struct {
	key httpapi.WiFiKey
}

var _ httpapi.WiFiKeyService = (*wifiKeys)(nil)

// newWiFiKeys derives the region's key of the given version: SHA-256 of
// the vault's MAC, under purpose wifi-bssid-key, of a label naming the
// version. Hashing the tag gives exactly 32 bytes whatever the MAC's
// output format (Tink prefixes its tags with the key's id).
func newWiFiKeys(v keyMAC, version uint64) (*wifiKeys, error) {
	tag, err := v.MAC(wifiKeyPurpose, fmt.Appendf(nil, "herd region wifi key, version %d", version))
	if err != nil {
		return nil, fmt.Errorf("wifi key: %w", err)
	}
	raw, err := hex.DecodeString(tag)
	if err != nil || len(raw) < sha256.Size {
		return nil, fmt.Errorf("wifi key: the vault's MAC is not %d bytes or more in hex", sha256.Size)
	}
	sum := sha256.Sum256(raw)
	k := httpapi.WiFiKey{Version: version, Key: sum[:]}
	if err := k.Check(); err != nil {
		return nil, err
	}
	return &wifiKeys{key: k}, nil
}

// WiFiKey implements httpapi.WiFiKeyService. It returns a copy: callers
// cannot change the key others get.
func (w *wifiKeys) WiFiKey(context.Context) (httpapi.WiFiKey, error) {
	return httpapi.WiFiKey{Version: w.key.Version, Key: append([]byte(nil), w.key.Key...)}, nil
}
