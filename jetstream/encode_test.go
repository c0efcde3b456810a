package jetstream

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

// appendEvent must write what json.Marshal writes for a stored event.
func FuzzAppendEvent(f *testing.F) {
	f.Add("threat.detected", "threats", int64(1764050400), "SE", uint32(29518), "0299911e3b16e1cfd30607fb062ea839", `{"sha256":"abc","path":"<home>/x"}`)
	f.Add("a\"b", "c\\d", int64(-1), "<&>", uint32(0), "é\u2028", ` [1, 2] `)
	f.Add("", "", int64(0), "", uint32(1), "", ``)
	f.Add("t", "c", int64(1), "ZZ", uint32(1), "d", `{"a":`)
	f.Fuzz(func(t *testing.T, typ, category string, unix int64, country string, asn uint32, device, payload string) {
		ev := herd.StoredEvent{Type: typ, Category: herd.Category(category), Hour: time.Unix(unix, 0).UTC(), Country: country, ASN: asn, Device: device, Payload: json.RawMessage(payload)}
		want, werr := json.Marshal(ev)
		got, gerr := appendEvent(nil, ev)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%+v: appendEvent error %v, json.Marshal error %v", ev, gerr, werr)
		}
		if werr != nil {
			return
		}
		// Numbers are compared as written: a payload may hold one that no
		// float64 holds (1E1000), which is still valid JSON.
		decode := func(b []byte) (any, error) {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			var v any
			err := dec.Decode(&v)
			return v, err
		}
		g, err := decode(got)
		if err != nil {
			t.Fatalf("%+v: appendEvent wrote invalid JSON %s: %v", ev, got, err)
		}
		w, err := decode(want)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Fatalf("%+v:\nappendEvent  %s\njson.Marshal %s", ev, got, want)
		}
	})
}
