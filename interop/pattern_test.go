package interop

import (
	"strings"
	"testing"

	"github.com/herdsec/herd"
)

func TestParsePattern(t *testing.T) {
	sha256 := strings.Repeat("a1", 32)
	for _, tt := range []struct {
		pattern string
		want    herd.Object
	}{
		{"[file:hashes.'SHA-256' = '" + sha256 + "']", herd.Object{Kind: herd.KindSHA256, Value: sha256}},
		{"[file:hashes.SHA256 = '" + sha256 + "']", herd.Object{Kind: herd.KindSHA256, Value: sha256}},
		{"[file:hashes.sha256='" + sha256 + "']", herd.Object{Kind: herd.KindSHA256, Value: sha256}},
		{"[file:hashes.'SHA-1' == 'x']", herd.Object{Kind: herd.KindSHA1, Value: "x"}},
		{"[file:hashes.SHA1 = 'x']", herd.Object{Kind: herd.KindSHA1, Value: "x"}},
		{"[file:hashes.MD5 = 'x']", herd.Object{Kind: herd.KindMD5, Value: "x"}},
		{"[file:hashes.'md5' = 'x']", herd.Object{Kind: herd.KindMD5, Value: "x"}},
		{"[url:value = 'http://x.test/a\\'b\\\\c']", herd.Object{Kind: herd.KindURL, Value: `http://x.test/a'b\c`}},
		{"  ( ( [ ( domain-name:value = 'x.test' ) ] ) )  ", herd.Object{Kind: herd.KindDomain, Value: "x.test"}},
		{"/* from feed 7 */ [domain-name:value = 'x.test'] // C2\n", herd.Object{Kind: herd.KindDomain, Value: "x.test"}},
		{"[ipv4-addr:value = '192.0.2.1']", herd.Object{Kind: herd.KindIP, Value: "192.0.2.1"}},
		{"[ipv4-addr:value = '192.0.2.1/32']", herd.Object{Kind: herd.KindIP, Value: "192.0.2.1"}},
		{"[ipv6-addr:value = '2001:db8::1']", herd.Object{Kind: herd.KindIP, Value: "2001:db8::1"}},
		{"[ipv6-addr:value = '2001:db8::1/128']", herd.Object{Kind: herd.KindIP, Value: "2001:db8::1"}},
		{"[url:value = 'ünïcode']", herd.Object{Kind: herd.KindURL, Value: "ünïcode"}}, // Normalize judges the value
	} {
		got, _, err := parsePattern(tt.pattern)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.pattern, got, err, tt.want)
		}
	}

	for _, tt := range []struct{ pattern, want string }{
		{"", `unexpected the end at position 1 where an observation [ … ] should start`},
		{"[domain-name:value = 'a.test'] AND [domain-name:value = 'b.test']", "AND at position 32: patterns that combine expressions are not supported"},
		{"[domain-name:value = 'a.test' OR domain-name:value = 'b.test']", "OR at position 31: patterns that combine"},
		{"[domain-name:value = 'a.test'] FOLLOWEDBY [url:value = 'x']", "FOLLOWEDBY at position 32"},
		{"([domain-name:value = 'a.test'] OR [url:value = 'x'])", "OR at position 33"},
		{"[domain-name:value = 'a.test'] WITHIN 300 SECONDS", "qualifier WITHIN at position 32: not supported"},
		{"[domain-name:value = 'a.test'] START t'2016-06-01T00:00:00Z' STOP t'2016-07-01T00:00:00Z'", "qualifier START"},
		{"[domain-name:value != 'a.test']", "operator != at position 20: not supported, only ="},
		{"[domain-name:value LIKE '%.test']", "operator LIKE at position 20"},
		{"[domain-name:value NOT = 'a.test']", "operator NOT at position 20"},
		{"[domain-name:value MATCHES '^a']", "operator MATCHES"},
		{"[domain-name:value IN ('a.test', 'b.test')]", "operator IN"},
		{"[EXISTS domain-name:value]", "operator EXISTS at position 2"},
		{"[domain-name:value = a.test]", `"a" at position 22: want a quoted string`},
		{"[domain-name:value = 'a.test'", "unexpected the end at position 30 where ] should close the observation"},
		{"[domain-name:value = 'a.test", "string at position 22: no closing quote"},
		{`[url:value = 'a\nb']`, `string at position 14: backslash must escape ' or \`},
		{"[domain-name:value = 'a.test'] extra", `unexpected "extra" at position 32 after the observation`},
		{"[domain-name = 'a.test']", `unexpected "=" at position 14 where : should follow the object type domain-name`},
		{"[file:name = 'evil.exe']", "file:name: not supported (want file:hashes.MD5"},
		{"[file:hashes.'SHA-512' = 'ab']", `hash "SHA-512": not supported (want MD5, SHA-1 or SHA-256)`},
		{"[file:hashes.SSDEEP = 'ab']", `hash "SSDEEP": not supported`},
		{"[email-addr:value = 'a@b.test']", "email-addr:value: not supported"},
		{"[network-traffic:dst_ref.value = '192.0.2.1']", "network-traffic:dst_ref.value: not supported"},
		{"[x-misp-object:value = 'a']", "x-misp-object:value: not supported"},
		{"[file:extensions.'windows-pebinary-ext'.sections[*].hashes.MD5 = 'ab']", "file:extensions.'windows-pebinary-ext'.sections[*].hashes.MD5: not supported"},
		{"[ipv4-addr:value = '198.51.100.0/24']", `ipv4-addr "198.51.100.0/24": address ranges are not supported`},
		{"[ipv4-addr:value = '2001:db8::1']", `ipv4-addr "2001:db8::1": wrong address family`},
		{"[ipv6-addr:value = '192.0.2.1']", `ipv6-addr "192.0.2.1": wrong address family`},
		{"[ipv4-addr:value = 'localhost']", `ipv4-addr "localhost": not an IP address`},
		{"[url:value = h'ab']", `"h" at position 14: want a quoted string`},
		{"/* open comment [url:value = 'x']", "comment at position 1: not closed"},
		{"[url:value = 'x'] \u00a0\u2028 ;", `unexpected ";" at position`},
		{"[url:value = 'x']\u00e9", `unexpected 'é' at position 18`},
		{strings.Repeat("(", 40) + "[url:value = 'x']" + strings.Repeat(")", 40), "nested more than 32 deep"},
		{"[" + strings.Repeat("(", 40) + "url:value = 'x'" + strings.Repeat(")", 40) + "]", "nested more than 32 deep"},
	} {
		_, _, err := parsePattern(tt.pattern)
		if err == nil || herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v; want EINVALID containing %q", tt.pattern, err, tt.want)
		}
	}
}

// formatPattern's output parses back to the object, whatever the value holds.
func TestFormatPatternParses(t *testing.T) {
	for _, obj := range []herd.Object{
		{Kind: herd.KindSHA256, Value: strings.Repeat("0f", 32)},
		{Kind: herd.KindSHA1, Value: strings.Repeat("0f", 20)},
		{Kind: herd.KindMD5, Value: strings.Repeat("0f", 16)},
		{Kind: herd.KindURL, Value: `http://x.test/'\''\\'`},
		{Kind: herd.KindDomain, Value: "x.test"},
		{Kind: herd.KindIP, Value: "192.0.2.1"},
		{Kind: herd.KindIP, Value: "::1"},
	} {
		p := formatPattern(obj)
		got, value, err := parsePattern(p)
		if err != nil || got != obj || value != obj.Value {
			t.Errorf("%s: %+v %q %v; want %+v", p, got, value, err, obj)
		}
	}
}
