package wifi_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/herdsec/herd/agent/wifi"
)

var securities = map[wifi.Security]bool{wifi.Open: true, wifi.WEP: true, wifi.WPA: true, wifi.WPA2: true, wifi.WPA3: true, wifi.WPATKIP: true, wifi.Unknown: true}

func addRecorded(f *testing.F, file string) {
	f.Helper()
	paths, _ := filepath.Glob(filepath.Join("testdata", "*", file))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func checkBSSID(t *testing.T, s string) {
	t.Helper()
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 || hw.String() != s {
		t.Fatalf("BSSID %q is not canonical", s)
	}
}

// FuzzParseNmcli: any input gives canonical BSSIDs and a valid security,
// and a line built by escaping values the way nmcli does reads back as
// those values.
func FuzzParseNmcli(f *testing.F) {
	addRecorded(f, "nmcli.txt")
	f.Add([]byte("yes:a\\:b\\\\:AA\\:BB\\:CC\\:DD\\:EE\\:FF:WPA2:(none):(none):wlan0\\"))
	f.Fuzz(func(t *testing.T, out []byte) {
		nets, _ := wifi.ParseNmcli(out)
		for _, n := range nets {
			checkBSSID(t, n.BSSID)
			if !securities[n.Security] || n.Tool != "nmcli" {
				t.Fatalf("network %+v", n)
			}
		}
		// Round trip: the input as an SSID.
		ssid := strings.NewReplacer("\n", "", "\r", "").Replace(string(out))
		esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`).Replace(ssid)
		line := "yes:" + esc + `:02\:00\:00\:00\:00\:01:WPA2:(none):pair_ccmp group_ccmp psk:wlan0`
		nets, err := wifi.ParseNmcli([]byte(line))
		if err != nil || len(nets) != 1 || nets[0].SSID != ssid || nets[0].Security != wifi.WPA2 {
			t.Fatalf("round trip of SSID %q: %+v, %v", ssid, nets, err)
		}
	})
}

// FuzzParseIwScan: any input gives canonical BSSIDs and a valid
// classification; an SSID escaped the way iw does reads back.
func FuzzParseIwScan(f *testing.F) {
	addRecorded(f, "iw-scan.txt")
	f.Fuzz(func(t *testing.T, out []byte) {
		list, _ := wifi.ParseIwScan(out)
		for _, b := range list {
			checkBSSID(t, b.BSSID)
			if !securities[b.Protection.Classify()] || b.Line < 1 {
				t.Fatalf("entry %+v", b)
			}
		}
		if len(out) > 32 {
			out = out[:32] // an SSID is at most 32 bytes
		}
		scan := "BSS 02:00:00:00:00:01(on wlan0) -- associated\n\tcapability: ESS (0x0001)\n\tSSID: " + iwEscape(out) + "\n"
		list, err := wifi.ParseIwScan([]byte(scan))
		if err != nil || len(list) != 1 || list[0].SSID != string(out) || list[0].Protection.Classify() != wifi.Open {
			t.Fatalf("round trip of SSID %q: %+v, %v", out, list, err)
		}
	})
}

// FuzzParseIwLink: a connection always has a canonical BSSID, "not
// connected" carries nothing else, and ParseIwDev only returns names safe
// to pass to iw.
func FuzzParseIwLink(f *testing.F) {
	addRecorded(f, "iw-link.txt")
	addRecorded(f, "iw-dev.txt")
	f.Fuzz(func(t *testing.T, out []byte) {
		l, err := wifi.ParseIwLink(out)
		if err == nil && l.Connected {
			checkBSSID(t, l.BSSID)
		}
		if err == nil && !l.Connected && (l.BSSID != "" || l.SSID != "") {
			t.Fatalf("not connected, yet %+v", l)
		}
		for _, name := range wifi.ParseIwDev(out) {
			if name == "" || name[0] == '-' || len(name) > 15 || !utf8.ValidString(name) {
				t.Fatalf("interface name %q", name)
			}
		}
	})
}

// iwEscape writes an SSID the way iw prints it.
func iwEscape(b []byte) string {
	var s strings.Builder
	for i, c := range b {
		switch {
		case c > 0x20 && c < 0x7f && c != '\\':
			s.WriteByte(c)
		case c == ' ' && i != 0 && i != len(b)-1:
			s.WriteByte(' ')
		default:
			s.WriteString(`\x`)
			s.WriteString("0123456789abcdef"[c>>4 : c>>4+1])
			s.WriteString("0123456789abcdef"[c&15 : c&15+1])
		}
	}
	return s.String()
}
