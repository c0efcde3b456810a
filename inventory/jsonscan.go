package inventory

import (
	"encoding/json"

	"github.com/herdsec/herd/internal/jsonwalk"
)

// The scanner below walks JSON that encoding/json has already found valid:
// json.Valid does the checking without allocating, and the walk only has to
// find where each value ends. Input that is not valid never reaches it
// (split falls back to the decoder, which names the fault).

// splitValid is split for a payload json.Valid accepted whose first
// non-space byte is '{'.
func (et *EventType) splitValid(p []byte) ([]json.RawMessage, []string, error) {
	vals := make([]json.RawMessage, len(et.Fields))
	var dropped []string
	i := jsonwalk.SkipSpace(p, 0) + 1 // past '{'
	for {
		i = jsonwalk.SkipSpace(p, i)
		if p[i] == '}' {
			return vals, dropped, nil
		}
		if p[i] == ',' {
			i = jsonwalk.SkipSpace(p, i+1)
		}
		end := jsonwalk.StringEnd(p, i)
		key := p[i:end]
		i = jsonwalk.SkipSpace(p, end)
		i = jsonwalk.SkipSpace(p, i+1) // past ':'
		end = jsonwalk.ValueEnd(p, i)
		raw := json.RawMessage(p[i:end:end])
		i = end
		k := et.indexRaw(key)
		if k < 0 {
			dropped = append(dropped, safeName(string(jsonwalk.Unquote(nil, key))))
			continue
		}
		if vals[k] != nil {
			return nil, nil, errGivenTwice(et.Fields[k].Name)
		}
		vals[k] = raw
	}
}

// indexRaw finds the field named by key, a JSON string literal.
func (et *EventType) indexRaw(key []byte) int {
	inner := key[1 : len(key)-1]
	if plain(inner) {
		for i := range et.Fields {
			if et.Fields[i].Name == string(inner) {
				return i
			}
		}
		return -1
	}
	return et.index(string(jsonwalk.Unquote(nil, key)))
}
