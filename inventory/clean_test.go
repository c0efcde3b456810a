package inventory_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/inventory"
)

// fakeScrubber stands in for package scrub: it replaces "alice" by <user>
// (one hit each), drops any value containing DROP, and records each call.
type fakeScrubber struct{ calls []string }

func (f *fakeScrubber) Scrub(rule inventory.Rule, v string) (string, int, bool) {
	f.calls = append(f.calls, string(rule)+":"+v)
	if strings.Contains(v, "DROP") {
		return "", 1, false
	}
	return strings.ReplaceAll(v, "alice", "<user>"), strings.Count(v, "alice"), true
}

const (
	sha256 = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"
	keyed  = "0123456789abcdef0123456789abcdef"
)

// custom has a list field and a short scrubbed field, which the inventory
// itself does not declare.
var custom = inventory.EventType{Name: "test.custom", Category: herd.CategoryApps, Fields: []inventory.Field{
	{Name: "tags", Kind: inventory.KindStrings, Rule: inventory.RuleText, MaxLen: 16, MaxItems: 4},
	{Name: "short", Kind: inventory.KindString, Rule: inventory.RuleText, MaxLen: 10},
}}

func TestClean(t *testing.T) {
	for _, tt := range []struct {
		name    string
		typ     string // "" = custom
		in      string
		want    string   // cleaned payload
		dropped []string // Result.Dropped
		hits    int
		calls   []string // scrubber calls, "" = don't check
		err     string   // EINVALID message, exact
	}{
		{name: "keys in declaration order", typ: "device.info",
			in:    `{"hw_fingerprint":"` + keyed + `","os_version":"6.8.0-45-generic","os_family":"linux","device_type":"laptop"}`,
			want:  `{"device_type":"laptop","os_family":"linux","os_version":"6.8.0-45-generic","hw_fingerprint":"` + keyed + `"}`,
			calls: []string{"keyed:" + keyed}},
		{name: "undeclared fields dropped", typ: "device.info",
			in:      `{"hostname":"alice-pc","os_family":"linux","user":{"name":"alice"},"mac":["aa"]}`,
			want:    `{"os_family":"linux"}`,
			dropped: []string{"hostname", "user", "mac"}},
		{name: "scrubbed with each field's rule", typ: "process.start",
			in:    `{"image_sha256":"` + sha256 + `","image_path":"/home/alice/bin/x","parent_path":"/usr/bin/bash","command_line":"x --user=alice 'a\"b'","rule_id":"proc.shell-from-doc"}`,
			want:  `{"image_sha256":"` + sha256 + `","image_path":"/home/<user>/bin/x","parent_path":"/usr/bin/bash","command_line":"x --user=<user> 'a\"b'","rule_id":"proc.shell-from-doc"}`,
			hits:  2,
			calls: []string{"hash:" + sha256, "path:/home/alice/bin/x", "path:/usr/bin/bash", "text:x --user=alice 'a\"b'"}},
		{name: "all kinds", typ: "scan.finished",
			in:   `{"duration_ms":1500,"files":12,"bytes":0,"detections":1,"errors":0,"trigger":"manual"}`,
			want: `{"duration_ms":1500,"files":12,"bytes":0,"detections":1,"errors":0,"trigger":"manual"}`},
		{name: "boolean", typ: "url.check",
			in:   `{"blocked":true,"verdict":"malicious","url":"https://phish.example/login"}`,
			want: `{"url":"https://phish.example/login","verdict":"malicious","blocked":true}`},
		{name: "escapes decoded and re-encoded", typ: "threat.detected",
			in:   `{"sha256":"` + sha256 + `","threat_name":"EICAR\u002dTest \"x\" \\ é \u00e9"}`,
			want: `{"sha256":"` + sha256 + `","threat_name":"EICAR-Test \"x\" \\ é é"}`},
		{name: "null and empty are absent", typ: "threat.detected",
			in:   `{"sha256":"` + sha256 + `","path":null,"threat_name":"","sha1":null}`,
			want: `{"sha256":"` + sha256 + `"}`},
		{name: "free text keeps new lines", typ: "agent.error",
			in:   `{"component":"cloud","code":"cloud.timeout","message":"dial tcp:\n\ttimeout for alice"}`,
			want: `{"component":"cloud","code":"cloud.timeout","message":"dial tcp:\n\ttimeout for <user>"}`,
			hits: 1},
		{name: "scrubber drops an optional field", typ: "threat.detected",
			in:      `{"sha256":"` + sha256 + `","path":"/tmp/DROP","threat_name":"EICAR-Test-File"}`,
			want:    `{"sha256":"` + sha256 + `","threat_name":"EICAR-Test-File"}`,
			dropped: []string{"path"}, hits: 1},
		{name: "scrubber drops a required field", typ: "url.check",
			in:  `{"url":"https://DROP.example/"}`,
			err: `field "url": dropped by depersonalization`},
		{name: "scrubbed value cut to MaxLen", typ: "",
			in:   `{"short":"alicealice"}`,
			want: `{"short":"<user><use"}`, hits: 2},
		{name: "list", typ: "",
			in:  `{"tags":["a",null]}`,
			err: `field "tags": item 1: want a string, got null`},
		{name: "list items scrubbed and dropped", typ: "",
			in:      `{"tags":["a","alice","DROP",""]}`,
			want:    `{"tags":["a","<user>"]}`,
			dropped: []string{"tags[2]"}, hits: 2},
		{name: "list entirely dropped", typ: "",
			in:      `{"tags":["DROP"],"short":"ok"}`,
			want:    `{"short":"ok"}`,
			dropped: []string{"tags[0]", "tags"}, hits: 1},
		{name: "list too long", typ: "", in: `{"tags":["a","b","c","d","e"]}`, err: `field "tags": 5 items, more than 4`},
		{name: "list item too long", typ: "", in: `{"tags":["a","0123456789abcdefg"]}`, err: `field "tags": item 1: 17 bytes, longer than 16`},
		{name: "list not a list", typ: "", in: `{"tags":"a"}`, err: `field "tags": want a list of strings, got a string`},
		{name: "empty object", typ: "feature.used", in: `{}`, err: `field "feature": missing`},
		{name: "enum", typ: "device.info", in: `{"os_family":"plan9"}`,
			err: `field "os_family": "plan9" is not one of linux, windows, macos, android, ios, bsd, other`},
		{name: "long value not echoed", typ: "device.info", in: `{"os_family":"alice@example.org, born 1970-01-01"}`,
			err: `field "os_family": 34 bytes, longer than 16`},
		{name: "missing required", typ: "device.info", in: `{"device_type":"laptop"}`, err: `field "os_family": missing`},
		{name: "empty required", typ: "url.check", in: `{"url":""}`, err: `field "url": empty`},
		{name: "string for integer", typ: "scan.finished", in: `{"files":"12"}`, err: `field "files": want an integer, got a string`},
		{name: "fraction", typ: "scan.finished", in: `{"files":1.5}`, err: `field "files": want an integer, got a number with a fraction or an exponent`},
		{name: "exponent", typ: "scan.finished", in: `{"files":1e3}`, err: `field "files": want an integer, got a number with a fraction or an exponent`},
		{name: "below range", typ: "scan.finished", in: `{"duration_ms":-1}`, err: `field "duration_ms": -1 is outside 0..604800000`},
		{name: "overflow", typ: "scan.finished", in: `{"bytes":99999999999999999999}`, err: `field "bytes": out of range`},
		{name: "object for integer", typ: "sample.offered", in: `{"sha256":"` + sha256 + `","size":{}}`, err: `field "size": want an integer, got an object`},
		{name: "string for boolean", typ: "feature.used", in: `{"feature":"scan","used":"yes"}`, err: `field "used": want true or false, got a string`},
		{name: "number for string", typ: "device.info", in: `{"os_family":1}`, err: `field "os_family": want a string, got a number`},
		{name: "too long", typ: "agent.error", in: `{"component":"scan","code":"x","message":"` + strings.Repeat("m", 513) + `"}`,
			err: `field "message": 513 bytes, longer than 512`},
		{name: "pattern", typ: "threat.detected", in: `{"sha256":"c:/users/alice/x.exe"}`,
			err: `field "sha256": not in the expected form (^[0-9a-fA-F]{64}$)`},
		{name: "raw BSSID refused", typ: "wifi.seen", in: `{"bssid":"aa:bb:cc:dd:ee:ff","security":"open"}`,
			err: `field "bssid": not in the expected form (^[0-9a-fA-F]{32,64}$)`},
		{name: "control characters", typ: "threat.detected", in: `{"sha256":"` + sha256 + `","threat_name":"a\u001b[31mb"}`,
			err: `field "threat_name": contains control characters`},
		{name: "new line outside free text", typ: "threat.detected", in: `{"sha256":"` + sha256 + `","path":"/tmp/a\nb"}`,
			err: `field "path": contains control characters`},
		{name: "given twice", typ: "device.info", in: `{"os_family":"linux","os_family":"windows"}`, err: `field "os_family": given twice`},
		{name: "undeclared twice is no error", typ: "device.info", in: `{"os_family":"linux","x":1,"x":2}`,
			want: `{"os_family":"linux"}`, dropped: []string{"x", "x"}},
		{name: "list payload", typ: "device.info", in: `[{"os_family":"linux"}]`, err: `payload: want a JSON object`},
		{name: "null payload", typ: "device.info", in: `null`, err: `payload: want a JSON object`},
		{name: "empty payload", typ: "device.info", in: ``, err: `payload: want a JSON object`},
		{name: "truncated", typ: "device.info", in: `{"os_family":`, err: `payload: not valid JSON`},
		{name: "unterminated", typ: "device.info", in: `{"os_family":"linux"`, err: `payload: not valid JSON`},
		{name: "trailing data", typ: "device.info", in: `{"os_family":"linux"} {}`, err: `payload: data after the object`},
		{name: "contact", typ: "contact.info", in: `{"email":"alice@example.org","display_name":"Alice <3"}`,
			want: `{"email":"alice@example.org","display_name":"Alice <3"}`, calls: []string{}},
		{name: "not an e-mail", typ: "contact.info", in: `{"email":"alice"}`, err: `field "email": not in the expected form (^[^@\s]+@[^@\s]+$)`},
	} {
		et := &custom
		if tt.typ != "" {
			var ok bool
			if et, ok = inventory.Get(tt.typ); !ok {
				t.Fatalf("%s: no type %s", tt.name, tt.typ)
			}
		}
		s := &fakeScrubber{calls: []string{}}
		res, err := et.Clean(json.RawMessage(tt.in), s)
		if tt.err != "" {
			if err == nil || herd.ErrorCode(err) != herd.EINVALID || err.Error() != tt.err {
				t.Errorf("%s: Clean = %s, %v\nwant EINVALID %s", tt.name, res.Payload, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Clean: %v", tt.name, err)
			continue
		}
		if string(res.Payload) != tt.want || !reflect.DeepEqual(res.Dropped, tt.dropped) || res.Hits != tt.hits {
			t.Errorf("%s: Clean = %s, dropped %q, %d hits\nwant    %s, dropped %q, %d hits", tt.name, res.Payload, res.Dropped, res.Hits, tt.want, tt.dropped, tt.hits)
		}
		if !json.Valid(res.Payload) {
			t.Errorf("%s: output is not valid JSON: %s", tt.name, res.Payload)
		}
		if tt.calls != nil && !reflect.DeepEqual(s.calls, tt.calls) {
			t.Errorf("%s: scrubber calls %q, want %q", tt.name, s.calls, tt.calls)
		}
	}
}

// Without a scrubber nothing that needs one survives (fail closed), and
// fields without a rule pass.
func TestCleanNilScrubber(t *testing.T) {
	et, _ := inventory.Get("threat.detected")
	res, err := et.Clean(json.RawMessage(`{"sha256":"`+sha256+`","method":"signature","path":"/tmp/x"}`), nil)
	if err == nil || err.Error() != `field "sha256": dropped by depersonalization` {
		t.Fatalf("Clean with nil scrubber = %s, %v", res.Payload, err)
	}
	et, _ = inventory.Get("feature.used")
	res, err = et.Clean(json.RawMessage(`{"feature":"rules","used":false}`), nil)
	if err != nil || string(res.Payload) != `{"feature":"rules","used":false}` {
		t.Fatalf("Clean with nil scrubber = %s, %v", res.Payload, err)
	}
	et, _ = inventory.Get("app.installed")
	res, err = et.Clean(json.RawMessage(`{"name":"x","source":"dpkg"}`), nil)
	if err == nil || err.Error() != `field "name": dropped by depersonalization` {
		t.Fatalf("Clean with nil scrubber = %s, %v", res.Payload, err)
	}
}

// Undeclared names are listed, but cut and without control characters,
// since they may end up in logs.
func TestCleanDroppedNamesAreSafe(t *testing.T) {
	et, _ := inventory.Get("device.info")
	long := strings.Repeat("é", 40) // 80 bytes
	res, err := et.Clean(json.RawMessage(`{"os_family":"ios","a\u0000b":1,"`+long+`":2}`), &fakeScrubber{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a?b", strings.Repeat("é", 32)}
	if !reflect.DeepEqual(res.Dropped, want) {
		t.Fatalf("Dropped = %q, want %q", res.Dropped, want)
	}
}

func FuzzClean(f *testing.F) {
	for _, s := range []string{
		`{"os_family":"linux","x":[1,{"y":null}]}`,
		`{"sha256":"` + sha256 + `","path":"/home/alice/x","threat_name":"a\"b\\c"}`,
		`{"image_sha256":"` + sha256 + `","command_line":"sh -c \"DROP\" \u2028 alice"}`,
		`{"files":-0,"bytes":9007199254740992,"trigger":"manual"}`,
		`{"url":"https://a.example/?q=alice#frag"}`,
		`{"tags":["alice","<x>"],"short":"ééééé"}`,
		`{"a":1,"a":2}`, `[]`, `{"os_family":"linux"}{}`, "{\"name\":\"\xff\xfe\"}",
	} {
		for i := 0; i <= len(inventory.Types()); i++ {
			f.Add(uint8(i), []byte(s))
		}
	}
	types := inventory.Types()
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		et := &custom
		if int(which) < len(types) {
			et = &types[which]
		}
		res, err := et.Clean(payload, &fakeScrubber{})
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("Clean(%q): %v is not EINVALID", payload, err)
			}
			return
		}
		// Only declared keys, in declaration order, in a valid object.
		dec := json.NewDecoder(bytes.NewReader(res.Payload))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			t.Fatalf("Clean(%q) = %s: not an object", payload, res.Payload)
		}
		last := -1
		for dec.More() {
			tok, _ := dec.Token()
			name, _ := tok.(string)
			i := -1
			for j, f := range et.Fields {
				if f.Name == name {
					i = j
				}
			}
			if i <= last {
				t.Fatalf("Clean(%q) = %s: key %q undeclared or out of order", payload, res.Payload, name)
			}
			last = i
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("Clean(%q) = %s: %v", payload, res.Payload, err)
			}
		}
		// Cleaning is idempotent.
		again, err := et.Clean(res.Payload, &fakeScrubber{})
		if err != nil || !bytes.Equal(again.Payload, res.Payload) {
			t.Fatalf("Clean(Clean(%q)) = %s, %v; want %s", payload, again.Payload, err, res.Payload)
		}
	})
}

func BenchmarkClean(b *testing.B) {
	et, _ := inventory.Get("process.start")
	payload := json.RawMessage(`{"image_sha256":"` + sha256 + `","image_path":"/home/alice/bin/x","parent_path":"/usr/bin/bash","command_line":"x --user=alice --verbose","rule_id":"proc.shell-from-doc","extra":{"a":[1,2,3]}}`)
	s := &nopScrubber{}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, err := et.Clean(payload, s); err != nil {
			b.Fatal(err)
		}
	}
}

type nopScrubber struct{}

func (nopScrubber) Scrub(_ inventory.Rule, v string) (string, int, bool) { return v, 0, true }
