package httpapi

import (
	"strconv"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// The lookup endpoint is Herd's hot path: agents send batches of up to 1,000
// objects many times a second. Decoding and encoding its bodies by hand
// avoids reflection and most allocations. The fast decoder accepts only the
// plain form of a request (exact field names, strings without escapes, no
// nulls); anything else, including every invalid body, falls back to
// encoding/json, so errors and unusual-but-valid input are handled there. A
// differential fuzz test checks both agree.

// decodeLookupFast parses b as a LookupRequest; ok is false if b is not in
// the plain form (the caller then uses encoding/json).
func decodeLookupFast(b []byte) (req LookupRequest, ok bool) {
	p := fastParser{s: string(b)} // one allocation; values are substrings of it
	p.ws()
	if !p.eat('{') {
		return req, false
	}
	p.ws()
	if p.eat('}') {
		return req, p.end()
	}
	for {
		key, ok := p.str()
		if !ok || key != "objects" {
			return req, false
		}
		p.ws()
		if !p.eat(':') {
			return req, false
		}
		p.ws()
		objs, ok := p.objects()
		if !ok {
			return req, false
		}
		req.Objects = objs
		p.ws()
		if p.eat('}') {
			return req, p.end()
		}
		if !p.eat(',') {
			return req, false
		}
		p.ws()
	}
}

type fastParser struct {
	s string
	i int
}

func (p *fastParser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *fastParser) end() bool {
	p.ws()
	return p.i == len(p.s)
}

// str reads a string without escapes or control characters, in valid UTF-8.
func (p *fastParser) str() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	ascii := true
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			v := p.s[start:p.i]
			p.i++
			if !ascii && !utf8.ValidString(v) {
				return "", false
			}
			return v, true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return "", false
}

func (p *fastParser) objects() ([]herd.Object, bool) {
	if !p.eat('[') {
		return nil, false
	}
	objs := make([]herd.Object, 0, 64)
	p.ws()
	if p.eat(']') {
		return objs, true
	}
	for {
		o, ok := p.object()
		if !ok {
			return nil, false
		}
		objs = append(objs, o)
		p.ws()
		if p.eat(']') {
			return objs, true
		}
		if !p.eat(',') {
			return nil, false
		}
		p.ws()
		if len(objs) > MaxLookupObjects {
			return nil, false // let the slow path produce the limit error
		}
	}
}

func (p *fastParser) object() (herd.Object, bool) {
	var o herd.Object
	if !p.eat('{') {
		return o, false
	}
	p.ws()
	if p.eat('}') {
		return o, true
	}
	for {
		key, ok := p.str()
		if !ok {
			return o, false
		}
		p.ws()
		if !p.eat(':') {
			return o, false
		}
		p.ws()
		val, ok := p.str()
		if !ok {
			return o, false
		}
		switch key {
		case "kind":
			o.Kind = internKind(val)
		case "value":
			o.Value = val
		default:
			return o, false
		}
		p.ws()
		if p.eat('}') {
			return o, true
		}
		if !p.eat(',') {
			return o, false
		}
		p.ws()
	}
}

func internKind(s string) herd.Kind {
	for _, k := range herd.Kinds {
		if string(k) == s {
			return k
		}
	}
	return herd.Kind(s)
}

// appendLookupResponse appends resp as encoding/json would encode it.
func appendLookupResponse(b []byte, resp *LookupResponse) []byte {
	b = append(b, `{"results":[`...)
	for i := range resp.Results {
		a := &resp.Results[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"kind":`...)
		b = appendString(b, string(a.Kind))
		b = append(b, `,"value":`...)
		b = appendString(b, a.Value)
		b = append(b, `,"verdict":`...)
		b = appendString(b, string(a.Verdict))
		if a.Threat != "" {
			b = append(b, `,"threat":`...)
			b = appendString(b, a.Threat)
		}
		if a.Source != "" {
			b = append(b, `,"source":`...)
			b = appendString(b, a.Source)
		}
		if a.Test {
			b = append(b, `,"test":true`...)
		}
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, int64(a.TTL), 10)
		b = append(b, '}')
	}
	if resp.Results == nil {
		b = b[:len(b)-1]
		b = append(b, "null"...)
	} else {
		b = append(b, ']')
	}
	b = append(b, `,"positive_ttl":`...)
	b = strconv.AppendInt(b, int64(resp.PositiveTTL), 10)
	b = append(b, `,"negative_ttl":`...)
	b = strconv.AppendInt(b, int64(resp.NegativeTTL), 10)
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string exactly as encoding/json does:
// HTML-safe escapes for <, > and &, \u2028 and \u2029 escaped, invalid
// UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
