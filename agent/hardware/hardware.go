// Package hardware computes the machine's hardware fingerprint: a SHA-256 of
// identifiers that survive a reinstall of the operating system (the
// firmware's system UUID when readable, else the burnt-in addresses of the
// network interfaces, else the operating system's machine id). Only the hash leaves the machine, and the cloud keeps
// only a keyed hash of it, per licence.
package hardware

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
)

// dmiFiles hold the firmware's system identifiers on Linux.
var dmiFiles = []string{"/sys/class/dmi/id/product_uuid", "/sys/class/dmi/id/board_serial"}

// machineIDFiles hold the operating system's machine id.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// Fingerprint returns the machine's hardware fingerprint in hex.
func Fingerprint() (string, error) {
	var parts []string
	for _, f := range dmiFiles {
		if b, err := os.ReadFile(f); err == nil {
			if v := strings.TrimSpace(string(b)); v != "" && !placeholder(v) {
				parts = append(parts, "dmi:"+strings.ToLower(v))
			}
		}
	}
	if len(parts) == 0 {
		ifs, err := net.Interfaces()
		if err != nil {
			return "", err
		}
		for _, i := range ifs {
			a := i.HardwareAddr
			// Burnt-in addresses only: not loopback, not locally administered
			// (virtual interfaces, randomized addresses).
			if i.Flags&net.FlagLoopback != 0 || len(a) != 6 || a[0]&0x02 != 0 {
				continue
			}
			parts = append(parts, "mac:"+a.String())
		}
	}
	if len(parts) == 0 {
		// Virtual machines and containers may show neither: the operating
		// system's machine id is the last resort (it does not survive a
		// reinstall, so a reinstalled machine then takes a new seat).
		for _, f := range machineIDFiles {
			if b, err := os.ReadFile(f); err == nil {
				if v := strings.TrimSpace(string(b)); v != "" {
					parts = append(parts, "machine-id:"+v)
					break
				}
			}
		}
	}
	if len(parts) == 0 {
		return "", errors.New("hardware fingerprint: no firmware id, burnt-in network address or machine id readable")
	}
	slices.Sort(parts)
	return Of(parts...), nil
}

// Of returns the fingerprint of the given identifiers.
func Of(ids ...string) string {
	h := sha256.New()
	h.Write([]byte("herd-hardware-v1"))
	for _, id := range ids {
		h.Write([]byte{0})
		h.Write([]byte(id))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// placeholder reports firmware values that vendors leave unset.
func placeholder(v string) bool {
	v = strings.ToLower(v)
	return strings.Trim(v, "0-") == "" || strings.Trim(v, "f-") == "" || strings.Contains(v, "to be filled") || v == "default string" || v == "none"
}
