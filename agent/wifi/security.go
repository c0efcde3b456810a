package wifi

import "strings"

// Protection is what an access point advertises about its security, as
// read from its beacon's capability and its WPA and RSN elements.
type Protection struct {
	Privacy bool // the capability's Privacy bit: some encryption (WEP when there is no WPA or RSN element)
	WPA     bool // a WPA (version 1) element
	RSN     bool // an RSN element (WPA2, WPA3)

	WEPCipher bool // a WEP-40 or WEP-104 cipher is offered, pairwise or group
	TKIP      bool // TKIP is offered, pairwise or group

	LegacyAKM  bool // PSK or 802.1X key management (WPA2-class)
	WPA3AKM    bool // SAE or Suite B key management
	OWE        bool // Opportunistic Wireless Encryption
	UnknownAKM bool // a key management suite not known here
}

// Classify returns the protection as the inventory's security value. An
// access point is rated by the weakest protection it accepts, since an
// attacker can force a client down to it: a WPA2/WPA3 transition network
// is WPA2, a WPA/WPA2 network that offers TKIP is WPA-TKIP.
func (p Protection) Classify() Security {
	switch {
	case !p.WPA && !p.RSN:
		if p.UnknownAKM {
			return Unknown // a scheme not known here
		}
		if p.Privacy {
			return WEP
		}
		return Open
	case p.WEPCipher:
		return WEP
	case p.TKIP:
		return WPATKIP
	case p.WPA:
		return WPA
	case p.LegacyAKM:
		return WPA2
	case p.WPA3AKM:
		return WPA3
	case p.OWE:
		// Encrypted, but anyone may join and anyone may pose as the
		// access point: as exposed as an open network.
		return Open
	}
	return Unknown
}

// addCipher notes one cipher suite name, as iw ("CCMP", "WEP-104") or
// nmcli ("ccmp", "wep104") spells it.
func (p *Protection) addCipher(name string) {
	switch n := strings.ToUpper(name); {
	case n == "TKIP":
		p.TKIP = true
	case strings.HasPrefix(n, "WEP"):
		p.WEPCipher = true
	}
}

// addAKM notes one key management suite name, as iw spells it ("PSK",
// "FT/SAE", "IEEE 802.1X/SUITE-B-192" split at spaces) or nmcli does ("psk",
// "sae", "802.1X", "eap_suite_b_192").
func (p *Protection) addAKM(name string) {
	switch strings.ToUpper(strings.TrimPrefix(name, "FT/")) {
	case "IEEE", "AP", "PEERKEY", "":
		// parts of iw's multi-word names ("IEEE 802.1X", "AP PeerKey")
	case "PSK", "PSK/SHA-256", "802.1X", "802.1X/SHA-256", "FILS/SHA-256", "FILS/SHA-384":
		p.LegacyAKM = true
	case "SAE", "SAE-EXT-KEY", "802.1X/SUITE-B", "802.1X/SUITE-B-192", "802.1X/SHA-384", "EAP_SUITE_B_192":
		p.WPA3AKM = true
	case "OWE", "OWE_TM":
		p.OWE = true
	default:
		p.UnknownAKM = true
	}
}
