package interop_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/interop"
)

// scenarioNow is the import time of the testdata scenarios, for valid_until.
var scenarioNow = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Each testdata/stix/<scenario> holds a bundle.json and what DecodeSTIX
// makes of it in want.json: records and skip counts, or an error and its
// problems.
func TestDecodeSTIXScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/stix/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			var want struct {
				Records  []herd.Record
				Skipped  map[string]int
				Error    string
				Problems []herd.Problem
			}
			MustReadJSON(t, filepath.Join(dir, "want.json"), &want)
			f, err := os.Open(filepath.Join(dir, "bundle.json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := interop.DecodeSTIX(f, "bundle.json", scenarioNow)
			if want.Error != "" {
				if err == nil || herd.ErrorCode(err) != herd.EINVALID {
					t.Fatalf("err = %v, want EINVALID %q", err, want.Error)
				}
				var e *herd.Error
				if !errors.As(err, &e) || e.Message != want.Error || !reflect.DeepEqual(e.Problems, want.Problems) {
					t.Errorf("error:\n%s\nwant:\n%s", dump(e), dump(&herd.Error{Code: herd.EINVALID, Message: want.Error, Problems: want.Problems}))
				}
				if got.Records != nil || got.Skipped != nil {
					t.Errorf("records returned with the error: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !recordsEqual(got.Records, want.Records) {
				t.Errorf("records:\n%s\nwant:\n%s", dump(got.Records), dump(want.Records))
			}
			if !reflect.DeepEqual(got.Skipped, want.Skipped) {
				t.Errorf("skipped: %v\nwant     %v", got.Skipped, want.Skipped)
			}
			// Whatever decodes, encodes and decodes to the same records.
			var buf bytes.Buffer
			if err := interop.EncodeSTIX(&buf, got.Records); err != nil {
				t.Fatal(err)
			}
			again, err := interop.DecodeSTIX(&buf, "again.json", scenarioNow)
			if err != nil || !recordsEqual(again.Records, got.Records) || len(again.Skipped) != 0 {
				t.Errorf("re-encoded: %v, skipped %v\n%s\nwant\n%s", err, again.Skipped, dump(again.Records), dump(got.Records))
			}
		})
	}
}

// Without a time, DecodeSTIX does not judge expiry.
func TestDecodeSTIXNoExpiryCheck(t *testing.T) {
	f, err := os.Open("testdata/stix/versions/bundle.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := interop.DecodeSTIX(f, "versions.json", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped["expired (valid_until has passed)"] != 0 || len(res.Records) != 4 || res.Records[1].Object.Value != "expired.example" {
		t.Errorf("zero now: %v %s; want expired.example imported", res.Skipped, dump(res.Records))
	}
}

func TestDecodeSTIXBadBundle(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"empty", "", "b.json:1: not valid JSON: unexpected end of JSON input"},
		{"syntax", "{\n  \"type\": \"bundle\",\n  \"objects\": [}\n", "b.json:3: not valid JSON: invalid character '}'"},
		{"array", `[{"type": "indicator"}]`, `b.json: not a STIX bundle (want a JSON object with "type": "bundle")`},
		{"null", `null`, `b.json: not a STIX bundle (want a JSON object with "type": "bundle")`},
		{"no type", `{"id": "bundle--00000000-0000-4000-8000-000000000000", "objects": []}`, `b.json: not a STIX bundle: field "type": "": want "bundle"`},
		{"an indicator", `{"type": "indicator", "pattern": "[url:value = 'http://x.test/']"}`, `b.json: not a STIX bundle: field "type": "indicator": want "bundle"`},
		{"type not a string", `{"type": 7}`, `b.json: not a STIX bundle: field "type": want a string`},
		{"objects not a list", `{"type": "bundle", "objects": {"0": {}}}`, `b.json: not a STIX bundle: field "objects": want a list of STIX objects`},
		{"trailing data", `{"type": "bundle"} {"type": "bundle"}`, "b.json:1: not valid JSON: invalid character '{' after top-level value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := interop.DecodeSTIX(strings.NewReader(tt.in), "b.json", time.Time{})
			if herd.ErrorCode(err) != herd.EINVALID || !strings.HasPrefix(err.Error(), tt.want) || res.Records != nil {
				t.Errorf("got %v, %v\nwant EINVALID %q", res, err, tt.want)
			}
		})
	}
}

func TestEncodeSTIX(t *testing.T) {
	when := time.Date(2024, 6, 1, 12, 30, 45, 123456789, time.FixedZone("CEST", 2*3600))
	recs := []herd.Record{
		{Object: herd.Object{Kind: herd.KindSHA256, Value: strings.Repeat("ab", 32)}, Verdict: herd.VerdictMalicious, Threat: "Win.Trojan.Agent-1", Source: herd.SourceOperator, Updated: when},
		{Object: herd.Object{Kind: herd.KindSHA1, Value: strings.Repeat("cd", 20)}, Verdict: herd.VerdictSuspicious, Threat: "PUA.Toolbar", Source: herd.SourceImport, Updated: when},
		{Object: herd.Object{Kind: herd.KindMD5, Value: strings.Repeat("ef", 16)}, Verdict: herd.VerdictClean, Source: herd.SourceOperator, Updated: when},
		{Object: herd.Object{Kind: herd.KindURL, Value: `HTTP://Evil.TEST/it's?q=a\b&c<d>`}, Verdict: herd.VerdictMalicious, Threat: "Phish \"Bank\"", Source: "rules", Updated: when},
		{Object: herd.Object{Kind: herd.KindDomain, Value: "evil.test"}, Verdict: herd.VerdictMalicious, Threat: "evil.test", Updated: when},
		{Object: herd.Object{Kind: herd.KindIP, Value: "192.0.2.1"}, Verdict: herd.VerdictSuspicious, Threat: "Scanner", Updated: when},
		{Object: herd.Object{Kind: herd.KindIP, Value: "2001:db8::1"}, Verdict: herd.VerdictClean, Threat: "Résolveur ✓", Updated: when},
	}
	var buf bytes.Buffer
	if err := interop.EncodeSTIX(&buf, recs); err != nil {
		t.Fatal(err)
	}
	var bundle struct {
		Type, ID string
		Objects  []map[string]any
	}
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil {
		t.Fatalf("%v\n%s", err, buf.Bytes())
	}
	if bundle.Type != "bundle" || !strings.HasPrefix(bundle.ID, "bundle--") || len(bundle.Objects) != len(recs) {
		t.Fatalf("bundle %q %q with %d objects\n%s", bundle.Type, bundle.ID, len(bundle.Objects), buf.Bytes())
	}
	wantPatterns := []string{
		"[file:hashes.'SHA-256' = '" + strings.Repeat("ab", 32) + "']",
		"[file:hashes.'SHA-1' = '" + strings.Repeat("cd", 20) + "']",
		"[file:hashes.MD5 = '" + strings.Repeat("ef", 16) + "']",
		`[url:value = 'http://evil.test/it\'s?q=a\\b&c<d>']`,
		"[domain-name:value = 'evil.test']",
		"[ipv4-addr:value = '192.0.2.1']",
		"[ipv6-addr:value = '2001:db8::1']",
	}
	wantTypes := []string{"malicious-activity", "anomalous-activity", "benign", "malicious-activity", "malicious-activity", "anomalous-activity", "benign"}
	for i, o := range bundle.Objects {
		r := recs[i]
		r.Object, _ = r.Object.Normalize() // as the encoder writes it
		want := map[string]any{
			"type":            "indicator",
			"spec_version":    "2.1",
			"id":              interop.IndicatorID(r.Object),
			"created":         "2024-06-01T10:30:45.123Z",
			"modified":        "2024-06-01T10:30:45.123Z",
			"valid_from":      "2024-06-01T10:30:45.123Z",
			"name":            r.Threat,
			"indicator_types": []any{wantTypes[i]},
			"pattern":         wantPatterns[i],
			"pattern_type":    "stix",
			"pattern_version": "2.1",
		}
		if r.Source != "" {
			want["x_herd_source"] = r.Source
		}
		switch r.Object.Kind {
		case herd.KindMD5: // no threat name: one is made up, the real one kept aside
			want["name"] = "herd clean md5:" + r.Object.Value
			want["x_herd_threat"] = ""
		case herd.KindDomain: // a name that repeats the value would read as none
			want["x_herd_threat"] = "evil.test"
		}
		if !reflect.DeepEqual(o, want) {
			t.Errorf("object %d:\n%v\nwant\n%v", i, o, want)
		}
	}
	if !strings.Contains(buf.String(), `&c<d>`) {
		t.Errorf("URL escaped for HTML:\n%s", buf.Bytes())
	}

	// The same records give the same bytes; the decoder gives them back,
	// to the millisecond.
	var again bytes.Buffer
	if err := interop.EncodeSTIX(&again, recs); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Errorf("second encoding differs (%v)", err)
	}
	res, err := interop.DecodeSTIX(&buf, "out.json", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]herd.Record, len(recs))
	for i, r := range recs {
		r.Updated = r.Updated.UTC().Truncate(time.Millisecond)
		r.Object, _ = r.Object.Normalize()
		want[i] = r
	}
	if !recordsEqual(res.Records, want) || len(res.Skipped) != 0 {
		t.Errorf("decoded %v\n%s\nwant\n%s", res.Skipped, dump(res.Records), dump(want))
	}
	// A change of verdict keeps the indicator's id and changes the bundle's.
	recs[0].Verdict = herd.VerdictClean
	var changed bytes.Buffer
	if err := interop.EncodeSTIX(&changed, recs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(changed.String(), interop.IndicatorID(recs[0].Object)) || strings.Contains(changed.String(), bundle.ID) {
		t.Errorf("after a change: indicator id kept %v, bundle id kept %v", strings.Contains(changed.String(), interop.IndicatorID(recs[0].Object)), strings.Contains(changed.String(), bundle.ID))
	}
}

func TestEncodeSTIXEmptyAndInvalid(t *testing.T) {
	var buf bytes.Buffer
	if err := interop.EncodeSTIX(&buf, nil); err != nil {
		t.Fatal(err)
	}
	var bundle map[string]any
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil || bundle["type"] != "bundle" || bundle["objects"] != nil {
		t.Errorf("empty bundle %s: %v", buf.Bytes(), err)
	}
	buf.Reset()
	bad := []herd.Record{
		{Object: herd.Object{Kind: herd.KindDomain, Value: "ok.test"}, Verdict: herd.VerdictMalicious},
		{Object: herd.Object{Kind: herd.KindDomain, Value: "bad.test"}, Verdict: herd.VerdictUnknown},
	}
	err := interop.EncodeSTIX(&buf, bad)
	if err == nil || !strings.Contains(err.Error(), `record 1 (domain:bad.test): verdict "unknown"`) || buf.Len() != 0 {
		t.Errorf("unknown verdict: %v, wrote %d bytes", err, buf.Len())
	}
}

// The ids are name-based UUIDs (version 5): stable and well formed.
func TestIndicatorID(t *testing.T) {
	obj := herd.Object{Kind: herd.KindDomain, Value: "example.com"}
	id := interop.IndicatorID(obj)
	if id != interop.IndicatorID(obj) || id == interop.IndicatorID(herd.Object{Kind: herd.KindDomain, Value: "example.org"}) {
		t.Errorf("ids not stable or not distinct: %s", id)
	}
	u := strings.TrimPrefix(id, "indicator--")
	if len(u) != 36 || u[14] != '5' || !strings.ContainsRune("89ab", rune(u[19])) || u != strings.ToLower(u) {
		t.Errorf("id %s: want a lower-case version 5, variant 10 UUID", id)
	}
}

func MustReadJSON(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
}

// recordsEqual compares records with their times by Equal.
func recordsEqual(a, b []herd.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Updated.Equal(y.Updated) {
			return false
		}
		x.Updated, y.Updated = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}

func dump(v any) string {
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b)
}
