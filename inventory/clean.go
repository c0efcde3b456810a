package inventory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/internal/jsonwalk"
)

// Result is what Clean made of a payload.
type Result struct {
	// Payload holds only declared fields, each checked and scrubbed, with
	// keys in declaration order. Absent, null and empty values are left out.
	Payload json.RawMessage
	// Dropped lists undeclared fields (names cut to 64 bytes, control
	// characters replaced), then declared fields, or items of a list
	// ("name[2]"), whose value the scrubber dropped.
	Dropped []string
	// Hits counts what the scrubber removed or replaced.
	Hits int
}

// Clean checks payload, a JSON object, against et and returns the cleaned
// payload. The agent calls it before sending and the cloud again before
// storing, each with its own Scrubber.
//
// An undeclared field is dropped and listed, never an error: whatever an
// agent adds that the inventory does not declare is simply not kept. A
// declared field whose value has the wrong JSON type, is outside its enum or
// range, does not match its pattern, is longer than MaxLen or holds control
// characters, a declared field given twice, a missing required field, or a
// required field the scrubber dropped is an EINVALID error naming the field.
// Error messages quote a value only when it failed an enum check (cut to 32
// bytes), so that errors, which get logged, do not carry personal data.
//
// A nil Scrubber drops every value that needs a rule (fail closed).
func (et *EventType) Clean(payload json.RawMessage, s Scrubber) (Result, error) {
	vals, dropped, err := et.split(payload)
	if err != nil {
		return Result{}, err
	}
	var res Result
	res.Dropped = dropped
	out := make([]byte, 0, len(payload)+2)
	out = append(out, '{')
	first := true
	for i := range et.Fields {
		f := &et.Fields[i]
		v, hits, drop, err := f.clean(vals[i], s)
		res.Hits += hits
		if err != nil {
			return Result{}, herd.Errorf(herd.EINVALID, "field %q: %s", f.Name, err.Error())
		}
		res.Dropped = append(res.Dropped, drop...)
		if v == nil {
			if f.Required {
				if len(drop) > 0 {
					return Result{}, herd.Errorf(herd.EINVALID, "field %q: dropped by depersonalization", f.Name)
				}
				return Result{}, herd.Errorf(herd.EINVALID, "field %q: missing", f.Name)
			}
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = appendString(out, f.Name)
		out = append(out, ':')
		out = append(out, v...)
	}
	res.Payload = append(out, '}')
	return res, nil
}

// split decodes the top-level object: the raw value of each declared field
// by declaration index, and the names of undeclared ones.
func (et *EventType) split(payload json.RawMessage) ([]json.RawMessage, []string, error) {
	if i := jsonwalk.SkipSpace(payload, 0); i < len(payload) && payload[i] == '{' && json.Valid(payload) {
		return et.splitValid(payload)
	}
	return et.splitDecode(payload)
}

// splitDecode is split with encoding/json's decoder, whose errors say what
// is wrong with a payload that is not a valid object.
func (et *EventType) splitDecode(payload json.RawMessage) ([]json.RawMessage, []string, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, herd.Errorf(herd.EINVALID, "payload: want a JSON object")
	}
	vals := make([]json.RawMessage, len(et.Fields))
	var dropped []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, herd.Errorf(herd.EINVALID, "payload: not valid JSON")
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, herd.Errorf(herd.EINVALID, "payload: not valid JSON")
		}
		i := et.index(key)
		if i < 0 {
			dropped = append(dropped, safeName(key))
			continue
		}
		if vals[i] != nil {
			return nil, nil, errGivenTwice(key)
		}
		vals[i] = raw
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, herd.Errorf(herd.EINVALID, "payload: not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, herd.Errorf(herd.EINVALID, "payload: data after the object")
	}
	return vals, dropped, nil
}

func errGivenTwice(name string) error {
	return herd.Errorf(herd.EINVALID, "field %q: given twice", name)
}

func (et *EventType) index(name string) int {
	for i := range et.Fields {
		if et.Fields[i].Name == name {
			return i
		}
	}
	return -1
}

// clean checks and scrubs one raw value. It returns the JSON to store (nil
// for nothing), the scrubber's hits and the names of what it dropped.
func (f *Field) clean(raw json.RawMessage, s Scrubber) (json.RawMessage, int, []string, error) {
	if raw == nil || string(raw) == "null" {
		return nil, 0, nil, nil
	}
	switch f.Kind {
	case KindString:
		v, err := f.decodeString(raw)
		if err != nil || v == "" {
			return nil, 0, nil, err
		}
		v, hits, ok := f.scrub(v, s)
		if !ok {
			return nil, hits, []string{f.Name}, nil
		}
		return appendString(nil, v), hits, nil, nil
	case KindStrings:
		if raw[0] != '[' {
			return nil, 0, nil, wantGot("a list of strings", raw)
		}
		items := jsonwalk.ArrayItems(raw)
		if f.MaxItems > 0 && len(items) > f.MaxItems {
			return nil, 0, nil, fmt.Errorf("%d items, more than %d", len(items), f.MaxItems)
		}
		b := []byte{'['}
		var hits, n int
		var dropped []string
		for i, item := range items {
			v, err := f.decodeString(item)
			if err != nil {
				return nil, hits, nil, fmt.Errorf("item %d: %s", i, err.Error())
			}
			if v == "" {
				continue
			}
			v, h, ok := f.scrub(v, s)
			hits += h
			if !ok {
				dropped = append(dropped, f.Name+"["+strconv.Itoa(i)+"]")
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			n++
			b = appendString(b, v)
		}
		b = append(b, ']')
		if n == 0 {
			if len(dropped) > 0 {
				dropped = append(dropped, f.Name)
			}
			return nil, hits, dropped, nil
		}
		return b, hits, dropped, nil
	case KindInteger:
		if c := raw[0]; c != '-' && (c < '0' || c > '9') {
			return nil, 0, nil, wantGot("an integer", raw)
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				return nil, 0, nil, errors.New("out of range")
			}
			return nil, 0, nil, errors.New("want an integer, got a number with a fraction or an exponent")
		}
		if (f.Min != 0 || f.Max != 0) && (n < f.Min || n > f.Max) {
			return nil, 0, nil, fmt.Errorf("%d is outside %d..%d", n, f.Min, f.Max)
		}
		return json.RawMessage(strconv.FormatInt(n, 10)), 0, nil, nil
	case KindBoolean:
		switch string(raw) {
		case "true", "false":
			return raw, 0, nil, nil
		}
		return nil, 0, nil, wantGot("true or false", raw)
	}
	return nil, 0, nil, fmt.Errorf("kind %q is not known", f.Kind)
}

// decodeString decodes a JSON string and checks it against the field's limits.
func (f *Field) decodeString(raw json.RawMessage) (string, error) {
	if raw[0] != '"' {
		return "", wantGot("a string", raw)
	}
	var v string
	if len(raw) >= 2 && raw[len(raw)-1] == '"' && plain(raw[1:len(raw)-1]) {
		v = string(raw[1 : len(raw)-1]) // the common case: nothing to unescape
	} else {
		v = string(jsonwalk.Unquote(make([]byte, 0, len(raw)), raw))
	}
	if v == "" {
		if f.Required {
			return "", errors.New("empty")
		}
		return "", nil
	}
	if f.MaxLen > 0 && len(v) > f.MaxLen {
		return "", fmt.Errorf("%d bytes, longer than %d", len(v), f.MaxLen)
	}
	for _, r := range v {
		if isControl(r) && !(f.FreeText && (r == '\t' || r == '\n' || r == '\r')) {
			return "", errors.New("contains control characters")
		}
	}
	if len(f.Enum) > 0 && !contains(f.Enum, v) {
		return "", fmt.Errorf("%q is not one of %s", clip(v, 32), strings.Join(f.Enum, ", "))
	}
	if f.Pattern != "" {
		m, err := compiled(f.Pattern)
		if err != nil {
			return "", fmt.Errorf("bad pattern in the inventory: %v", err)
		}
		if !m.MatchString(v) {
			return "", fmt.Errorf("not in the expected form (%s)", f.Pattern)
		}
	}
	return v, nil
}

// scrub applies the field's rule; a nil scrubber drops (fail closed).
func (f *Field) scrub(v string, s Scrubber) (string, int, bool) {
	if f.Rule == RuleNone {
		return v, 0, true
	}
	if s == nil {
		return "", 0, false
	}
	out, hits, ok := s.Scrub(f.Rule, v)
	if !ok {
		return "", hits, false
	}
	out = strings.ToValidUTF8(out, "\uFFFD")
	if f.MaxLen > 0 && len(out) > f.MaxLen {
		out = cut(out, f.MaxLen)
	}
	return out, hits, true
}

var patterns sync.Map // pattern source → matcher

// A matcher tells whether a whole value is in a field's form.
type matcher interface{ MatchString(string) bool }

func compiled(pattern string) (matcher, error) {
	if m, ok := patterns.Load(pattern); ok {
		return m.(matcher), nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	var m matcher = re
	if c := fastPattern(pattern); c != nil {
		m = c
	}
	patterns.Store(pattern, m)
	return m, nil
}

func init() {
	for _, et := range types {
		for _, f := range et.Fields {
			if f.Pattern != "" {
				if _, err := compiled(f.Pattern); err != nil {
					panic("inventory: " + et.Name + "." + f.Name + ": " + err.Error())
				}
			}
		}
	}
}

func wantGot(want string, raw json.RawMessage) error {
	return fmt.Errorf("want %s, got %s", want, jsonType(raw))
}

func jsonType(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "a list"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

func isControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n-3) + "..."
}

// safeName makes an undeclared key fit to be listed and logged.
func safeName(s string) string {
	s = cut(s, 64)
	return strings.Map(func(r rune) rune {
		if isControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// appendString appends s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone, so placeholders such as <user> stay readable.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	if plain(s) {
		dst = append(dst, s...)
		return append(dst, '"')
	}
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			dst = append(dst, '\\', byte(r))
		case r == '\n':
			dst = append(dst, `\n`...)
		case r == '\r':
			dst = append(dst, `\r`...)
		case r == '\t':
			dst = append(dst, `\t`...)
		case r < 0x20 || r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return append(dst, '"')
}

// plain reports whether s is printable ASCII without quotes or backslashes,
// the common case, which needs no escaping or decoding.
func plain[T ~string | ~[]byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
