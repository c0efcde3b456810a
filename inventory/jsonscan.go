package inventory

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
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
	i := skipSpace(p, 0) + 1 // past '{'
	for {
		i = skipSpace(p, i)
		if p[i] == '}' {
			return vals, dropped, nil
		}
		if p[i] == ',' {
			i = skipSpace(p, i+1)
		}
		end := stringEnd(p, i)
		key := p[i:end]
		i = skipSpace(p, end)
		i = skipSpace(p, i+1) // past ':'
		end = valueEnd(p, i)
		raw := json.RawMessage(p[i:end:end])
		i = end
		k := et.indexRaw(key)
		if k < 0 {
			dropped = append(dropped, safeName(string(unquote(nil, key))))
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
	return et.index(string(unquote(nil, key)))
}

// arrayItems returns the items of a valid JSON array, in order.
func arrayItems(p []byte) []json.RawMessage {
	var items []json.RawMessage
	i := skipSpace(p, 0) + 1 // past '['
	for {
		i = skipSpace(p, i)
		if p[i] == ']' {
			return items
		}
		if p[i] == ',' {
			i = skipSpace(p, i+1)
		}
		end := valueEnd(p, i)
		items = append(items, json.RawMessage(p[i:end:end]))
		i = end
	}
}

func skipSpace(p []byte, i int) int {
	for i < len(p) {
		switch p[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the string literal starting at i.
func stringEnd(p []byte, i int) int {
	for i++; ; i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// valueEnd returns the index just past the value starting at i.
func valueEnd(p []byte, i int) int {
	switch p[i] {
	case '"':
		return stringEnd(p, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch p[i] {
			case '"':
				i = stringEnd(p, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(p) {
		switch p[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// unquote appends the text of a valid JSON string literal to dst, as
// encoding/json decodes it: invalid UTF-8 and lone surrogates become U+FFFD.
func unquote(dst, lit []byte) []byte {
	s := lit[1 : len(lit)-1]
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			i++
			switch s[i] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(s[i+1:])
				i += 4
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
						r2 = hex4(s[i+3:])
					}
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				}
				dst = utf8.AppendRune(dst, r)
			default: // '"', '\\', '/'
				dst = append(dst, s[i])
			}
			i++
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			i++
		default:
			r, n := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && n == 1 {
				dst = append(dst, "\uFFFD"...)
			} else {
				dst = append(dst, s[i:i+n]...)
			}
			i += n
		}
	}
	return dst
}

func hex4(s []byte) rune {
	var r rune
	for _, c := range s[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		default:
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
