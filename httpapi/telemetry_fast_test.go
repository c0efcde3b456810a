package httpapi

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/herdsec/herd"
)

// The fast path must decode exactly what encoding/json decodes, and take
// nothing encoding/json refuses.
func FuzzDecodeTelemetryFast(f *testing.F) {
	for _, s := range []string{
		`{"device":"dev-1","events":[{"id":"e1","type":"threat.detected","category":"threats","time":"2026-11-25T05:42:17Z","payload":{"sha256":"ab","path":"/x"}}]}`,
		` { "events" : [ { "payload" : [1,"]"] , "time":"2026-11-25T05:42:17.123+02:00" ,"id":"a\"b\u00e9" } ] , "device" : "d\u0041" } `,
		`{"device":"d","events":[]}`, `{"device":"d"}`, `{"events":null}`, `{"device":"d","events":[{"id":1}]}`,
		`{"device":"d","events":[{"ID":"x"}]}`, `{"device":"d","device":"e","events":[]}`, `{"device":"d","extra":1}`,
		`{"device":"d","events":[{"time":"2026-13-01T00:00:00Z"}]}`, "{\"device\":\"\xff\",\"events\":[{\"payload\":null}]}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		fast, ok := decodeTelemetryFast([]byte(body))
		if !ok {
			return
		}
		var env struct {
			Device string            `json:"device"`
			Events []json.RawMessage `json:"events"`
		}
		if err := decodeJSON(bytes.NewReader([]byte(body)), &env); err != nil {
			t.Fatalf("%q: fast path took what encoding/json refuses: %v", body, err)
		}
		evs, err := decodeItems[herd.Event]("events", env.Events)
		if err != nil {
			t.Fatalf("%q: fast path took what encoding/json refuses: %v", body, err)
		}
		if fast.Device != env.Device || len(fast.Events) != len(evs) || (fast.Events == nil) != (evs == nil) {
			t.Fatalf("%q: fast %+v, encoding/json %q %+v", body, fast, env.Device, evs)
		}
		for i, a := range fast.Events {
			b := evs[i]
			_, ao := a.Time.Zone()
			_, bo := b.Time.Zone()
			if a.ID != b.ID || a.Type != b.Type || a.Category != b.Category || !bytes.Equal(a.Payload, b.Payload) || !a.Time.Equal(b.Time) || ao != bo {
				t.Fatalf("%q: event %d: fast %+v, encoding/json %+v", body, i, a, b)
			}
		}
	})
}
