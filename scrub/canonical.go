package scrub

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/herdsec/herd"
	"golang.org/x/net/idna"
)

// Canonicalize returns the canonical form of a URL as Google Safe Browsing
// defines it (developers.google.com/safe-browsing/v4/urls-hashing), so that
// reputation lookups and lists built from Safe Browsing-style data agree on
// which URL is meant:
//
//   - leading and trailing spaces, then tab, CR and LF, are removed;
//   - the fragment is removed;
//   - the URL is percent-unescaped until it no longer changes;
//   - a missing scheme means http; the scheme is lower-cased;
//   - the host loses user information and port, leading and trailing dots,
//     runs of dots; an IPv4 address in any legal form (decimal, octal, hex,
//     fewer than four parts: 3279880203, 0x12.0x43.0x44.0x01) becomes four
//     decimal parts; an IPv6 address its canonical form; a name is
//     lower-cased and an internationalized one converted to punycode;
//   - the path resolves "/./" and "/../" and collapses "//", and is "/" if empty;
//   - the query is kept, unnormalized;
//   - in host, path and query, bytes <= 0x20, >= 0x7f, '#' and '%' are
//     percent-escaped (upper-case hex).
//
// It returns EINVALID if the URL has no host, a scheme without "//"
// (mailto:…), a non-numeric port, an IPv6 address without brackets, or is longer than herd.MaxURLLen bytes.
// Canonicalize is for lookups, not for telemetry: it keeps everything URL
// removes.
func Canonicalize(raw string) (string, error) {
	if len(raw) > herd.MaxURLLen {
		return "", herd.Errorf(herd.EINVALID, "url: longer than %d bytes", herd.MaxURLLen)
	}
	s := strings.TrimSpace(raw)
	if strings.ContainsAny(s, "\t\r\n") {
		s = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(s)
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s = s[:i]
	}
	s = unescapeAll(s)

	scheme, rest := splitScheme(s)
	if scheme == "" {
		scheme = "http"
	} else {
		if !strings.HasPrefix(rest, "//") {
			return "", invalidURL(raw, "no host")
		}
		rest = rest[2:]
	}
	query, hasQuery := "", false
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		rest, query, hasQuery = rest[:i], rest[i+1:], true
	}
	hostish, path := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		hostish, path = rest[:i], rest[i:]
	}
	host, err := canonicalHost(hostish)
	if err != "" {
		return "", invalidURL(raw, err)
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(strings.ToLower(scheme)) // ASCII by splitScheme
	b.WriteString("://")
	b.WriteString(host)
	b.WriteString(escapeSB(canonicalPath(path)))
	if hasQuery {
		b.WriteByte('?')
		b.WriteString(escapeSB(query))
	}
	if b.Len() > herd.MaxURLLen {
		return "", herd.Errorf(herd.EINVALID, "url: longer than %d bytes once canonical", herd.MaxURLLen)
	}
	return b.String(), nil
}

func invalidURL(raw, why string) error {
	if len(raw) > 80 {
		raw = raw[:77] + "..."
	}
	return herd.Errorf(herd.EINVALID, "url %q: %s", raw, why)
}

// unescapeAll percent-unescapes s until it no longer changes. Each round
// shortens s, so it ends.
func unescapeAll(s string) string {
	for strings.IndexByte(s, '%') >= 0 {
		t := unescapeOnce(s)
		if t == s {
			break
		}
		s = t
	}
	return s
}

func unescapeOnce(s string) string {
	var b []byte
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]) {
			if b == nil {
				b = make([]byte, 0, len(s))
				b = append(b, s[:i]...)
			}
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		if b != nil {
			b = append(b, s[i])
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// escapeSB percent-escapes what Safe Browsing says must be: bytes <= 0x20,
// >= 0x7f, '#' and '%'.
func escapeSB(s string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '#' || c == '%' {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '#' || c == '%' {
			b = append(b, '%', hex[c>>4], hex[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

// splitScheme splits "scheme:rest". A colon followed by a port
// ("www.google.com:80/") does not end a scheme.
func splitScheme(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isAlpha(c):
		case isDigit(c) || c == '+' || c == '-' || c == '.':
			if i == 0 {
				return "", s
			}
		case c == ':':
			if i == 0 || isPortAt(s, i) {
				return "", s
			}
			return s[:i], s[i+1:]
		default:
			return "", s
		}
	}
	return "", s
}

// isPortAt reports whether s[i] (':') starts a port: digits, then '/' or the end.
func isPortAt(s string, i int) bool {
	j := i + 1
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return j > i+1 && (j == len(s) || s[j] == '/' || s[j] == '?')
}

// canonicalHost canonicalizes "userinfo@host:port"; a non-empty string is
// what is wrong.
func canonicalHost(h string) (string, string) {
	if i := strings.LastIndexByte(h, '@'); i >= 0 {
		h = h[i+1:]
	}
	if strings.HasPrefix(h, "[") {
		j := strings.IndexByte(h, ']')
		if j < 0 {
			return "", "missing ']' in host"
		}
		if rest := h[j+1:]; rest != "" && !(rest[0] == ':' && allDigits(rest[1:])) {
			return "", "bad port"
		}
		a, err := netip.ParseAddr(h[1:j])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "bad IPv6 address"
		}
		return "[" + a.String() + "]", ""
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 {
		if !allDigits(h[i+1:]) {
			return "", "bad port"
		}
		h = h[:i]
		if strings.IndexByte(h, ':') >= 0 {
			return "", "bad host" // an IPv6 address must be in brackets
		}
	}
	if !isASCII(h) && utf8.ValidString(h) {
		if a, err := idna.Lookup.ToASCII(collapseDots(h)); err == nil {
			h = a
		}
	}
	h = collapseDots(h)
	if h == "" {
		return "", "no host"
	}
	if strings.ContainsAny(h, "[]") {
		return "", "bad host" // brackets only around an IPv6 address
	}
	if ip, ok := parseIPv4Loose(h); ok {
		return ip, ""
	}
	return escapeSB(string(toLowerASCII(make([]byte, 0, len(h)), h))), ""
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// collapseDots replaces runs of dots by one and trims dots at both ends.
func collapseDots(h string) string {
	if !strings.Contains(h, "..") && !strings.HasPrefix(h, ".") && !strings.HasSuffix(h, ".") {
		return h
	}
	b := make([]byte, 0, len(h))
	for i := 0; i < len(h); i++ {
		if h[i] == '.' && (len(b) == 0 || b[len(b)-1] == '.') {
			continue
		}
		b = append(b, h[i])
	}
	for len(b) > 0 && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return string(b)
}

// parseIPv4Loose parses an IPv4 address the way the resolvers Safe Browsing
// follows do: one to four parts, each decimal, octal (leading 0) or hex (0x);
// the last part fills the remaining bytes. A short dotted-decimal address
// followed by a space and anything (the Windows resolver's "1.2.3.4 xy") is
// that address.
func parseIPv4Loose(h string) (string, bool) {
	if len(h) <= 15 {
		if i := strings.IndexByte(h, ' '); i > 0 && strictDotted(h[:i]) {
			h = h[:i]
		}
	}
	var parts [4]string
	n := 0
	for _, p := range strings.Split(h, ".") {
		if n == 4 {
			return "", false
		}
		parts[n] = p
		n++
	}
	var out [4]byte
	for i := 0; i < n; i++ {
		v, ok := parseIPPart(parts[i])
		if !ok {
			return "", false
		}
		if i < n-1 {
			out[i] = byte(v) // as Google's client does: the low byte
			continue
		}
		for k := 3; k >= i; k-- {
			out[k] = byte(v)
			v >>= 8
		}
	}
	return netip.AddrFrom4(out).String(), true
}

func strictDotted(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return false
	}
	for _, p := range parts {
		if p == "" || len(p) > 3 || !allDigits(p) {
			return false
		}
	}
	return true
}

// parseIPPart parses one part of an IPv4 address: 0x… hex, 0… octal or decimal,
// at most 32 bits.
func parseIPPart(p string) (uint64, bool) {
	if p == "" {
		return 0, false
	}
	base, digits := 10, p
	switch {
	case len(p) > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'):
		base, digits = 16, p[2:]
	case len(p) > 1 && p[0] == '0':
		base, digits = 8, p[1:]
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !(base == 16 && isHexByte(c) || base == 10 && isDigit(c) || base == 8 && '0' <= c && c <= '7') {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(digits, base, 32)
	return v, err == nil
}

// canonicalPath resolves "." and ".." segments and collapses "//"; a path
// that ended in '/' (or in "/." or "/..") still does.
func canonicalPath(p string) string {
	if p == "" {
		return "/"
	}
	segs := strings.Split(p, "/")
	out := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	res := "/" + strings.Join(out, "/")
	last := segs[len(segs)-1]
	if len(out) > 0 && (last == "" || last == "." || last == "..") {
		res += "/"
	}
	return res
}
