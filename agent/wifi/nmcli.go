package wifi

import (
	"errors"
	"fmt"
	"strings"
)

// nmcliFields are the columns Current asks nmcli for, in order.
var nmcliFields = []string{"ACTIVE", "SSID", "BSSID", "SECURITY", "WPA-FLAGS", "RSN-FLAGS", "DEVICE"}

// nmcliArgs is the nmcli command line: terse output (colon-separated, with
// ':' and '\' in values escaped by '\') of the access points already
// known, without a new scan.
var nmcliArgs = []string{"-t", "-e", "yes", "-f", strings.Join(nmcliFields, ","), "device", "wifi", "list", "--rescan", "no"}

// maxLineErrors bounds how many bad lines an error names one by one.
const maxLineErrors = 20

// ParseNmcli parses the output of
// `nmcli -t -e yes -f ACTIVE,SSID,BSSID,SECURITY,WPA-FLAGS,RSN-FLAGS,DEVICE device wifi list`
// and returns the networks the device is connected to (ACTIVE "yes"), in
// order. A line that is not in that form is skipped and named in the
// returned error (with its line number; values are not quoted, they may be
// personal); the other lines are still returned.
func ParseNmcli(out []byte) ([]Network, error) {
	var nets []Network
	var errs []error
	for n, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			continue
		}
		net, active, err := parseNmcliLine(line)
		if err != nil {
			if len(errs) < maxLineErrors {
				errs = append(errs, fmt.Errorf("nmcli: line %d: %w", n+1, err))
			}
			continue
		}
		if active {
			nets = append(nets, net)
		}
	}
	return nets, errors.Join(errs...)
}

func parseNmcliLine(line string) (Network, bool, error) {
	col, err := splitTerse(line)
	if err != nil {
		return Network{}, false, err
	}
	if len(col) != len(nmcliFields) {
		return Network{}, false, fmt.Errorf("%d fields, want %d (%s)", len(col), len(nmcliFields), strings.Join(nmcliFields, ","))
	}
	var active bool
	switch col[0] {
	case "yes":
		active = true
	case "no":
	default:
		return Network{}, false, errors.New(`ACTIVE is neither "yes" nor "no"`)
	}
	bssid, err := canonicalBSSID(col[2])
	if err != nil {
		return Network{}, false, err
	}
	n := Network{
		SSID:      col[1],
		BSSID:     bssid,
		Interface: col[6],
		Security:  nmcliProtection(col[3], col[4], col[5]).Classify(),
		Tool:      "nmcli",
	}
	if n.Interface == "--" {
		n.Interface = ""
	}
	return n, active, nil
}

// splitTerse splits a line of nmcli's terse output at unescaped ':' and
// removes the escaping backslashes.
func splitTerse(line string) ([]string, error) {
	var col []string
	var cur strings.Builder
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 == len(line) {
				return nil, errors.New("line ends in a lone backslash")
			}
			i++
			cur.WriteByte(line[i])
		case ':':
			col = append(col, cur.String())
			cur.Reset()
			if len(col) > len(nmcliFields) {
				return nil, fmt.Errorf("more than %d fields", len(nmcliFields))
			}
		default:
			cur.WriteByte(c)
		}
	}
	return append(col, cur.String()), nil
}

// nmcliProtection reads nmcli's SECURITY summary ("WPA1 WPA2", "WEP", "")
// and its WPA-FLAGS and RSN-FLAGS ("pair_tkip pair_ccmp group_tkip psk",
// "(none)"). The flags are what the access point advertises; the summary
// fills in when they are missing.
func nmcliProtection(security, wpaFlags, rsnFlags string) Protection {
	var p Protection
	for _, tok := range strings.Fields(security) {
		switch strings.ToUpper(tok) {
		case "WEP":
			p.Privacy = true
		case "WPA", "WPA1":
			p.Privacy, p.WPA = true, true
		case "WPA2":
			p.Privacy, p.RSN = true, true
		case "WPA3":
			p.Privacy, p.RSN = true, true
		case "OWE":
			p.Privacy, p.RSN = true, true
		case "802.1X", "--":
		default:
			p.UnknownAKM = true
		}
	}
	summary := p
	flags := func(s string, ie *bool) {
		s = strings.TrimSpace(s)
		if s == "" || s == "(none)" || s == "--" {
			return
		}
		*ie = true
		for _, tok := range strings.Fields(s) {
			switch {
			case strings.HasPrefix(tok, "pair_"):
				p.addCipher(strings.TrimPrefix(tok, "pair_"))
			case strings.HasPrefix(tok, "group_"):
				p.addCipher(strings.TrimPrefix(tok, "group_"))
			default:
				p.addAKM(tok)
			}
		}
	}
	flags(wpaFlags, &p.WPA)
	flags(rsnFlags, &p.RSN)
	if !p.LegacyAKM && !p.WPA3AKM && !p.OWE {
		// No key management in the flags: take it from the summary.
		up := strings.ToUpper(security)
		switch {
		case strings.Contains(up, "WPA2") || strings.Contains(up, "802.1X") || summary.WPA:
			p.LegacyAKM = true
		case strings.Contains(up, "WPA3"):
			p.WPA3AKM = true
		case strings.Contains(up, "OWE"):
			p.OWE = true
		}
	}
	return p
}
