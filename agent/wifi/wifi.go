// Package wifi finds the Wi-Fi network the device is connected to and how
// well its access point protects traffic, from NetworkManager's nmcli or
// from iw, and turns it into the fields of a wifi.seen event of the data
// inventory. The access point's hardware address leaves the device only as
// a keyed pseudonym.
//
// NetworkManager's D-Bus interface is not used: nmcli gives the same facts
// without a D-Bus client in the agent.
package wifi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"

	"github.com/herdsec/herd"
)

// Security is how an access point protects its traffic: the values of the
// inventory's wifi.seen "security" field.
type Security string

const (
	Open    Security = "open"     // no encryption (or OWE: encryption without authentication)
	WEP     Security = "wep"      // WEP, broken
	WPA     Security = "wpa"      // WPA (version 1) with CCMP only
	WPA2    Security = "wpa2"     // RSN with PSK or 802.1X, CCMP or GCMP only
	WPA3    Security = "wpa3"     // RSN with SAE or Suite B only
	WPATKIP Security = "wpa-tkip" // WPA or WPA2 that still offers TKIP
	Unknown Security = "unknown"  // the access point's protection could not be read
)

// EventType is the inventory event type that Network.Fields produces.
const EventType = "wifi.seen"

// Warning returns the text to show the person before they use a network of
// this protection, or "" when there is nothing to warn about.
func (s Security) Warning() string {
	switch s {
	case Open:
		return "This Wi-Fi network is open: what you send over it can be read by anyone nearby unless the app itself encrypts it, and anyone can set up an access point with the same name. Avoid signing in or paying over it, or use a VPN."
	case WEP:
		return "This Wi-Fi network uses WEP, an encryption that can be broken in minutes: treat it as open. If it is yours, switch the access point to WPA2 (AES) or WPA3."
	case WPATKIP:
		return "This Wi-Fi network still accepts TKIP, an outdated encryption with known attacks. If it is yours, set the access point to WPA2 with AES (CCMP) only, or to WPA3."
	}
	return ""
}

// Network is one Wi-Fi connection of the device.
//
// Only the pseudonym of BSSID and Security may leave the device (see
// Fields); the network's name and address stay local.
type Network struct {
	Interface string   // such as "wlp2s0"; "" when the tool does not say
	SSID      string   // the network's name; "" for a hidden network
	BSSID     string   // the access point's address, lower-case "aa:bb:cc:dd:ee:ff"
	Security  Security // Unknown when it could not be read
	Tool      string   // "nmcli" or "iw": where the facts came from
}

// Warning returns the warning text for n's security, or "".
func (n Network) Warning() string { return n.Security.Warning() }

// Fields returns n's fields for a wifi.seen event: the BSSID as a keyed
// pseudonym under key (see Pseudonym) and the security. The map passes
// inventory cleaning with nothing dropped.
func (n Network) Fields(key []byte) (map[string]any, error) {
	p, err := Pseudonym(key, n.BSSID)
	if err != nil {
		return nil, err
	}
	sec := n.Security
	switch sec {
	case Open, WEP, WPA, WPA2, WPA3, WPATKIP:
	default:
		sec = Unknown
	}
	return map[string]any{"bssid": p, "security": string(sec)}, nil
}

// MinKeySize is the shortest key Pseudonym accepts, in bytes (256 bits).
const MinKeySize = 32

// pseudonymSize is the bytes of HMAC output kept: 128 bits, as the cloud's
// device pseudonyms, so a pseudonym is 32 hex digits.
const pseudonymSize = 16

// bssidDomain separates BSSID pseudonyms from every other use of a key.
// Changing it changes every pseudonym.
const bssidDomain = "herd-bssid-v1\x00"

// Pseudonym returns the keyed pseudonym of an access point's hardware
// address: HMAC-SHA256 under key of a domain prefix and the address's six
// bytes, cut to 128 bits, in lower-case hex (32 digits, the inventory's
// form for keyed values).
//
// What it protects: the address of an access point locates a home or an
// office (public databases map addresses to places). The key is shared by
// the agents of a region, so the same access point gets the same pseudonym
// on every device and the cloud can count and warn about it, but without
// the key nobody — the cloud's telemetry store included — can test a
// guessed address against a pseudonym. The address is parsed first, so
// "AA-BB-…" and "aa:bb:…" give the same pseudonym.
func Pseudonym(key []byte, bssid string) (string, error) {
	if len(key) < MinKeySize {
		return "", herd.Errorf(herd.EINVALID, "wifi: pseudonym key is %d bytes, want at least %d", len(key), MinKeySize)
	}
	hw, err := net.ParseMAC(bssid)
	if err != nil || len(hw) != 6 {
		return "", herd.Errorf(herd.EINVALID, "wifi: BSSID is not a 6-byte hardware address")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(bssidDomain))
	m.Write(hw)
	return hex.EncodeToString(m.Sum(nil)[:pseudonymSize]), nil
}

// canonicalBSSID returns s as lower-case "aa:bb:cc:dd:ee:ff".
func canonicalBSSID(s string) (string, error) {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("BSSID is not a 6-byte hardware address")
	}
	return hw.String(), nil
}
