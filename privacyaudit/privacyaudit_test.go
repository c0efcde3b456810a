package privacyaudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/inventory"
)

var hour = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

func deviceInfo(device, country, os, version string) herd.StoredEvent {
	return herd.StoredEvent{
		Type: "device.info", Category: herd.CategoryDevice, Hour: hour, Country: country, ASN: 3320, Device: device,
		Payload: json.RawMessage(fmt.Sprintf(`{"device_type":"laptop","os_family":%q,"os_version":%q,"hw_fingerprint":"%s"}`, os, version, strings.Repeat("ab", 16))),
	}
}

func audit(cfg Config, evs []herd.StoredEvent) Report {
	a := New(cfg)
	for _, ev := range evs {
		a.Add(ev)
	}
	return a.Report()
}

func TestPlantedUniqueRecordIsFound(t *testing.T) {
	var evs []herd.StoredEvent
	for i := range 40 {
		evs = append(evs, deviceInfo(fmt.Sprint("dev", i), "DE", "linux", "6.8"))
	}
	for i := range 12 {
		evs = append(evs, deviceInfo(fmt.Sprint("win", i), "DE", "windows", "11"))
	}
	planted := deviceInfo("lonely", "IS", "bsd", "14.1")
	evs = append(evs[:20], append([]herd.StoredEvent{planted}, evs[20:]...)...)

	r := audit(Config{}, evs)
	if r.K != DefaultK || r.Records != 53 || r.Classes != 3 {
		t.Fatalf("k %d records %d classes %d, want 5 53 3", r.K, r.Records, r.Classes)
	}
	if r.ClassesBelowK != 1 || r.RecordsBelowK != 1 {
		t.Fatalf("below k: %d classes %d records, want 1 and 1", r.ClassesBelowK, r.RecordsBelowK)
	}
	if len(r.Smallest) != 1 {
		t.Fatalf("smallest: %+v", r.Smallest)
	}
	got := r.Smallest[0]
	want := "device.info country=IS hour=2026-11-25T14Z device_type=laptop os_family=bsd os_version=14.1"
	if got.Devices != 1 || got.Records != 1 || got.Label() != want {
		t.Fatalf("smallest class %q (%d devices, %d records), want %q (1, 1)", got.Label(), got.Devices, got.Records, want)
	}
	// Only the quasi-identifiers are reported: never the device pseudonym
	// or a payload field outside them.
	b, _ := json.Marshal(r)
	for _, secret := range []string{"lonely", strings.Repeat("ab", 16)} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("report contains %q: %s", secret, b)
		}
	}
}

func TestClassOfExactlyKIsNotFlagged(t *testing.T) {
	var evs []herd.StoredEvent
	for i := range 5 {
		evs = append(evs, deviceInfo(fmt.Sprint("dev", i), "FR", "macos", "15"))
	}
	r := audit(Config{K: 5}, evs)
	if r.Classes != 1 || r.ClassesBelowK != 0 || r.RecordsBelowK != 0 || len(r.Smallest) != 0 {
		t.Fatalf("a class of exactly k flagged: %+v", r)
	}
	// One device fewer and it is below k.
	r = audit(Config{K: 6}, evs)
	if r.ClassesBelowK != 1 || r.RecordsBelowK != 5 || r.Smallest[0].Devices != 5 {
		t.Fatalf("k=6: %+v", r)
	}
}

func TestRecordsOfOneDeviceDoNotMakeAClassAnonymous(t *testing.T) {
	var evs []herd.StoredEvent
	for range 10 {
		evs = append(evs, deviceInfo("same", "NL", "linux", "6.1"))
	}
	r := audit(Config{K: 2}, evs)
	if r.ClassesBelowK != 1 || r.RecordsBelowK != 10 || r.Smallest[0].Devices != 1 || r.Smallest[0].Records != 10 {
		t.Fatalf("ten records of one device: %+v", r)
	}
}

func TestEmptyStore(t *testing.T) {
	r := audit(Config{}, nil)
	if r.Records != 0 || r.Classes != 0 || r.ClassesBelowK != 0 || len(r.Types) != 0 || len(r.Smallest) != 0 {
		t.Fatalf("empty store: %+v", r)
	}
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "records: 0 in 0 classes") || !strings.Contains(b.String(), "privacy budget: not available") {
		t.Fatalf("empty report:\n%s", b.String())
	}
}

func TestASNAndTypesSeparateClasses(t *testing.T) {
	a := deviceInfo("a", "DE", "linux", "6.8")
	b := deviceInfo("b", "DE", "linux", "6.8")
	b.ASN = 64500
	scan := herd.StoredEvent{Type: "scan.finished", Hour: hour, Country: "DE", Device: "a", Payload: json.RawMessage(`{"trigger":"manual","files":3}`)}
	broken := herd.StoredEvent{Type: "device.info", Hour: hour, Country: "DE", Device: "c", Payload: json.RawMessage(`[1]`)}
	evs := []herd.StoredEvent{a, b, scan, broken}

	if r := audit(Config{K: 2}, evs); r.Classes != 2 || r.Skipped != 1 || r.ClassesBelowK != 1 {
		t.Fatalf("without ASN: %+v", r)
	}
	r := audit(Config{K: 2, ASN: true}, evs)
	if r.Classes != 3 || r.ClassesBelowK != 3 {
		t.Fatalf("with ASN: %+v", r)
	}
	if len(r.Types) != 2 || r.Types[0].Type != "device.info" || r.Types[0].Classes != 2 || r.Types[1].Type != "scan.finished" || r.Types[1].Records != 1 {
		t.Fatalf("types: %+v", r.Types)
	}
}

func TestSmallestIsCappedAndOrdered(t *testing.T) {
	var evs []herd.StoredEvent
	for i := range 30 {
		for d := range i%4 + 1 {
			evs = append(evs, deviceInfo(fmt.Sprint("d", i, "-", d), "DE", "linux", fmt.Sprint("v", i)))
		}
	}
	r := audit(Config{K: 5, Smallest: 10}, evs)
	if r.ClassesBelowK != 30 || len(r.Smallest) != 10 {
		t.Fatalf("below k %d, listed %d", r.ClassesBelowK, len(r.Smallest))
	}
	for i, c := range r.Smallest[:8] {
		if c.Devices != 1 {
			t.Fatalf("class %d has %d devices; the 8 one-device classes should come first", i, c.Devices)
		}
	}
	if r.Smallest[8].Devices != 2 {
		t.Fatalf("ninth class: %+v", r.Smallest[8])
	}
}

func TestParseK(t *testing.T) {
	for in, want := range map[string]int{"": DefaultK, "2": 2, "5": 5, "1000": 1000} {
		if k, err := ParseK(in); err != nil || k != want {
			t.Errorf("ParseK(%q) = %d, %v; want %d", in, k, err, want)
		}
	}
	for in, msg := range map[string]string{
		"1": "out of range", "0": "out of range", "-3": "out of range", "1001": "out of range",
		"five": "not a number", "5.0": "not a number", "99999999999999999999": "not a number",
	} {
		_, err := ParseK(in)
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "k: ") {
			t.Errorf("ParseK(%q): %v; want EINVALID %q", in, err, msg)
		}
	}
}

func TestParseRawQuery(t *testing.T) {
	for raw, want := range map[string]Query{
		"": {K: DefaultK}, "k=7": {K: 7}, "asn=true": {K: DefaultK, ASN: true}, "k=2&asn=false": {K: 2},
	} {
		q, err := ParseRawQuery(raw)
		if err != nil || q != want {
			t.Errorf("ParseRawQuery(%q) = %+v, %v; want %+v", raw, q, err, want)
		}
		if again, err := ParseQuery(q.Values()); err != nil || again != q {
			t.Errorf("%+v does not round-trip: %+v, %v", q, again, err)
		}
	}
	for raw, msg := range map[string]string{
		"k=1":      "k: 1 is out of range",
		"k=5&k=6":  "k: given 2 times",
		"asn=yes":  `asn: "yes" is neither true nor false`,
		"depth=3":  `query parameter "depth": unknown`,
		"k=%zz":    "query: does not parse",
		"asn=TRUE": `asn: "TRUE" is neither`,
	} {
		_, err := ParseRawQuery(raw)
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseRawQuery(%q): %v; want EINVALID %q", raw, err, msg)
		}
	}
}

// FuzzParseRawQuery: any query string is either refused as invalid or
// gives a k in range that encodes back to itself.
func FuzzParseRawQuery(f *testing.F) {
	for _, s := range []string{"", "k=5", "k=0", "k=-1", "k=1000", "k=1001", "k=x", "k=+7", "asn=true&k=3", "k=5&k=5", "%", "a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := ParseRawQuery(raw)
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("ParseRawQuery(%q): code %s", raw, herd.ErrorCode(err))
			}
			return
		}
		if q.K < 2 || q.K > MaxK {
			t.Fatalf("ParseRawQuery(%q): k = %d", raw, q.K)
		}
		if again, err := ParseQuery(q.Values()); err != nil || again != q {
			t.Fatalf("ParseRawQuery(%q) = %+v does not round-trip: %+v, %v", raw, q, again, err)
		}
	})
}

// FuzzAdd feeds the auditor stored payloads of any shape: it must class
// or skip each one, never fail, and read the quasi-identifiers of an
// object as encoding/json does.
func FuzzAdd(f *testing.F) {
	f.Add([]byte(`{"os_family":"linux","os_version":"6.8"}`))
	f.Add([]byte(`{"os_family":"li\u006eux","os_version":6.8,"device_type":null,"os_family":"bsd"}`))
	f.Add([]byte(` { "device_type" : [1,{"a":"b"}] , "x":"\"}" } `))
	f.Add([]byte(`null`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		a := New(Config{K: 2})
		ev := herd.StoredEvent{Type: "device.info", Hour: hour, Country: "DE", Device: "d", Payload: payload}
		a.Add(ev)
		a.Add(ev)
		r := a.Report()
		if r.Records != 2 || r.Skipped+r.RecordsBelowK != 2 {
			t.Fatalf("%q: %+v", payload, r)
		}
		var obj map[string]any
		if json.Unmarshal(payload, &obj) != nil || obj == nil {
			if r.Skipped != 2 {
				t.Fatalf("%q is no JSON object but was classed: %+v", payload, r)
			}
			return
		}
		if r.Skipped != 0 || len(r.Smallest) != 1 {
			t.Fatalf("%q: %+v", payload, r)
		}
		for _, v := range r.Smallest[0].Values[2:] {
			want := ""
			switch x := obj[v.Name].(type) {
			case string:
				want = x
			case bool:
				want = fmt.Sprint(x)
			case float64:
				continue // written as sent
			}
			if v.Value != want {
				t.Fatalf("%q: field %s read as %q, encoding/json reads %q", payload, v.Name, v.Value, want)
			}
		}
	})
}

func BenchmarkAudit(b *testing.B) {
	const n = 100_000
	evs := make([]herd.StoredEvent, n)
	oses := []string{"linux", "windows", "macos", "bsd"}
	for i := range evs {
		evs[i] = deviceInfo(fmt.Sprint("dev", i%5000), []string{"DE", "FR", "NL", "IS"}[i%4], oses[i%3], fmt.Sprint(i%17))
		evs[i].Hour = hour.Add(time.Duration(i%24) * time.Hour)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := New(Config{})
		for _, ev := range evs {
			a.Add(ev)
		}
		_ = a.Report()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

// Every default quasi-identifier is a declared field of its type that
// holds no free text, hash, path or pseudonym: a fixed choice, a version
// or a flag, already generalized by the inventory's limits.
func TestDefaultFieldsAreDeclaredAndGeneralized(t *testing.T) {
	for typ, fields := range DefaultFields() {
		et, ok := inventory.Get(typ)
		if !ok {
			t.Errorf("%s: not an event type of the inventory", typ)
			continue
		}
		for _, name := range fields {
			f, ok := et.Field(name)
			if !ok {
				t.Errorf("%s.%s: not a declared field", typ, name)
				continue
			}
			if f.Rule != inventory.RuleNone || f.FreeText {
				t.Errorf("%s.%s: rule %q, free text %v: not a quasi-identifier the audit may print", typ, name, f.Rule, f.FreeText)
			}
		}
	}
}
