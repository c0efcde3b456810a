package jsonwalk

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The walk must read every valid input exactly as encoding/json does.

func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c\/d\b\f\n\r\t"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`, "\"\xff\xc3\"", `"\ud800\u0041"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		var want string
		if len(lit) < 2 || lit[0] != '"' || json.Unmarshal([]byte(lit), &want) != nil || StringEnd([]byte(lit), 0) != len(lit) {
			return
		}
		if got := Unquote(nil, []byte(lit)); !bytes.Equal(got, []byte(want)) {
			t.Fatalf("Unquote(%q) = %q, encoding/json gives %q", lit, got, want)
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
		got := ArrayItems([]byte(list))
		if len(got) != len(want) {
			t.Fatalf("ArrayItems(%q) = %q, encoding/json gives %q", list, got, want)
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("ArrayItems(%q) = %q, encoding/json gives %q", list, got, want)
			}
		}
	})
}
