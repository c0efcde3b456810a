package inventory

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/herdsec/herd/internal/jsonwalk"
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
		if i := jsonwalk.SkipSpace(p, 0); i >= len(p) || p[i] != '{' || !json.Valid(p) {
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
