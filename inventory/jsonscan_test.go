package inventory

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// The scanner must read every valid payload exactly as encoding/json does.

func FuzzSplitValid(f *testing.F) {
	for _, s := range []string{
		`{"os_family":"linux","x":[1,{"y":null}]}`,
		` { "sha256" : "abc" , "path":"a\"b\\c\/d\u00e9\ud83d\ude00" ,"n":-1.5e3, "t":true,"f":false,"z":null } `,
		`{"tags":["a", "b\u2028", {"c":["]"]}],"x\u0041":"y"}`,
		`{"a":"\ud800x","b":"\udc00","c":"\ud800\u0041","d":"\ud800\ud800\udc00"}`,
		"{\"name\":\"\xff\xfe\",\"\xc3\":1}",
		`{"a":1,"a":2}`, `{}`, `{"a":{}}`,
	} {
		f.Add(s)
	}
	et := &EventType{Name: "test.scan", Fields: []Field{
		{Name: "sha256", Kind: KindString}, {Name: "path", Kind: KindString}, {Name: "tags", Kind: KindStrings},
		{Name: "a", Kind: KindInteger}, {Name: "name", Kind: KindString}, {Name: "xA", Kind: KindString}, {Name: "é", Kind: KindString},
	}}
	f.Fuzz(func(t *testing.T, payload string) {
		p := []byte(payload)
		if i := skipSpace(p, 0); i >= len(p) || p[i] != '{' || !json.Valid(p) {
			return
		}
		gotVals, gotDropped, gotErr := et.splitValid(p)
		wantVals, wantDropped, wantErr := et.splitDecode(p)
		if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
			t.Fatalf("%q: scanner error %v, decoder error %v", p, gotErr, wantErr)
		}
		if !reflect.DeepEqual(gotVals, wantVals) || !reflect.DeepEqual(gotDropped, wantDropped) {
			t.Fatalf("%q: scanner %q %q, decoder %q %q", p, gotVals, gotDropped, wantVals, wantDropped)
		}
	})
}

func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, "\"\xff\xc3\"", `"\ud800\u0041"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		var want string
		if len(lit) < 2 || lit[0] != '"' || json.Unmarshal([]byte(lit), &want) != nil || stringEnd([]byte(lit), 0) != len(lit) {
			return
		}
		if got := unquote(nil, []byte(lit)); !bytes.Equal(got, []byte(want)) {
			t.Fatalf("unquote(%q) = %q, encoding/json gives %q", lit, got, want)
		}
	})
}

func FuzzArrayItems(f *testing.F) {
	for _, s := range []string{`[]`, ` [ 1 , "a,]" , [2,[3]] , {"b":"]"} , null ] `, `["\"]"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		var want []json.RawMessage
		if json.Unmarshal([]byte(list), &want) != nil || want == nil {
			return
		}
		got := arrayItems([]byte(list))
		if len(got) != len(want) {
			t.Fatalf("arrayItems(%q) = %q, encoding/json gives %q", list, got, want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("arrayItems(%q) = %q, encoding/json gives %q", list, got, want)
			}
		}
	})
}
