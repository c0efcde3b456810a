// Package jsonwalk walks JSON that encoding/json has already found valid
// (json.Valid checks without allocating); the walk only finds where each
// value ends and decodes strings, which is all a fast path needs. Callers
// fall back to encoding/json, which names the fault, for anything else.
package jsonwalk

import (
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// ArrayItems returns the items of a valid JSON array, in order.
func ArrayItems(p []byte) []json.RawMessage {
	var items []json.RawMessage
	i := SkipSpace(p, 0) + 1 // past '['
	for {
		i = SkipSpace(p, i)
		if p[i] == ']' {
			return items
		}
		if p[i] == ',' {
			i = SkipSpace(p, i+1)
		}
		end := ValueEnd(p, i)
		items = append(items, json.RawMessage(p[i:end:end]))
		i = end
	}
}

func SkipSpace(p []byte, i int) int {
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

// StringEnd returns the index just past the string literal starting at i.
func StringEnd(p []byte, i int) int {
	for i++; ; i++ {
		switch p[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// ValueEnd returns the index just past the value starting at i.
func ValueEnd(p []byte, i int) int {
	switch p[i] {
	case '"':
		return StringEnd(p, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch p[i] {
			case '"':
				i = StringEnd(p, i) - 1
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

// Unquote appends the text of a valid JSON string literal to dst, as
// encoding/json decodes it: invalid UTF-8 and lone surrogates become U+FFFD.
func Unquote(dst, lit []byte) []byte {
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
