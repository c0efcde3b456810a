package herd

import (
	"net/netip"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Kind is the kind of an object the network keeps verdicts on.
type Kind string

const (
	KindSHA256 Kind = "sha256"
	KindSHA1   Kind = "sha1"
	KindMD5    Kind = "md5"
	KindURL    Kind = "url"
	KindDomain Kind = "domain"
	KindIP     Kind = "ip"
)

// Kinds lists every object kind.
var Kinds = []Kind{KindSHA256, KindSHA1, KindMD5, KindURL, KindDomain, KindIP}

// HexLen returns the length in hex digits of a hash kind, or 0 for other kinds.
func (k Kind) HexLen() int {
	switch k {
	case KindSHA256:
		return 64
	case KindSHA1:
		return 40
	case KindMD5:
		return 32
	}
	return 0
}

// MaxURLLen bounds a URL object's length in bytes.
const MaxURLLen = 4096

// Object is a thing that can have a verdict: a file hash, a URL, a domain, an IP address.
type Object struct {
	Kind  Kind   `json:"kind"`
	Value string `json:"value"`
}

// String returns "kind:value", the form used on the command line.
func (o Object) String() string { return string(o.Kind) + ":" + o.Value }

// ParseObject parses "kind:value" and normalizes it.
func ParseObject(s string) (Object, error) {
	kind, value, ok := strings.Cut(s, ":")
	if !ok {
		return Object{}, Errorf(EINVALID, "object %q: want KIND:VALUE, e.g. sha256:275a02…", s)
	}
	return Object{Kind: Kind(kind), Value: value}.Normalize()
}

// Normalize validates o and returns its canonical form: hashes in lower-case
// hex, domains in lower-case ASCII (IDNA) without a trailing dot, IP addresses
// in their canonical text form, URLs with a lower-case scheme and host.
// The error names what is wrong.
func (o Object) Normalize() (Object, error) {
	switch o.Kind {
	case KindSHA256, KindSHA1, KindMD5:
		v, err := normalizeHex(o.Value, o.Kind.HexLen())
		if err != nil {
			return o, Errorf(EINVALID, "%s %q: %s", o.Kind, clip(o.Value), err.Error())
		}
		return Object{Kind: o.Kind, Value: v}, nil
	case KindDomain:
		v, err := NormalizeDomain(o.Value)
		if err != nil {
			return o, Errorf(EINVALID, "domain %q: %s", clip(o.Value), err.Error())
		}
		return Object{Kind: o.Kind, Value: v}, nil
	case KindIP:
		a, err := netip.ParseAddr(o.Value)
		if err != nil || a.Zone() != "" {
			return o, Errorf(EINVALID, "ip %q: not an IPv4 or IPv6 address", clip(o.Value))
		}
		return Object{Kind: o.Kind, Value: a.Unmap().String()}, nil
	case KindURL:
		v, err := normalizeURL(o.Value)
		if err != nil {
			return o, Errorf(EINVALID, "url %q: %s", clip(o.Value), err.Error())
		}
		return Object{Kind: o.Kind, Value: v}, nil
	case "":
		return o, Errorf(EINVALID, "kind: missing")
	}
	return o, Errorf(EINVALID, "kind %q: unknown (want sha256, sha1, md5, url, domain or ip)", clip(string(o.Kind)))
}

type problem string

func (p problem) Error() string { return string(p) }

func normalizeHex(s string, n int) (string, error) {
	if len(s) != n {
		return "", problem("want " + itoa(n) + " hex digits, got " + itoa(len(s)) + " characters")
	}
	lower := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			lower = false
			break
		}
	}
	if lower {
		return s, nil // the common case: no copy
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", problem("not a hex digit at position " + itoa(i+1))
		}
	}
	return string(b), nil
}

var domainProfile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.StrictDomainName(false))

// NormalizeDomain returns the lower-case ASCII form of a host name.
func NormalizeDomain(s string) (string, error) {
	if s == "" {
		return "", problem("empty")
	}
	if len(s) > 1024 {
		return "", problem("longer than 253 characters")
	}
	if !utf8.ValidString(s) {
		return "", problem("not valid UTF-8")
	}
	a, err := domainProfile.ToASCII(strings.TrimSuffix(s, "."))
	if err != nil {
		return "", problem("not a valid host name")
	}
	a = strings.ToLower(a)
	if len(a) > 253 {
		return "", problem("longer than 253 characters")
	}
	for _, label := range strings.Split(a, ".") {
		if label == "" {
			return "", problem("empty label")
		}
		if len(label) > 63 {
			return "", problem("label longer than 63 characters")
		}
		for _, c := range []byte(label) {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return "", problem("character " + quoteByte(c) + " not allowed in a host name")
			}
		}
	}
	return a, nil
}

func normalizeURL(s string) (string, error) {
	if s == "" {
		return "", problem("empty")
	}
	if len(s) > MaxURLLen {
		return "", problem("longer than " + itoa(MaxURLLen) + " bytes")
	}
	if !utf8.ValidString(s) {
		return "", problem("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			return "", problem("contains white space or control characters")
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", problem("does not parse")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "http", "https", "ftp", "ws", "wss":
	case "":
		return "", problem("no scheme (want http:// or https://)")
	default:
		return "", problem("scheme " + u.Scheme + " not supported")
	}
	if u.Host == "" {
		return "", problem("no host")
	}
	host := u.Hostname()
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		host = a.Unmap().String()
		if a.Is6() && !a.Is4In6() {
			host = "[" + host + "]"
		}
	} else if host, err = NormalizeDomain(host); err != nil {
		return "", problem("host: " + err.Error())
	}
	if p := u.Port(); p != "" {
		host += ":" + p
	}
	u.Host = host
	return u.String(), nil
}

func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}

func quoteByte(c byte) string {
	if c >= 0x20 && c < 0x7f {
		return "'" + string(rune(c)) + "'"
	}
	return "0x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
