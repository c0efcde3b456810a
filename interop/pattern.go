package interop

import (
	"fmt"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// A STIX pattern (STIX 2.1, section 9) is one or more observation
// expressions in brackets, joined by AND, OR or FOLLOWEDBY and followed by
// qualifiers; each holds comparisons of object paths with literals. Herd
// keeps a verdict per object, so it accepts only patterns that name one
// object: a single equality comparison of a supported observable, such as
//
//	[file:hashes.'SHA-256' = 'e3b0…']
//	[url:value = 'http://example.com/']
//
// Anything else is reported as not supported, with the reason.

// formatPattern returns the STIX pattern that matches obj, which must be
// normalized.
func formatPattern(obj herd.Object) string {
	var path string
	switch obj.Kind {
	case herd.KindSHA256:
		path = "file:hashes.'SHA-256'"
	case herd.KindSHA1:
		path = "file:hashes.'SHA-1'"
	case herd.KindMD5:
		path = "file:hashes.MD5"
	case herd.KindURL:
		path = "url:value"
	case herd.KindDomain:
		path = "domain-name:value"
	case herd.KindIP:
		path = "ipv4-addr:value"
		if strings.Contains(obj.Value, ":") {
			path = "ipv6-addr:value"
		}
	}
	return "[" + path + " = " + quotePattern(obj.Value) + "]"
}

// quotePattern writes s as a pattern string literal: in single quotes,
// with ' and \ escaped by a backslash.
func quotePattern(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('\'')
	return b.String()
}

// supportedPatterns lists, for error messages, what parsePattern accepts.
const supportedPatterns = "file:hashes.MD5, file:hashes.'SHA-1', file:hashes.'SHA-256', url:value, domain-name:value, ipv4-addr:value or ipv6-addr:value"

// parsePattern parses a pattern that compares one supported observable
// with = and returns its object, not yet normalized, and the value as
// written.
func parsePattern(s string) (obj herd.Object, value string, err error) {
	toks, err := lexPattern(s)
	if err != nil {
		return obj, "", err
	}
	p := &patternParser{toks: toks}
	c, err := p.observation(0)
	if err != nil {
		return obj, "", err
	}
	if t := p.next(); t.kind != tEOF {
		return obj, "", p.unexpected(t, "after the observation")
	}
	obj, err = c.object()
	return obj, c.value, err
}

type tokKind int

const (
	tEOF    tokKind = iota
	tIdent          // object types, property names, keywords
	tString         // a quoted literal, unescaped
	tNumber
	tOp    // = == != <> < <= > >=
	tPunct // [ ] ( ) : . , *
	tOther // anything else, one character
)

type token struct {
	kind tokKind
	text string
	pos  int // byte offset in the pattern, for messages
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end"
	case tString:
		return quotePattern(clip(t.text))
	}
	return fmt.Sprintf("%q", clip(t.text))
}

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentPart(c byte) bool {
	return isIdentStart(c) || '0' <= c && c <= '9' || c == '-'
}

// lexPattern splits a pattern into tokens, skipping white space and
// comments as the grammar does.
func lexPattern(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f':
			i++
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRuneInString(s[i:])
			if !unicode.IsSpace(r) {
				return nil, herd.Errorf(herd.EINVALID, "unexpected %q at position %d", r, i+1)
			}
			i += n
		case strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, herd.Errorf(herd.EINVALID, "comment at position %d: not closed", i+1)
			}
			i += 2 + end + 2
		case strings.HasPrefix(s[i:], "//"):
			end := strings.IndexByte(s[i:], '\n')
			if end < 0 {
				end = len(s) - i
			}
			i += end
		case c == '\'':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '\''; j++ {
				if s[j] == '\\' {
					if j+1 >= len(s) || s[j+1] != '\'' && s[j+1] != '\\' {
						return nil, herd.Errorf(herd.EINVALID, "string at position %d: backslash must escape ' or \\", i+1)
					}
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, herd.Errorf(herd.EINVALID, "string at position %d: no closing quote", i+1)
			}
			toks = append(toks, token{tString, b.String(), i})
			i = j + 1
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && isIdentPart(s[j]) {
				j++
			}
			toks = append(toks, token{tIdent, s[i:j], i})
			i = j
		case '0' <= c && c <= '9' || c == '-' && i+1 < len(s) && '0' <= s[i+1] && s[i+1] <= '9':
			j := i + 1
			for j < len(s) && ('0' <= s[j] && s[j] <= '9' || s[j] == '.') {
				j++
			}
			toks = append(toks, token{tNumber, s[i:j], i})
			i = j
		case strings.ContainsRune("=!<>", rune(c)):
			j := i + 1
			if j < len(s) && (s[j] == '=' || c == '<' && s[j] == '>') {
				j++
			}
			toks = append(toks, token{tOp, s[i:j], i})
			i = j
		case strings.ContainsRune("[]():.,*", rune(c)):
			toks = append(toks, token{tPunct, s[i : i+1], i})
			i++
		default:
			toks = append(toks, token{tOther, s[i : i+1], i})
			i++
		}
	}
	return append(toks, token{tEOF, "", len(s)}), nil
}

// maxNesting bounds parentheses around an observation or comparison.
const maxNesting = 32

type patternParser struct {
	toks []token
	i    int
}

func (p *patternParser) peek() token { return p.toks[p.i] }

func (p *patternParser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *patternParser) is(t token, kind tokKind, text string) bool {
	return t.kind == kind && t.text == text
}

// unexpected explains why token t cannot come where it is; it names the
// unsupported parts of the grammar when t starts one.
func (p *patternParser) unexpected(t token, where string) error {
	if t.kind == tIdent {
		switch t.text {
		case "AND", "OR", "FOLLOWEDBY":
			return herd.Errorf(herd.EINVALID, "%s at position %d: patterns that combine expressions are not supported, only a single comparison", t.text, t.pos+1)
		case "WITHIN", "REPEATS", "START", "STOP":
			return herd.Errorf(herd.EINVALID, "qualifier %s at position %d: not supported, only a single comparison", t.text, t.pos+1)
		}
	}
	return herd.Errorf(herd.EINVALID, "unexpected %s at position %d %s", t, t.pos+1, where)
}

func (p *patternParser) expect(text, where string) error {
	if t := p.next(); !p.is(t, tPunct, text) {
		return p.unexpected(t, where)
	}
	return nil
}

// observation parses ( observation ) or [ comparison ].
func (p *patternParser) observation(depth int) (comparison, error) {
	if depth > maxNesting {
		return comparison{}, herd.Errorf(herd.EINVALID, "nested more than %d deep", maxNesting)
	}
	t := p.next()
	switch {
	case p.is(t, tPunct, "("):
		c, err := p.observation(depth + 1)
		if err != nil {
			return c, err
		}
		return c, p.expect(")", "where ) should close the parenthesis")
	case p.is(t, tPunct, "["):
		c, err := p.comparison(depth)
		if err != nil {
			return c, err
		}
		return c, p.expect("]", "where ] should close the observation")
	}
	return comparison{}, p.unexpected(t, "where an observation [ … ] should start")
}

// comparison is a parsed "path = 'value'".
type comparison struct {
	objectType string
	path       []string // the property path; list indexes as "[n]"
	text       string   // the path as written, for messages
	value      string
}

// comparison parses ( comparison ) or path = 'value'.
func (p *patternParser) comparison(depth int) (comparison, error) {
	if depth > maxNesting {
		return comparison{}, herd.Errorf(herd.EINVALID, "nested more than %d deep", maxNesting)
	}
	if p.is(p.peek(), tPunct, "(") {
		p.next()
		c, err := p.comparison(depth + 1)
		if err != nil {
			return c, err
		}
		return c, p.expect(")", "where ) should close the parenthesis")
	}
	c, err := p.objectPath()
	if err != nil {
		return c, err
	}
	op := p.next()
	switch {
	case op.kind == tOp && (op.text == "=" || op.text == "=="):
	case op.kind == tOp, op.kind == tIdent && patternOperators[op.text]:
		return c, herd.Errorf(herd.EINVALID, "operator %s at position %d: not supported, only =", op.text, op.pos+1)
	default:
		return c, p.unexpected(op, "where = should follow "+c.text)
	}
	v := p.next()
	if v.kind != tString {
		return c, herd.Errorf(herd.EINVALID, "%s at position %d: want a quoted string such as 'example.com'", v, v.pos+1)
	}
	c.value = v.text
	return c, nil
}

// patternOperators are the grammar's comparison keywords.
var patternOperators = map[string]bool{"NOT": true, "LIKE": true, "MATCHES": true, "IN": true, "ISSUBSET": true, "ISSUPERSET": true}

// objectPath parses TYPE:PROPERTY followed by .PROPERTY or [INDEX] steps.
func (p *patternParser) objectPath() (comparison, error) {
	t := p.next()
	if t.kind == tIdent && t.text == "EXISTS" {
		return comparison{}, herd.Errorf(herd.EINVALID, "operator EXISTS at position %d: not supported, only =", t.pos+1)
	}
	if t.kind != tIdent {
		return comparison{}, p.unexpected(t, "where an object path such as url:value should start")
	}
	c := comparison{objectType: t.text}
	var text strings.Builder
	text.WriteString(t.text)
	if err := p.expect(":", "where : should follow the object type "+t.text); err != nil {
		return c, err
	}
	text.WriteByte(':')
	for first := true; ; first = false {
		if !first {
			switch sep := p.peek(); {
			case p.is(sep, tPunct, "."):
				p.next()
				text.WriteByte('.')
			case p.is(sep, tPunct, "["):
				p.next()
				idx := p.next()
				if idx.kind != tNumber && !p.is(idx, tPunct, "*") {
					return c, p.unexpected(idx, "in a list index")
				}
				if err := p.expect("]", "where ] should close the list index"); err != nil {
					return c, err
				}
				c.path = append(c.path, "["+idx.text+"]")
				text.WriteString("[" + idx.text + "]")
				continue
			default:
				c.text = text.String()
				return c, nil
			}
		}
		prop := p.next()
		switch prop.kind {
		case tIdent:
			text.WriteString(prop.text)
		case tString:
			text.WriteString(quotePattern(prop.text))
		default:
			return c, p.unexpected(prop, "where a property name should follow")
		}
		c.path = append(c.path, prop.text)
	}
}

// object maps a comparison to the object it names.
func (c comparison) object() (herd.Object, error) {
	unsupported := func() (herd.Object, error) {
		return herd.Object{}, herd.Errorf(herd.EINVALID, "%s: not supported (want %s)", clip(c.text), supportedPatterns)
	}
	if len(c.path) == 1 && c.path[0] == "value" {
		switch c.objectType {
		case "url":
			return herd.Object{Kind: herd.KindURL, Value: c.value}, nil
		case "domain-name":
			return herd.Object{Kind: herd.KindDomain, Value: c.value}, nil
		case "ipv4-addr", "ipv6-addr":
			return ipObject(c.objectType, c.value)
		}
		return unsupported()
	}
	if c.objectType != "file" || len(c.path) != 2 || c.path[0] != "hashes" {
		return unsupported()
	}
	// The STIX hash vocabulary says MD5, SHA-1, SHA-256; producers also
	// write SHA1, SHA256, sha256.
	alg := strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(c.path[1]))
	switch alg {
	case "MD5":
		return herd.Object{Kind: herd.KindMD5, Value: c.value}, nil
	case "SHA1":
		return herd.Object{Kind: herd.KindSHA1, Value: c.value}, nil
	case "SHA256":
		return herd.Object{Kind: herd.KindSHA256, Value: c.value}, nil
	}
	return herd.Object{}, herd.Errorf(herd.EINVALID, "hash %q: not supported (want MD5, SHA-1 or SHA-256)", clip(c.path[1]))
}

// ipObject accepts an address of the type's family, also written as a
// prefix that covers just that address (STIX allows CIDR ranges; Herd
// keeps verdicts on single addresses).
func ipObject(objectType, value string) (herd.Object, error) {
	addr, err := netip.ParseAddr(value)
	if err != nil {
		pfx, perr := netip.ParsePrefix(value)
		if perr != nil {
			return herd.Object{}, herd.Errorf(herd.EINVALID, "%s %q: not an IP address", objectType, clip(value))
		}
		if pfx.Bits() != pfx.Addr().BitLen() {
			return herd.Object{}, herd.Errorf(herd.EINVALID, "%s %q: address ranges are not supported, only single addresses", objectType, clip(value))
		}
		addr = pfx.Addr()
	}
	if addr.Is4() != (objectType == "ipv4-addr") {
		return herd.Object{}, herd.Errorf(herd.EINVALID, "%s %q: wrong address family", objectType, clip(value))
	}
	return herd.Object{Kind: herd.KindIP, Value: addr.String()}, nil
}
