package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// wantErr is the exact error a decoder must return.
type wantErr struct {
	code     string
	message  string // the *herd.Error's Message, without the first problem
	problems []herd.Problem
}

// checkErr fails unless err is a *herd.Error equal to want.
func checkErr(t *testing.T, err error, want wantErr) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want %s %q", want.code, want.message)
	}
	var e *herd.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want a *herd.Error", err, err)
	}
	if got := herd.ErrorCode(err); got != want.code {
		t.Errorf("code %q, want %q (error: %v)", got, want.code, err)
	}
	if e.Message != want.message {
		t.Errorf("message\n got %q\nwant %q", e.Message, want.message)
	}
	if !reflect.DeepEqual(e.Problems, want.problems) {
		t.Errorf("problems\n got %+v\nwant %+v", e.Problems, want.problems)
	}
}

func lookupBody(objs ...herd.Object) string {
	b, err := json.Marshal(httpapi.LookupRequest{Objects: objs})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func ip(i int) herd.Object {
	return herd.Object{Kind: herd.KindIP, Value: fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)}
}

func ips(n int) []herd.Object {
	objs := make([]herd.Object, n)
	for i := range objs {
		objs[i] = ip(i)
	}
	return objs
}

const sha63 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0"

func inv(msg string, problems ...herd.Problem) wantErr {
	return wantErr{code: herd.EINVALID, message: msg, problems: problems}
}

func TestDecodeLookupErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want wantErr
	}{
		{"malformed JSON", `{"objects":[}`,
			inv("body: invalid JSON at byte 13: invalid character '}' looking for beginning of value")},
		{"truncated JSON", `{"objects":[{"kind":"sha256","value":"ab`, inv("body: truncated JSON")},
		{"empty body", ``, inv("body: empty")},
		{"white space only", " \n\t", inv("body: empty")},
		{"data after the value", lookupBody(ip(1)) + ` {}`, inv("body: data after the JSON value")},
		{"garbage after the value", lookupBody(ip(1)) + `x`, inv("body: data after the JSON value")},
		{"unknown top-level field", `{"objects":[],"debug":true}`, inv(`body: unknown field "debug"`)},
		{"unknown object field", `{"objects":[{"kind":"ip","value":"192.0.2.1","extra":1}]}`,
			inv("objects: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "extra", Message: "unknown field"})},
		{"wrong type of batch", `{"objects":{"kind":"ip"}}`,
			inv(`body: field "objects": got JSON object, want array`)},
		{"wrong type of value", `{"objects":[{"kind":"ip","value":"192.0.2.1"},{"kind":"ip","value":1}]}`,
			inv("objects: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "value", Message: "got JSON number, want string"})},
		{"empty batch", `{"objects":[]}`, inv("objects: empty batch")},
		{"no batch", `{}`, inv("objects: empty batch")},
		{"null body", `null`, inv("objects: empty batch")},
		{"1001 objects", lookupBody(ips(httpapi.MaxLookupObjects + 1)...),
			wantErr{code: herd.ETOOLARGE, message: "objects: 1001 objects, the limit is 1000 per request"}},
		{"unknown kind", `{"objects":[{"kind":"ip","value":"192.0.2.1"},{"kind":"sha512","value":"ab"}]}`,
			inv("objects: 1 of 2 invalid", herd.Problem{Index: 1, Field: "kind", Message: `kind "sha512": unknown (want sha256, sha1, md5, url, domain or ip)`})},
		{"missing kind", `{"objects":[{"value":"192.0.2.1"}]}`,
			inv("objects: 1 of 1 invalid", herd.Problem{Index: 0, Field: "kind", Message: "kind: missing"})},
		{"63-character sha256", lookupBody(herd.Object{Kind: herd.KindSHA256, Value: sha63}),
			inv("objects: 1 of 1 invalid", herd.Problem{Index: 0, Field: "value", Message: `sha256 "` + sha63 + `": want 64 hex digits, got 63 characters`})},
		{"sha1 with a non-hex digit", lookupBody(herd.Object{Kind: herd.KindSHA1, Value: "3395856ce81f2b7382dee72602f798b642f1414g"}),
			inv("objects: 1 of 1 invalid", herd.Problem{Index: 0, Field: "value", Message: `sha1 "3395856ce81f2b7382dee72602f798b642f1414g": not a hex digit at position 40`})},
		{"URL with a space", lookupBody(ip(0), herd.Object{Kind: herd.KindURL, Value: "http://example.com/a b"}),
			inv("objects: 1 of 2 invalid", herd.Problem{Index: 1, Field: "value", Message: `url "http://example.com/a b": contains white space or control characters`})},
		{"URL without a scheme", lookupBody(herd.Object{Kind: herd.KindURL, Value: "example.com/login"}),
			inv("objects: 1 of 1 invalid", herd.Problem{Index: 0, Field: "value", Message: `url "example.com/login": no scheme (want http:// or https://)`})},
		{"IP with a zone", lookupBody(herd.Object{Kind: herd.KindIP, Value: "fe80::1%eth0"}),
			inv("objects: 1 of 1 invalid", herd.Problem{Index: 0, Field: "value", Message: `ip "fe80::1%eth0": not an IPv4 or IPv6 address`})},
		{"every bad object is listed", lookupBody(
			herd.Object{Kind: herd.KindDomain, Value: "a..b"}, ip(1), herd.Object{Kind: "file", Value: "x"}, herd.Object{Kind: herd.KindMD5, Value: ""}),
			inv("objects: 3 of 4 invalid",
				herd.Problem{Index: 0, Field: "value", Message: `domain "a..b": empty label`},
				herd.Problem{Index: 2, Field: "kind", Message: `kind "file": unknown (want sha256, sha1, md5, url, domain or ip)`},
				herd.Problem{Index: 3, Field: "value", Message: `md5 "": want 32 hex digits, got 0 characters`})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := httpapi.DecodeLookup(strings.NewReader(tt.body))
			checkErr(t, err, tt.want)
			if objs != nil {
				t.Errorf("objects %v returned with an error", objs)
			}
		})
	}
}

func TestDecodeLookupListsAtMost100Problems(t *testing.T) {
	objs := make([]herd.Object, 150)
	for i := range objs {
		objs[i] = herd.Object{Kind: herd.KindIP, Value: fmt.Sprintf("not-an-ip-%d", i)}
	}
	_, err := httpapi.DecodeLookup(strings.NewReader(lookupBody(objs...)))
	var e *herd.Error
	if !errors.As(err, &e) || e.Code != herd.EINVALID || e.Message != "objects: 150 of 150 invalid" {
		t.Fatalf("err = %#v, want EINVALID objects: 150 of 150 invalid", err)
	}
	if len(e.Problems) != 100 {
		t.Fatalf("%d problems listed, want the first 100", len(e.Problems))
	}
	for i, p := range e.Problems {
		if p.Index != i || p.Field != "value" {
			t.Fatalf("problem %d = %+v, want index %d field value", i, p, i)
		}
	}
}

func TestDecodeLookupNormalizes(t *testing.T) {
	in := []herd.Object{
		{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256)},
		{Kind: herd.KindSHA1, Value: "3395856CE81F2B7382DEE72602F798B642F14140"},
		{Kind: herd.KindMD5, Value: "44D88612FEA8A8F36DE82E1278ABB02F"},
		{Kind: herd.KindDomain, Value: "Bücher.Example."},
		{Kind: herd.KindDomain, Value: "WWW.Example.COM"},
		{Kind: herd.KindIP, Value: "::ffff:192.0.2.1"},
		{Kind: herd.KindIP, Value: "2001:DB8:0:0::1"},
		{Kind: herd.KindURL, Value: "HTTPS://WWW.Example.COM:8443/Login?Next=/A"},
		{Kind: herd.KindURL, Value: "http://Bücher.example/x"},
		{Kind: herd.KindURL, Value: "http://[::ffff:192.0.2.1]:8080/"},
		{Kind: herd.KindIP, Value: "192.0.2.1"}, // the same object twice is fine
	}
	want := []herd.Object{
		{Kind: herd.KindSHA256, Value: herd.EICARSHA256},
		{Kind: herd.KindSHA1, Value: herd.EICARSHA1},
		{Kind: herd.KindMD5, Value: herd.EICARMD5},
		{Kind: herd.KindDomain, Value: "xn--bcher-kva.example"},
		{Kind: herd.KindDomain, Value: "www.example.com"},
		{Kind: herd.KindIP, Value: "192.0.2.1"},
		{Kind: herd.KindIP, Value: "2001:db8::1"},
		// URLs are canonicalized as Safe Browsing hashes them: the port
		// goes, so one verdict covers a host on every port.
		{Kind: herd.KindURL, Value: "https://www.example.com/Login?Next=/A"},
		{Kind: herd.KindURL, Value: "http://xn--bcher-kva.example/x"},
		{Kind: herd.KindURL, Value: "http://192.0.2.1/"},
		{Kind: herd.KindIP, Value: "192.0.2.1"},
	}
	got, err := httpapi.DecodeLookup(strings.NewReader(lookupBody(in...)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeLookup\n got %v\nwant %v", got, want)
	}
	// The limit itself is allowed.
	got, err = httpapi.DecodeLookup(strings.NewReader(lookupBody(ips(httpapi.MaxLookupObjects)...)))
	if err != nil || len(got) != httpapi.MaxLookupObjects || got[999] != ip(999) {
		t.Fatalf("1000 objects: %d objects, err %v", len(got), err)
	}
}

// now is the server clock of the telemetry and verdict decoder tests.
var now = time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)

// testDevice is the device id of test telemetry.
const testDevice = "device-0001"

func event(id string) herd.Event {
	return herd.Event{ID: id, Type: "threat.detected", Category: herd.CategoryThreats, Time: now.Add(-time.Minute),
		Payload: json.RawMessage(`{"sha256":"` + herd.EICARSHA256 + `","threat_name":"EICAR-Test-File","method":"signature","action":"reported"}`)}
}

func telemetryBody(evs ...herd.Event) string {
	b, err := json.Marshal(httpapi.TelemetryRequest{Device: testDevice, Events: evs})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func events(n int) []herd.Event {
	evs := make([]herd.Event, n)
	for i := range evs {
		evs[i] = event(fmt.Sprintf("ev-%d", i))
	}
	return evs
}

func TestDecodeTelemetryErrors(t *testing.T) {
	good := event("ev-1")
	with := func(f func(*herd.Event)) herd.Event {
		ev := event("ev-x")
		f(&ev)
		return ev
	}
	// Raw bodies for what a herd.Event cannot be marshalled into.
	raw := func(fields string) string {
		b, err := json.Marshal(good)
		if err != nil {
			t.Fatal(err)
		}
		return `{"device":"` + testDevice + `","events":[` + string(b) + `,{` + fields + `}]}`
	}
	const okFields = `"id":"ev-2","type":"url.check","category":"web","time":"2025-11-24T09:00:00Z"`
	tests := []struct {
		name string
		body string
		want wantErr
	}{
		{"malformed JSON", `{"events":[{"id":"a",}]}`,
			inv("body: invalid JSON at byte 22: invalid character '}' looking for beginning of object key string")},
		{"truncated JSON", telemetryBody(good)[:40], inv("body: truncated JSON")},
		{"unknown event field", raw(okFields + `,"payload":{},"user":"alice"`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "user", Message: "unknown field"})},
		{"wrong type of id", raw(`"id":7,"category":"web","time":"2025-11-24T09:00:00Z","payload":{}`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "id", Message: "got JSON number, want string"})},
		{"time not RFC 3339", raw(`"id":"ev-2","category":"web","time":"yesterday","payload":{}`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "time", Message: "not an RFC 3339 time (e.g. 2026-11-25T06:00:00Z)"})},
		{"empty batch", `{"device":"device-0001","events":[]}`, inv("events: empty batch")},
		{"no device", `{"events":[]}`, inv("device: missing")},
		{"device with a slash", `{"device":"a/b","events":[]}`, inv("device: only letters, digits and - _ . : are allowed")},
		{"1001 events", telemetryBody(events(httpapi.MaxTelemetryEvents + 1)...),
			wantErr{code: herd.ETOOLARGE, message: "events: 1001 events, the limit is 1000 per request"}},
		{"id with a space", telemetryBody(good, with(func(e *herd.Event) { e.ID = "ev 2" })),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "id", Message: "only letters, digits and . _ : - are allowed"})},
		{"id missing", telemetryBody(with(func(e *herd.Event) { e.ID = "" }), good),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 0, Field: "id", Message: "missing"})},
		{"id too long", telemetryBody(with(func(e *herd.Event) { e.ID = strings.Repeat("a", 129) })),
			inv("events: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "id", Message: "longer than 128 bytes"})},
		{"unknown category", telemetryBody(good, with(func(e *herd.Event) { e.Category = "keystrokes" })),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "category", Message: `"keystrokes" is not a category`})},
		{"missing time", raw(`"id":"ev-2","type":"url.check","category":"web","payload":{}`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "time", Message: "missing"})},
		{"time over a day ahead", telemetryBody(with(func(e *herd.Event) { e.Time = now.Add(25 * time.Hour) })),
			inv("events: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "time", Message: "more than 24 hours in the future"})},
		{"payload an array", raw(okFields + `,"payload":[1,2]`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "payload", Message: "must be a JSON object"})},
		{"payload a string", raw(okFields + `,"payload":"{}"`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "payload", Message: "must be a JSON object"})},
		{"payload null", raw(okFields + `,"payload":null`),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "payload", Message: "must be a JSON object"})},
		{"payload missing", raw(okFields),
			inv("events: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "payload", Message: "missing"})},
		{"payload too large", telemetryBody(with(func(e *herd.Event) {
			e.Payload = json.RawMessage(`{"x":"` + strings.Repeat("a", httpapi.MaxPayloadBytes) + `"}`)
		})),
			inv("events: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "payload", Message: "larger than 65536 bytes"})},
		// The count is of events, not of problems: two events are bad here.
		{"every bad field of every event", `{"device":"device-0001","events":[{"id":"a b","type":"x","category":"nope","payload":7},{"id":"ok","type":"url.check","category":"web","time":"2025-11-24T09:00:00Z","payload":{}},{"type":"x"}]}`,
			inv("events: 2 of 3 invalid, nothing stored",
				herd.Problem{Index: 0, Field: "id", Message: "only letters, digits and . _ : - are allowed"},
				herd.Problem{Index: 0, Field: "category", Message: `"nope" is not a category`},
				herd.Problem{Index: 0, Field: "time", Message: "missing"},
				herd.Problem{Index: 0, Field: "payload", Message: "must be a JSON object"},
				herd.Problem{Index: 2, Field: "id", Message: "missing"},
				herd.Problem{Index: 2, Field: "category", Message: `"" is not a category`},
				herd.Problem{Index: 2, Field: "time", Message: "missing"},
				herd.Problem{Index: 2, Field: "payload", Message: "missing"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := httpapi.DecodeTelemetry(strings.NewReader(tt.body), now)
			checkErr(t, err, tt.want)
		})
	}
}

func TestDecodeTelemetryKeepsEvents(t *testing.T) {
	body := `{"device":"device-0001","events":[
		{"id":"01HZX3K9V2:0001","type":"threat.detected","category":"threats","time":"2025-11-24T09:30:00.123456789+01:00","payload":{"threat":"EICAR-Test-File","n":[1,2]}},
		{"id":"a.b_c-d","type":"process.start","category":"os-events","time":"2025-11-25T09:59:59Z","payload":  {}  }]}`
	req, err := httpapi.DecodeTelemetry(strings.NewReader(body), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []herd.Event{
		{ID: "01HZX3K9V2:0001", Category: herd.CategoryThreats, Time: time.Date(2025, 11, 24, 8, 30, 0, 123456789, time.UTC),
			Payload: json.RawMessage(`{"threat":"EICAR-Test-File","n":[1,2]}`)},
		{ID: "a.b_c-d", Category: herd.CategoryOSEvents, Time: now.Add(24*time.Hour - time.Second), Payload: json.RawMessage(`{}`)},
	}
	if len(req.Events) != len(want) {
		t.Fatalf("%d events, want %d", len(req.Events), len(want))
	}
	for i, ev := range req.Events {
		w := want[i]
		if ev.ID != w.ID || ev.Category != w.Category || !ev.Time.Equal(w.Time) || !bytes.Equal(ev.Payload, w.Payload) {
			t.Errorf("event %d = %+v (payload %s), want %+v (payload %s)", i, ev, ev.Payload, w, w.Payload)
		}
	}
	if _, err := httpapi.DecodeTelemetry(strings.NewReader(telemetryBody(events(httpapi.MaxTelemetryEvents)...)), now); err != nil {
		t.Fatalf("1000 events: %v", err)
	}
}

func verdictsBody(vs ...httpapi.VerdictInput) string {
	b, err := json.Marshal(httpapi.SetVerdictsRequest{Verdicts: vs})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestDecodeVerdictsErrors(t *testing.T) {
	good := httpapi.VerdictInput{Kind: herd.KindDomain, Value: "evil.example", Verdict: herd.VerdictMalicious}
	with := func(f func(*httpapi.VerdictInput)) httpapi.VerdictInput {
		v := good
		f(&v)
		return v
	}
	many := make([]httpapi.VerdictInput, httpapi.MaxAdminVerdicts+1)
	for i := range many {
		many[i] = httpapi.VerdictInput{Kind: herd.KindIP, Value: ip(i).Value, Verdict: herd.VerdictClean}
	}
	tests := []struct {
		name string
		body string
		want wantErr
	}{
		{"malformed JSON", `{"verdicts":[{"kind":"ip" "value":"x"}]}`,
			inv("body: invalid JSON at byte 27: invalid character '\"' after object key:value pair")},
		{"truncated JSON", `{"verdicts":[{"kind":"ip"`, inv("body: truncated JSON")},
		{"unknown field", `{"verdicts":[{"kind":"ip","value":"192.0.2.1","verdict":"clean","test":true}]}`,
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "test", Message: "unknown field"})},
		{"wrong type", `{"verdicts":[{"kind":"ip","value":"192.0.2.1","verdict":true}]}`,
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "verdict", Message: "got JSON bool, want string"})},
		{"empty batch", `{"verdicts":[]}`, inv("verdicts: empty batch")},
		{"10001 verdicts", verdictsBody(many...),
			wantErr{code: herd.ETOOLARGE, message: "verdicts: 10001 verdicts, the limit is 10000 per request"}},
		{"unknown kind", verdictsBody(good, with(func(v *httpapi.VerdictInput) { v.Kind = "email" })),
			inv("verdicts: 1 of 2 invalid, nothing stored", herd.Problem{Index: 1, Field: "kind", Message: `kind "email": unknown (want sha256, sha1, md5, url, domain or ip)`})},
		{"63-character sha256", verdictsBody(with(func(v *httpapi.VerdictInput) { v.Kind, v.Value = herd.KindSHA256, sha63 })),
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "value", Message: `sha256 "` + sha63 + `": want 64 hex digits, got 63 characters`})},
		{"URL with a space", verdictsBody(with(func(v *httpapi.VerdictInput) { v.Kind, v.Value = herd.KindURL, "http://evil.example/a b" })),
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "value", Message: `url "http://evil.example/a b": contains white space or control characters`})},
		{"verdict unknown", verdictsBody(with(func(v *httpapi.VerdictInput) { v.Verdict = herd.VerdictUnknown })),
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "verdict", Message: `verdict "unknown": must be malicious, suspicious or clean`})},
		{"verdict missing", `{"verdicts":[{"kind":"ip","value":"192.0.2.1"}]}`,
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "verdict", Message: `verdict "": must be malicious, suspicious or clean`})},
		{"source builtin", verdictsBody(with(func(v *httpapi.VerdictInput) { v.Source = herd.SourceBuiltin })),
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "source", Message: `"builtin": want operator or import`})},
		{"threat with a newline", verdictsBody(with(func(v *httpapi.VerdictInput) { v.Threat = "Phish\nKit" })),
			inv("verdicts: 1 of 1 invalid, nothing stored", herd.Problem{Index: 0, Field: "threat", Message: "threat name: contains control characters"})},
		{"threat too long", verdictsBody(good, good, with(func(v *httpapi.VerdictInput) { v.Threat = strings.Repeat("x", herd.MaxThreatName+1) })),
			inv("verdicts: 1 of 3 invalid, nothing stored", herd.Problem{Index: 2, Field: "threat", Message: "threat name: longer than 256 bytes"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := httpapi.DecodeVerdicts(strings.NewReader(tt.body), now)
			checkErr(t, err, tt.want)
			if recs != nil {
				t.Errorf("records %v returned with an error", recs)
			}
		})
	}
}

func TestDecodeVerdictsNormalizes(t *testing.T) {
	body := verdictsBody(
		httpapi.VerdictInput{Kind: herd.KindDomain, Value: "Evil.Bücher.Example.", Verdict: herd.VerdictMalicious, Threat: "Phish.Kit"},
		httpapi.VerdictInput{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256), Verdict: herd.VerdictClean, Source: herd.SourceImport},
		httpapi.VerdictInput{Kind: herd.KindIP, Value: "::FFFF:198.51.100.7", Verdict: herd.VerdictSuspicious, Source: herd.SourceOperator},
	)
	got, err := httpapi.DecodeVerdicts(strings.NewReader(body), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []herd.Record{
		{Object: herd.Object{Kind: herd.KindDomain, Value: "evil.xn--bcher-kva.example"}, Verdict: herd.VerdictMalicious, Threat: "Phish.Kit", Source: herd.SourceOperator, Updated: now},
		{Object: herd.Object{Kind: herd.KindSHA256, Value: herd.EICARSHA256}, Verdict: herd.VerdictClean, Source: herd.SourceImport, Updated: now},
		{Object: herd.Object{Kind: herd.KindIP, Value: "198.51.100.7"}, Verdict: herd.VerdictSuspicious, Source: herd.SourceOperator, Updated: now},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeVerdicts\n got %+v\nwant %+v", got, want)
	}
}

// checkDecodeError fails unless err is a user-facing *herd.Error: a decoder
// of untrusted input has no other way to fail.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var e *herd.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T %v, want a *herd.Error", err, err)
	}
	if e.Message == "" {
		t.Fatalf("error %#v has an empty message", e)
	}
	if e.Code != herd.EINVALID && e.Code != herd.ETOOLARGE {
		t.Fatalf("error code %q (%v), want invalid or too_large", e.Code, e)
	}
	if len(e.Problems) > 100 {
		t.Fatalf("%d problems listed, want at most 100", len(e.Problems))
	}
	for i, p := range e.Problems {
		if p.Index < 0 || p.Field == "" || p.Message == "" || i > 0 && p.Index < e.Problems[i-1].Index {
			t.Fatalf("problem %d = %+v: want a field, a message and ascending indexes", i, p)
		}
	}
}

// seeds are the inputs of the table tests, as fuzz corpus.
func seeds(f *testing.F, bodies ...string) {
	for _, b := range bodies {
		f.Add([]byte(b))
	}
}

func FuzzDecodeLookup(f *testing.F) {
	seeds(f, `{"objects":[}`, `{"objects":[{"kind":"sha256","value":"ab`, ``, `{"objects":[]}`, `null`, `[]`,
		`{"objects":[{"kind":"ip","value":1}]}`, `{"objects":[{"kind":"ip","value":"192.0.2.1","extra":1}]}`,
		lookupBody(ip(1))+` {}`, lookupBody(ips(3)...),
		lookupBody(herd.Object{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256)}, herd.Object{Kind: herd.KindMD5, Value: herd.EICARMD5}),
		lookupBody(herd.Object{Kind: herd.KindDomain, Value: "Bücher.Example."}, herd.Object{Kind: herd.KindIP, Value: "::ffff:192.0.2.1"}),
		lookupBody(herd.Object{Kind: herd.KindURL, Value: "HTTPS://WWW.Example.COM:8443/Login?Next=/A#frag"}, herd.Object{Kind: herd.KindURL, Value: "http://[fe80::1%25eth0]/"}),
		lookupBody(herd.Object{Kind: herd.KindURL, Value: "http://user:pw@xn--bcher-kva.example/%41%2F?q=%zz"}),
		lookupBody(herd.Object{Kind: herd.KindSHA256, Value: sha63}, herd.Object{Kind: "sha512", Value: "x"}),
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := httpapi.DecodeLookup(bytes.NewReader(data))
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(objs) == 0 || len(objs) > httpapi.MaxLookupObjects {
			t.Fatalf("%d objects accepted", len(objs))
		}
		// The same body, decoded plainly: the decoder kept every object, in order.
		var req httpapi.LookupRequest
		if err := json.Unmarshal(data, &req); err != nil || len(req.Objects) != len(objs) {
			t.Fatalf("plain decoding: %d objects, err %v; DecodeLookup: %d", len(req.Objects), err, len(objs))
		}
		// Decoding the decoded objects again changes nothing.
		again, err := httpapi.DecodeLookup(strings.NewReader(lookupBody(objs...)))
		if err != nil || !reflect.DeepEqual(again, objs) {
			t.Fatalf("decoding %q again: %q, %v", objs, again, err)
		}
		for i, o := range objs {
			if _, err := o.Normalize(); err != nil {
				t.Fatalf("object %d %q (from %q) is not valid: %v", i, o, req.Objects[i], err)
			}
			if o.Kind != req.Objects[i].Kind {
				t.Fatalf("object %d: kind %q became %q", i, req.Objects[i].Kind, o.Kind)
			}
		}
	})
}

func FuzzDecodeTelemetry(f *testing.F) {
	seeds(f, `{"events":[{"id":"a",}]}`, `{"events":[]}`, `null`,
		telemetryBody(events(3)...), telemetryBody(event("ev-1"))[:40],
		`{"device":"device-0001","events":[{"id":"a b","type":"x","category":"nope","payload":7},{"id":"ok","type":"url.check","category":"web","time":"2025-11-24T09:00:00Z","payload":{}},{"type":"x"}]}`,
		`{"events":[{"id":"01HZX3K9V2:0001","category":"threats","time":"2025-11-24T09:30:00.123456789+01:00","payload":{"threat":"<EICAR>","n":[1,2.50]}}]}`,
		`{"events":[{"id":"x","category":"wifi","time":"0000-01-01T00:00:00+23:59","payload":  {"a":{"b":null}}  }]}`,
		`{"events":[{"id":"x","category":"web","time":"yesterday","payload":{}}]}`,
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := httpapi.DecodeTelemetry(bytes.NewReader(data), now)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if n := len(req.Events); n == 0 || n > httpapi.MaxTelemetryEvents {
			t.Fatalf("%d events accepted", n)
		}
		for i, ev := range req.Events {
			if !json.Valid(ev.Payload) || ev.Payload[0] != '{' || len(ev.Payload) > httpapi.MaxPayloadBytes {
				t.Fatalf("event %d: payload %q accepted", i, ev.Payload)
			}
			if !ev.Category.Valid() || ev.ID == "" || ev.Time.IsZero() || ev.Time.After(now.Add(24*time.Hour)) {
				t.Fatalf("event %d %+v accepted", i, ev)
			}
			// The event can be stored: its time has a JSON form.
			if _, err := ev.Time.MarshalJSON(); err != nil {
				t.Fatalf("event %d: time %v cannot be encoded: %v", i, ev.Time, err)
			}
		}
		// An accepted batch, sent again as the Go client sends it, is accepted
		// again, with the same events.
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(req); err != nil {
			t.Fatal(err)
		}
		again, err := httpapi.DecodeTelemetry(&buf, now)
		if err != nil {
			t.Fatalf("re-sent batch refused: %v\nbody %s", err, buf.Bytes())
		}
		for i, ev := range again.Events {
			w := req.Events[i]
			if ev.ID != w.ID || ev.Category != w.Category || !ev.Time.Equal(w.Time) || !sameJSON(ev.Payload, w.Payload) {
				t.Fatalf("event %d: re-sent %+v, first %+v", i, ev, w)
			}
		}
	})
}

func sameJSON(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

func FuzzDecodeVerdicts(f *testing.F) {
	seeds(f, `{"verdicts":[{"kind":"ip" "value":"x"}]}`, `{"verdicts":[]}`, `{"verdicts":[{"kind":"ip","value":"192.0.2.1"}]}`,
		verdictsBody(httpapi.VerdictInput{Kind: herd.KindDomain, Value: "Evil.Bücher.Example.", Verdict: herd.VerdictMalicious, Threat: "Phish.Kit"},
			httpapi.VerdictInput{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256), Verdict: herd.VerdictClean, Source: herd.SourceImport}),
		verdictsBody(httpapi.VerdictInput{Kind: herd.KindURL, Value: "HTTP://[::FFFF:10.0.0.1]:80/a?b", Verdict: herd.VerdictSuspicious, Threat: "\u00e9\u200b"}),
		verdictsBody(httpapi.VerdictInput{Kind: herd.KindIP, Value: "10.0.0.1", Verdict: herd.VerdictClean, Source: herd.SourceBuiltin}),
	)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := httpapi.DecodeVerdicts(bytes.NewReader(data), now)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if len(recs) == 0 || len(recs) > httpapi.MaxAdminVerdicts {
			t.Fatalf("%d verdicts accepted", len(recs))
		}
		var req httpapi.SetVerdictsRequest
		if err := json.Unmarshal(data, &req); err != nil || len(req.Verdicts) != len(recs) {
			t.Fatalf("plain decoding: %d verdicts, err %v; DecodeVerdicts: %d", len(req.Verdicts), err, len(recs))
		}
		for i, r := range recs {
			again, err := httpapi.DecodeLookup(strings.NewReader(lookupBody(r.Object)))
			if err != nil || again[0] != r.Object {
				t.Fatalf("record %d: object %q decodes again to %q, %v: want itself", i, r.Object, again, err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("record %d %+v accepted but invalid: %v", i, r, err)
			}
			if r.Source != herd.SourceOperator && r.Source != herd.SourceImport || r.Test || !r.Updated.Equal(now) {
				t.Fatalf("record %d %+v: want source operator or import, not a test, updated now", i, r)
			}
			if in := req.Verdicts[i]; in.Verdict != r.Verdict || in.Threat != r.Threat || in.Kind != r.Object.Kind {
				t.Fatalf("record %d %+v does not keep input %+v", i, r, in)
			}
		}
	})
}
