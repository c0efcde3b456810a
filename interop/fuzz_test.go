package interop_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/interop"
)

// addFiles seeds the corpus with the files matching pattern.
func addFiles(f *testing.F, pattern string) {
	files, err := filepath.Glob(pattern)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files %s: %v", pattern, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzDecodeSTIX: no input panics; a failure returns EINVALID and no
// records; whatever decodes encodes and decodes to the same records.
func FuzzDecodeSTIX(f *testing.F) {
	// Each object of the testdata bundles as a bundle of its own: small
	// seeds keep the fuzzer mutating rather than minimizing.
	files, err := filepath.Glob("testdata/stix/*/bundle.json")
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed bundles: %v", err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		var bundle struct{ Objects []json.RawMessage }
		if err := json.Unmarshal(b, &bundle); err != nil {
			f.Fatalf("%s: %v", p, err)
		}
		for _, o := range bundle.Objects {
			f.Add([]byte(`{"type":"bundle","objects":[` + string(o) + `]}`))
		}
	}
	addFiles(f, "testdata/stix/versions/bundle.json") // several versions of one object
	for _, p := range []string{
		`[file:hashes.'SHA-256' = '` + strings.Repeat("a", 64) + `']`,
		`[url:value = 'http://x.test/\'\\']`,
		`([ipv6-addr:value = '::ffff:192.0.2.1/128'])`,
		`[domain-name:value = 'Bücher.example.']`,
	} {
		f.Add([]byte(`{"type":"bundle","objects":[{"type":"indicator","id":"indicator--00000000-0000-4000-8000-000000000000","name":"x","pattern":` + quoteJSON(p) + `,"labels":["malicious"],"modified":"2024-01-01T00:00:00.1234Z"}]}`))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := interop.DecodeSTIX(bytes.NewReader(data), "fuzz.json", time.Time{})
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID || res.Records != nil {
				t.Fatalf("failed decode: code %q, %d records", herd.ErrorCode(err), len(res.Records))
			}
			return
		}
		var buf bytes.Buffer
		if err := interop.EncodeSTIX(&buf, res.Records); err != nil {
			t.Fatalf("decoded records do not encode: %v\n%s", err, dump(res.Records))
		}
		again, err := interop.DecodeSTIX(&buf, "again.json", time.Time{})
		if err != nil || len(again.Skipped) != 0 || !recordsEqual(again.Records, res.Records) {
			t.Fatalf("round trip: %v, skipped %v\n%s\nwant\n%s\nencoded:\n%s", err, again.Skipped, dump(again.Records), dump(res.Records), buf.Bytes())
		}
	})
}

// FuzzDecodeCSV: as FuzzDecodeSTIX, for CSV.
func FuzzDecodeCSV(f *testing.F) {
	addFiles(f, "testdata/csv/*.csv")
	for _, s := range []string{
		"",
		"kind,value,verdict\n",
		"verdict,kind,value,threat\nclean,ip,::ffff:192.0.2.1,'@x\n",
		"kind,value,verdict,threat,source,updated\ndomain,a.test,malicious,\"a,\"\"b\",rules,2024-01-01T00:00:00.000000001+14:00\n",
		"kind,value,verdict,threat,source,updated\nurl,\"HTTP://X.TEST/a'b?c=\"\"d\"\"\",suspicious,''',,\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := interop.DecodeCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID || recs != nil {
				t.Fatalf("failed decode: code %q, %d records", herd.ErrorCode(err), len(recs))
			}
			return
		}
		var buf bytes.Buffer
		if err := interop.EncodeCSV(&buf, recs); err != nil {
			t.Fatalf("decoded records do not encode: %v\n%s", err, dump(recs))
		}
		again, err := interop.DecodeCSV(&buf, "again.csv")
		if err != nil || !recordsEqual(again, recs) {
			t.Fatalf("round trip: %v\n%s\nwant\n%s\nencoded:\n%s", err, dump(again), dump(recs), buf.Bytes())
		}
	})
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
