package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/wifi"
)

// The region's Wi-Fi key: agents turn an access point's hardware address
// (BSSID) into a keyed pseudonym before it leaves the device (wifi.seen,
// package agent/wifi). The key is shared by the agents of a region, so the
// same access point looks the same from every device; it is handed only
// to enrolled devices (GET /v1/keys/wifi), never to operators or to
// anyone without a device certificate, and the telemetry store never holds
// it, so nobody reading stored events can test a guessed address against
// a pseudonym.

// MaxWiFiKeySize bounds the key a cloud may hand out, in bytes.
const MaxWiFiKeySize = 64

// maxWiFiKeyBody bounds an answer of GET /v1/keys/wifi: the key in
// base64, the version and the JSON around them.
const maxWiFiKeyBody = 1 << 10

// WiFiKey is the region's key for access point pseudonyms.
type WiFiKey struct {
	// Version counts the region's keys, from 1; a new key gets a higher one.
	Version uint64 `json:"version"`
	// Key is the secret (wifi.MinKeySize to MaxWiFiKeySize bytes; base64 in JSON).
	Key []byte `json:"key"`
}

// Check returns an EINVALID error naming the field that is out of range.
func (k WiFiKey) Check() error {
	if k.Version == 0 {
		return herd.Errorf(herd.EINVALID, "wifi key: version: must be at least 1")
	}
	if len(k.Key) < wifi.MinKeySize || len(k.Key) > MaxWiFiKeySize {
		return herd.Errorf(herd.EINVALID, "wifi key: key: %d bytes, want %d to %d", len(k.Key), wifi.MinKeySize, MaxWiFiKeySize)
	}
	return nil
}

// WiFiKeyService holds the region's Wi-Fi key.
//
// It protects the key from everyone but the region's agents: the server
// calls it only for a request whose device certificate it authenticated.
type WiFiKeyService interface {
	// WiFiKey returns the current key, which passes Check. Every call on
	// every replica of one cloud returns the same key until its version
	// changes. EUNAVAILABLE: the key cannot be read now.
	WiFiKey(ctx context.Context) (WiFiKey, error)
}

func (s *Server) handleWiFiKey(w http.ResponseWriter, r *http.Request) {
	// The device wrapper lets every request through when the server asks
	// for no device certificates (plain HTTP, development); the key is
	// still only for an authenticated device.
	if _, ok := DeviceOf(r); !ok {
		s.writeError(w, r, herd.Errorf(herd.EUNAUTHORIZED, "the Wi-Fi key is for enrolled devices only: enroll this device first (herd enroll)"))
		return
	}
	if s.WiFiKeys == nil {
		s.writeError(w, r, herd.Errorf(herd.EUNAVAILABLE, "this cloud hands out no Wi-Fi key"))
		return
	}
	k, err := s.WiFiKeys.WiFiKey(r.Context())
	if err == nil {
		if cerr := k.Check(); cerr != nil {
			// The service's fault, not the agent's: never hand out a key
			// too short to protect anything.
			s.Logger.Error("wifi key not served", "err", cerr)
			err = herd.Errorf(herd.EINTERNAL, "the Wi-Fi key is not usable")
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, k)
}

// DecodeWiFiKey reads an answer of GET /v1/keys/wifi: one JSON object
// with exactly the fields of WiFiKey, which must pass Check.
func DecodeWiFiKey(r io.Reader) (WiFiKey, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxWiFiKeyBody+1))
	if err != nil {
		return WiFiKey{}, &herd.Error{Code: herd.EUNAVAILABLE, Message: "wifi key: answer broken: " + err.Error()}
	}
	if len(b) > maxWiFiKeyBody {
		return WiFiKey{}, herd.Errorf(herd.EINVALID, "wifi key: answer is more than %d bytes", maxWiFiKeyBody)
	}
	var k WiFiKey
	if err := decodeJSON(bytes.NewReader(b), &k); err != nil {
		return WiFiKey{}, fmt.Errorf("wifi key: %w", err)
	}
	if err := k.Check(); err != nil {
		return WiFiKey{}, err
	}
	return k, nil
}

// WiFiKey fetches the region's Wi-Fi key (enrolled devices only).
func (c *Client) WiFiKey(ctx context.Context) (WiFiKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+"/v1/keys/wifi", nil)
	if err != nil {
		return WiFiKey{}, err
	}
	res, err := c.httpClient().Do(req)
	if err != nil {
		return WiFiKey{}, &herd.Error{Code: herd.EUNAVAILABLE, Message: fmt.Sprintf("cloud %s unreachable: %v", c.BaseURL, err)}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return WiFiKey{}, responseError(res)
	}
	return DecodeWiFiKey(res.Body)
}
