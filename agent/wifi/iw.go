package wifi

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// IwLink is what `iw dev <if> link` says of a connection.
type IwLink struct {
	Connected bool
	BSSID     string // lower-case "aa:bb:cc:dd:ee:ff"
	SSID      string
	Interface string
}

// ParseIwLink parses the output of `iw dev <if> link`: "Not connected." or
// "Connected to <bssid> (on <if>)" followed by tab-indented details,
// among them "SSID: <name>" with iw's \xNN escapes.
func ParseIwLink(out []byte) (IwLink, error) {
	var l IwLink
	lines := strings.Split(string(out), "\n")
	first := strings.TrimSpace(lines[0])
	switch {
	case strings.HasPrefix(first, "Not connected"):
		return l, nil
	case strings.HasPrefix(first, "Connected to "):
	default:
		return l, errors.New(`iw link: line 1: want "Connected to <bssid>" or "Not connected."`)
	}
	rest := strings.TrimPrefix(first, "Connected to ")
	addr, on, _ := strings.Cut(rest, " ")
	bssid, err := canonicalBSSID(addr)
	if err != nil {
		return l, fmt.Errorf("iw link: line 1: %w", err)
	}
	l.Connected, l.BSSID = true, bssid
	if on = strings.TrimSpace(on); strings.HasPrefix(on, "(on ") && strings.HasSuffix(on, ")") {
		l.Interface = on[len("(on ") : len(on)-1]
	}
	for n, line := range lines[1:] {
		t := strings.TrimLeft(line, "\t ")
		if v, ok := strings.CutPrefix(t, "SSID: "); ok {
			if l.SSID, err = unescapeIw(v); err != nil {
				return l, fmt.Errorf("iw link: line %d: SSID: %w", n+2, err)
			}
			break
		}
	}
	return l, nil
}

// BSS is one access point of `iw dev <if> scan dump`.
type BSS struct {
	BSSID      string // lower-case "aa:bb:cc:dd:ee:ff"
	SSID       string
	Associated bool // iw marks the access point the interface is associated with
	Protection Protection
	Line       int // where its entry starts
}

// maxBSS bounds how many access points ParseIwScan returns.
const maxBSS = 4096

// ParseIwScan parses the output of `iw dev <if> scan` or `scan dump`: one
// entry per access point, starting with "BSS <bssid>(on <if>)" (and
// " -- associated" for the one in use), followed by tab-indented
// attributes. It reads the SSID, the capability's Privacy bit and the WPA
// and RSN elements' ciphers and authentication suites. An entry that cannot
// be read is skipped and named in the error (by line); the others are
// still returned.
func ParseIwScan(out []byte) ([]BSS, error) {
	var list []BSS
	var errs []error
	var cur *BSS
	section := "" // "WPA", "RSN" or "" for any other element
	bad := func(n int, err error) {
		if len(errs) < maxLineErrors {
			errs = append(errs, fmt.Errorf("iw scan: line %d: %w", n, err))
		}
	}
	for n, line := range strings.Split(string(out), "\n") {
		n++
		line = strings.TrimSuffix(line, "\r")
		if rest, ok := strings.CutPrefix(line, "BSS "); ok {
			section, cur = "", nil
			if len(list) >= maxBSS {
				bad(n, fmt.Errorf("more than %d access points; the rest are skipped", maxBSS))
				break
			}
			addr := rest
			if i := strings.IndexAny(rest, "( "); i >= 0 {
				addr = rest[:i]
			}
			bssid, err := canonicalBSSID(addr)
			if err != nil {
				bad(n, err)
				continue
			}
			list = append(list, BSS{BSSID: bssid, Associated: strings.HasSuffix(rest, "-- associated"), Line: n})
			cur = &list[len(list)-1]
			continue
		}
		if cur == nil || strings.TrimSpace(line) == "" {
			continue
		}
		if strings.HasPrefix(line, "\t") && !strings.HasPrefix(line, "\t\t") {
			// An attribute of the entry; it may carry the first item of
			// an element on the same line ("RSN:\t * Version: 1").
			key, val, _ := strings.Cut(line[1:], ":")
			val = strings.TrimLeft(val, " \t")
			section = ""
			switch key {
			case "SSID":
				ssid, err := unescapeIw(val)
				if err != nil {
					bad(n, fmt.Errorf("SSID: %w", err))
					continue
				}
				cur.SSID = ssid
			case "capability":
				for _, f := range strings.Fields(val) {
					if f == "Privacy" {
						cur.Protection.Privacy = true
					}
				}
			case "RSN", "WPA":
				section = key
				if key == "RSN" {
					cur.Protection.RSN = true
				} else {
					cur.Protection.WPA = true
				}
				cur.Protection.addItem(val)
			}
			continue
		}
		if section != "" {
			cur.Protection.addItem(strings.TrimLeft(line, " \t"))
		}
	}
	return list, errors.Join(errs...)
}

// addItem reads one item of a WPA or RSN element, "* Pairwise ciphers:
// TKIP CCMP" or "* Authentication suites: PSK SAE".
func (p *Protection) addItem(item string) {
	item, ok := strings.CutPrefix(item, "* ")
	if !ok {
		return
	}
	key, val, _ := strings.Cut(item, ":")
	switch key {
	case "Group cipher", "Pairwise ciphers":
		for _, c := range strings.Fields(val) {
			p.addCipher(c)
		}
	case "Authentication suites":
		for _, a := range strings.Fields(val) {
			p.addAKM(a)
		}
	}
}

// unescapeIw undoes iw's escaping of SSIDs: bytes that are not printable
// ASCII, a backslash, and a leading or trailing space are written \xNN.
func unescapeIw(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b = append(b, s[i])
			continue
		}
		if i+4 > len(s) || s[i+1] != 'x' {
			return "", errors.New(`a backslash not followed by "xNN"`)
		}
		v, err := strconv.ParseUint(s[i+2:i+4], 16, 8)
		if err != nil {
			return "", errors.New(`a backslash not followed by "xNN"`)
		}
		b = append(b, byte(v))
		i += 3
	}
	return string(b), nil
}

// ParseIwDev returns the names of the interfaces `iw dev` lists
// ("Interface <name>" lines) that are in managed (station) mode, or whose
// mode it does not say.
func ParseIwDev(out []byte) []string {
	var names []string
	var cur string
	mode := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "Interface":
			if validIface(f[1]) {
				cur = f[1]
				names = append(names, cur)
			} else {
				cur = ""
			}
		case len(f) == 2 && f[0] == "type" && cur != "":
			mode[cur] = f[1]
		}
	}
	out2 := names[:0]
	for _, n := range names {
		if m, ok := mode[n]; !ok || m == "managed" {
			out2 = append(out2, n)
		}
	}
	return out2
}

// validIface checks an interface name before it is passed to iw: Linux
// allows at most 15 bytes, and the name must not read as an option.
func validIface(s string) bool {
	if s == "" || len(s) > 15 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '@') {
			return false
		}
	}
	return true
}
