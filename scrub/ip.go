package scrub

import "net/netip"

// IP truncates an address so that it names a network, not a subscriber:
// IPv4 to its /24 ("192.0.2.33" → "192.0.2.0") and IPv6 to its /48
// ("2001:db8:1:2::5" → "2001:db8:1::"), the prefixes commonly assigned to one
// site. A /48 of a 6to4 address (2002::/16) would still hold the whole IPv4
// address it embeds, so it is cut to /40, which holds that address's /24.
// IPv4-mapped IPv6 addresses are treated as IPv4; zones are dropped.
// ok=false if s is not an address.
func IP(s string) (out string, ok bool) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	a = a.WithZone("").Unmap()
	p, err := a.Prefix(prefixBits(a))
	if err != nil {
		return "", false
	}
	return p.Addr().String(), true
}

func prefixBits(a netip.Addr) int {
	if a.Is4() {
		return 24
	}
	if b := a.As16(); b[0] == 0x20 && b[1] == 0x02 {
		return 40 // 6to4: 2002:AABB:CCDD::/48 embeds AA.BB.CC.DD
	}
	return 48
}
