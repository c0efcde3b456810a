package interop_test

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/interop"
)

// A file saved by a spreadsheet: byte-order mark, CRLF, quoted fields, a
// time with an offset, empty optional fields, and a threat name that the
// export defused as a formula.
func TestDecodeCSVSpreadsheet(t *testing.T) {
	f, err := os.Open("testdata/csv/spreadsheet.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := interop.DecodeCSV(f, "spreadsheet.csv")
	if err != nil {
		t.Fatal(err)
	}
	want := []herd.Record{
		{Object: herd.Object{Kind: herd.KindSHA256, Value: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}, Verdict: herd.VerdictMalicious, Threat: "Win.Ransomware.Locky-1", Source: herd.SourceImport, Updated: time.Date(2024, 5, 3, 8, 0, 0, 456789000, time.UTC)},
		{Object: herd.Object{Kind: herd.KindURL, Value: "https://login.example-bank.test/auth.php?a=1,b=2"}, Verdict: herd.VerdictMalicious, Threat: `Phish "Bank" login`, Source: herd.SourceOperator, Updated: time.Date(2024, 5, 4, 12, 30, 0, 0, time.UTC)},
		{Object: herd.Object{Kind: herd.KindDomain, Value: "update-check.example.net"}, Verdict: herd.VerdictSuspicious, Source: "rules"},
		{Object: herd.Object{Kind: herd.KindIP, Value: "2001:db8::53"}, Verdict: herd.VerdictClean, Threat: "Sinkhole", Updated: time.Date(2019, 11, 21, 9, 0, 0, 0, time.UTC)},
		{Object: herd.Object{Kind: herd.KindMD5, Value: "b2a5abfeef9e36964281a31e17b57c97"}, Verdict: herd.VerdictMalicious, Threat: `=HYPERLINK("http://x.test")`},
	}
	if !recordsEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", dump(got), dump(want))
	}
}

func TestCSVRoundTrip(t *testing.T) {
	when := time.Date(2024, 6, 1, 12, 30, 45, 123456789, time.FixedZone("CEST", 2*3600))
	recs := []herd.Record{
		{Object: herd.Object{Kind: herd.KindSHA256, Value: strings.Repeat("AB", 32)}, Verdict: herd.VerdictMalicious, Threat: "Win.Trojan.Agent-1", Source: herd.SourceOperator, Updated: when},
		{Object: herd.Object{Kind: herd.KindURL, Value: `http://evil.test/a,b?q="x"`}, Verdict: herd.VerdictMalicious, Threat: "Phish, \"Bank\"", Source: "rules", Updated: when},
		{Object: herd.Object{Kind: herd.KindDomain, Value: "dash.test"}, Verdict: herd.VerdictSuspicious, Threat: "-2+3", Source: "import"},
		{Object: herd.Object{Kind: herd.KindIP, Value: "192.0.2.1"}, Verdict: herd.VerdictClean, Threat: "'quoted'", Updated: when},
		{Object: herd.Object{Kind: herd.KindMD5, Value: strings.Repeat("0f", 16)}, Verdict: herd.VerdictMalicious, Threat: "@SUM(A1)", Updated: when},
		{Object: herd.Object{Kind: herd.KindSHA1, Value: strings.Repeat("0f", 20)}, Verdict: herd.VerdictMalicious, Threat: "+cmd|' /C calc'!A0", Updated: when},
		{Object: herd.Object{Kind: herd.KindSHA1, Value: strings.Repeat("1e", 20)}, Verdict: herd.VerdictMalicious, Threat: "'=already quoted", Updated: when},
	}
	var buf bytes.Buffer
	if err := interop.EncodeCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+len(recs) || lines[0] != "kind,value,verdict,threat,source,updated" {
		t.Fatalf("output:\n%s", out)
	}
	for i, want := range []string{
		"sha256," + strings.Repeat("ab", 32) + ",malicious,Win.Trojan.Agent-1,operator,2024-06-01T10:30:45.123456789Z",
		`url,"http://evil.test/a,b?q=""x""",malicious,"Phish, ""Bank""",rules,2024-06-01T10:30:45.123456789Z`,
		"domain,dash.test,suspicious,'-2+3,import,",
		"ip,192.0.2.1,clean,''quoted',,2024-06-01T10:30:45.123456789Z",
		"md5," + strings.Repeat("0f", 16) + ",malicious,'@SUM(A1),,2024-06-01T10:30:45.123456789Z",
		"sha1," + strings.Repeat("0f", 20) + ",malicious,'+cmd|' /C calc'!A0,,2024-06-01T10:30:45.123456789Z",
		"sha1," + strings.Repeat("1e", 20) + ",malicious,''=already quoted,,2024-06-01T10:30:45.123456789Z",
	} {
		if lines[i+1] != want {
			t.Errorf("line %d:\n%s\nwant\n%s", i+2, lines[i+1], want)
		}
	}
	got, err := interop.DecodeCSV(&buf, "out.csv")
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		recs[i].Object, _ = recs[i].Object.Normalize()
	}
	if !recordsEqual(got, recs) {
		t.Errorf("decoded\n%s\nwant\n%s", dump(got), dump(recs))
	}
}

func TestDecodeCSVColumns(t *testing.T) {
	// Optional columns may be left out, columns come in any order.
	got, err := interop.DecodeCSV(strings.NewReader("Verdict, Kind ,value\nmalicious,domain,a.test\nclean,ip,::1\n"), "min.csv")
	want := []herd.Record{
		{Object: herd.Object{Kind: herd.KindDomain, Value: "a.test"}, Verdict: herd.VerdictMalicious},
		{Object: herd.Object{Kind: herd.KindIP, Value: "::1"}, Verdict: herd.VerdictClean},
	}
	if err != nil || !recordsEqual(got, want) {
		t.Errorf("got %s, %v", dump(got), err)
	}
	got, err = interop.DecodeCSV(strings.NewReader("kind,value,verdict,threat,source,updated\n"), "header-only.csv")
	if err != nil || len(got) != 0 {
		t.Errorf("header only: %v, %v", got, err)
	}
}

func TestDecodeCSVErrors(t *testing.T) {
	const header = "kind,value,verdict,threat,source,updated\n"
	good := "domain,good.test,malicious,X,,\n"
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "f.csv: empty: want the header kind,value,verdict,threat,source,updated"},
		{"unknown column", "kind,value,verdict,score\n", `f.csv:1: header: unknown column "score" (want kind,value,verdict,threat,source,updated)`},
		{"column twice", "kind,value,verdict,kind\n", `f.csv:1: header: column "kind" twice`},
		{"no verdict column", "kind,value,threat\n", "f.csv:1: header: no verdict column"},
		{"bad verdict", header + good + "domain,b.test,evil,X,,\n", `f.csv:3: verdict "evil": want malicious, suspicious or clean`},
		{"unknown verdict", header + good + "domain,b.test,unknown,,,\n", `f.csv:3: verdict "unknown"`},
		{"bad hash", header + good + good + "sha256,abc,malicious,X,,\n", `f.csv:4: sha256 "abc": want 64 hex digits, got 3 characters`},
		{"unknown kind", header + "file,abc,malicious,X,,\n", `f.csv:2: kind "file": unknown`},
		{"bad domain", header + "domain,a b.test,malicious,X,,\n", `f.csv:2: domain "a b.test"`},
		{"too few fields", header + good + "domain,b.test,malicious\n", "f.csv:3: wrong number of fields"},
		{"bare quote", header + good + "domain,b\"x.test,malicious,X,,\n", `f.csv:3: bare " in non-quoted-field`},
		{"control character", header + "domain,b.test,malicious,\"a\x07b\",,\n", "f.csv:2: threat name: contains control characters"},
		{"long threat", header + "domain,b.test,malicious," + strings.Repeat("x", 257) + ",,\n", "f.csv:2: threat name: longer than 256 bytes"},
		{"bad source", header + "domain,b.test,malicious,X,Some Feed,\n", `f.csv:2: source "Some Feed": want a short lower-case word`},
		{"time before year 0 in UTC", header + "domain,b.test,malicious,X,,0000-01-01T00:00:00+01:00\n", `f.csv:2: updated "0000-01-01T00:00:00+01:00": in UTC outside the years 0000-9999`},
		{"bad time", header + "domain,b.test,malicious,X,,yesterday\n", `f.csv:2: updated "yesterday": not an RFC 3339 timestamp`},
		{"blank lines count", header + "\n\r\n" + good + "domain,d.test,bad,X,,\n", `f.csv:5: verdict "bad"`},
		{"a field over two lines", header + "domain,b.test,malicious,\"two\nlines\",,\n", "f.csv:2: threat name: contains control characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := interop.DecodeCSV(strings.NewReader(tt.in), "f.csv")
			if herd.ErrorCode(err) != herd.EINVALID || !strings.HasPrefix(err.Error(), tt.want) || got != nil {
				t.Errorf("got %v, %v\nwant EINVALID %q and no records", got, err, tt.want)
			}
		})
	}
}

func TestEncodeCSVInvalid(t *testing.T) {
	var buf bytes.Buffer
	err := interop.EncodeCSV(&buf, []herd.Record{{Object: herd.Object{Kind: herd.KindDomain, Value: "x.test"}, Verdict: herd.VerdictMalicious, Source: "Not A Word"}})
	if err == nil || !strings.Contains(err.Error(), `record 0 (domain:x.test): source "Not A Word"`) || buf.Len() != 0 {
		t.Errorf("bad source: %v, wrote %q", err, buf.String())
	}
}
