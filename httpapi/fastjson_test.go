package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// FuzzDecodeLookupFast checks the hand-written lookup decoder against
// encoding/json: whatever the fast path accepts, encoding/json (with unknown
// fields refused) decodes to the same request.
func FuzzDecodeLookupFast(f *testing.F) {
	for _, s := range []string{
		`{"objects":[{"kind":"sha256","value":"` + herd.EICARSHA256 + `"}]}`,
		` { "objects" : [ { "value" : "x" , "kind" : "url" } , {} ] } `,
		`{"objects":[]}`, `{}`, `{"objects":null}`, `{"Objects":[]}`,
		`{"objects":[{"kind":"domain","value":"bücher.example"}],"objects":[]}`,
		`{"objects":[{"kind":"url","value":"http://a/\u0041"}]}`,
		`{"objects":[{"kind":"ip","value":"::1","extra":1}]}`,
		"{\"objects\":[{\"kind\":\"ip\",\"value\":\"\xff\"}]}",
		`{"objects":[{"kind":"ip","value":"1.2.3.4"}]} x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fast, ok := decodeLookupFast(b)
		if !ok {
			return
		}
		var slow LookupRequest
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json refused it: %v", b, err)
		}
		if dec.More() {
			t.Fatalf("fast path accepted trailing data in %q", b)
		}
		if len(fast.Objects) == 0 && len(slow.Objects) == 0 {
			return
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, slow)
		}
	})
}

func TestDecodeLookupFastRefusesWhatItDoesNotKnow(t *testing.T) {
	for _, s := range []string{
		`{"Objects":[]}`, // case-insensitive match: encoding/json's business
		`{"objects":[{"kind":"url","value":"\u0041"}]}`, // escapes
		`{"objects":null}`,
		`{"objects":[{"kind":"ip","value":"1","x":2}]}`,
		`{"objects":[]} {}`,
		"{\"objects\":[{\"kind\":\"ip\",\"value\":\"\xff\"}]}",
	} {
		if _, ok := decodeLookupFast([]byte(s)); ok {
			t.Errorf("fast path took %q", s)
		}
	}
	req, ok := decodeLookupFast([]byte(` {"objects" :[ {"kind":"sha1","value":"AB"},{"value":"x","kind":"url"}]}` + "\n"))
	want := []herd.Object{{Kind: herd.KindSHA1, Value: "AB"}, {Kind: herd.KindURL, Value: "x"}}
	if !ok || !reflect.DeepEqual(req.Objects, want) {
		t.Fatalf("fast path = %+v, %v", req, ok)
	}
}

// FuzzAppendString checks the hand-written JSON string encoder produces
// exactly what encoding/json produces.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `q"b\s`, "<a&b>", "\x00\x1f\n\t\r\b\f", "bücher", "\u2028\u2029", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		got := appendString(nil, s)
		if utf8.ValidString(s) {
			if !bytes.Equal(got, want) {
				t.Fatalf("appendString(%q) = %s, encoding/json = %s", s, got, want)
			}
			return
		}
		// Invalid UTF-8 becomes U+FFFD; Go releases differ in whether they
		// escape it, so compare what the two encodings decode to.
		var g, w string
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("appendString(%q) = %s: not JSON: %v", s, got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil || g != w {
			t.Fatalf("appendString(%q) decodes to %q, encoding/json's to %q", s, g, w)
		}
	})
}

func TestAppendLookupResponseMatchesEncodingJSON(t *testing.T) {
	for _, resp := range []LookupResponse{
		{},
		{Results: []Answer{}, PositiveTTL: 1, NegativeTTL: 2},
		{Results: []Answer{
			{Kind: herd.KindSHA256, Value: herd.EICARSHA256, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Test: true, TTL: 3600},
			{Kind: herd.KindURL, Value: "http://example.com/?a=<b>&c", Verdict: herd.VerdictUnknown, TTL: 900},
		}, PositiveTTL: 3600, NegativeTTL: 900},
	} {
		want, _ := json.Marshal(resp)
		if got := appendLookupResponse(nil, &resp); !bytes.Equal(got, want) {
			t.Errorf("appendLookupResponse = %s\nencoding/json       = %s", got, want)
		}
	}
}
