package sigdb

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// Signature is one parsed line.
type Signature struct {
	Kind herd.Kind // herd.KindMD5, KindSHA1 or KindSHA256
	Hash string    // lower-case hex
	Size int64     // -1 means any size
	Name string
}

const (
	// anySize marks a signature written with size "*". Sizes are stored in
	// 32 bits to keep entries small, so the largest exact size is one less.
	anySize = 1<<32 - 1
	// maxName fits a name's length in the one byte the name arena spends on it.
	maxName = 255
	// maxLine bounds a line so that Parse can stream with a fixed buffer and
	// still report exactly what Load reports. A valid line is under 400 bytes.
	maxLine = 4096
)

// Hash kinds, as indexes into per-kind tables, in the order Match tries them.
const (
	kSHA256 = iota
	kSHA1
	kMD5
	numKinds
)

var (
	kindNames = [numKinds]herd.Kind{herd.KindSHA256, herd.KindSHA1, herd.KindMD5}
	hashLens  = [numKinds]int{32, 20, 16}
)

// lineFields is a parsed signature line. Its name points into the line's
// bytes so that parsing allocates nothing.
type lineFields struct {
	h    [32]byte // zero-padded beyond the kind's length
	kind int
	size uint32
	name []byte
}

// unhex maps an ASCII hex digit to its value and anything else to 0xff.
var unhex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c - 'a' + 10)
		t[c-'a'+'A'] = byte(c - 'a' + 10)
	}
	return t
}()

// parseLine parses one line without its '\n' into l. It returns skip for
// blank and comment lines, or a message saying what is wrong. Nothing is
// allocated unless the line is bad: this runs a million times for a large
// database.
func parseLine(line []byte, l *lineFields) (skip bool, msg string) {
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	// Checked before anything else so that Parse, which streams through a
	// fixed buffer, fails on exactly the lines Load fails on.
	if len(line) > maxLine {
		return false, "line: longer than " + strconv.Itoa(maxLine) + " bytes"
	}
	if len(line) == 0 || line[0] == '#' || blank(line) {
		return true, ""
	}

	c1 := indexColon(line, 0)
	c2 := -1
	if c1 >= 0 {
		c2 = indexColon(line, c1+1)
	}
	if c2 < 0 {
		return false, fmt.Sprintf("truncated line %q: want HASH:SIZE:NAME", clip(line))
	}

	hash := line[:c1]
	var kind int
	switch len(hash) {
	case 64:
		kind = kSHA256
	case 40:
		kind = kSHA1
	case 32:
		kind = kMD5
	default:
		return false, fmt.Sprintf("hash %q: want 32, 40 or 64 hex digits (md5, sha1, sha256), got %d characters", clip(hash), len(hash))
	}
	l.h = [32]byte{}
	for i := 0; i < len(hash)/2; i++ {
		a, b := unhex[hash[2*i]], unhex[hash[2*i+1]]
		if a|b > 0xf {
			pos := 2*i + 1
			if a <= 0xf {
				pos++
			}
			return false, fmt.Sprintf("hash %q: not a hex digit at position %d", clip(hash), pos)
		}
		l.h[i] = a<<4 | b
	}
	l.kind = kind

	size := line[c1+1 : c2]
	if len(size) == 1 && size[0] == '*' {
		l.size = anySize
	} else {
		if !digits(size) {
			return false, fmt.Sprintf("size %q: not a number", clip(size))
		}
		var v uint64
		for _, c := range size {
			v = v*10 + uint64(c-'0')
			if v >= anySize {
				return false, fmt.Sprintf("size %q: too large (at most %d)", clip(size), anySize-1)
			}
		}
		l.size = uint32(v)
	}

	end := indexColon(line, c2+1)
	if end < 0 {
		end = len(line)
	}
	l.name = line[c2+1 : end]
	if msg := checkName(l.name); msg != "" {
		return false, msg
	}

	// Optional functionality levels: ":MIN" or ":MIN:MAX" (MAX may be empty).
	// They select ClamAV engine versions; Herd has none, so they only have to
	// be well-formed.
	if end < len(line) {
		rest := line[end+1:]
		c := indexColon(rest, 0)
		lo, hi := rest, []byte(nil)
		if c >= 0 {
			lo, hi = rest[:c], rest[c+1:]
		}
		if !digits(lo) {
			return false, fmt.Sprintf("flevel %q: not a number", clip(lo))
		}
		if indexColon(hi, 0) >= 0 {
			return false, "too many fields: want HASH:SIZE:NAME[:MINFLEVEL[:MAXFLEVEL]]"
		}
		if len(hi) > 0 && !digits(hi) {
			return false, fmt.Sprintf("max flevel %q: not a number", clip(hi))
		}
	}
	return false, ""
}

// checkName enforces what a threat name may be: it ends up in verdicts,
// logs and the portal, so no control characters and valid UTF-8.
func checkName(name []byte) string {
	if len(name) == 0 {
		return "name: missing"
	}
	if len(name) > maxName {
		return "name: longer than " + strconv.Itoa(maxName) + " bytes"
	}
	ascii := true
	for _, c := range name {
		if c < 0x20 || c == 0x7f {
			return "name: contains control characters"
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		return ""
	}
	if !utf8.Valid(name) {
		return "name: not valid UTF-8"
	}
	for _, r := range string(name) {
		if unicode.IsControl(r) {
			return "name: contains control characters"
		}
	}
	return ""
}

func indexColon(b []byte, from int) int {
	if i := bytes.IndexByte(b[from:], ':'); i >= 0 {
		return from + i
	}
	return -1
}

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' {
			return false
		}
	}
	return true
}

// clip shortens a field for an error message.
func clip(b []byte) string {
	if len(b) <= 80 {
		return string(b)
	}
	return string(b[:77]) + "..."
}

func lineError(source string, line int, msg string) error {
	return herd.Errorf(herd.EINVALID, "%s:%d: %s", source, line, msg)
}

// Parse reads a signature file and calls fn for each signature with its
// 1-based line number. A malformed or truncated line is an *herd.Error
// (EINVALID) whose message names source and line, e.g.
// `main.hsb:17: size "12x": not a number`. Parse stops at the first error,
// or at the first error fn returns, and returns it.
func Parse(r io.Reader, source string, fn func(line int, s Signature) error) error {
	// The buffer is larger than maxLine, so a line that does not fit is too
	// long by parseLine's rule too.
	br := bufio.NewReaderSize(r, 2*maxLine)
	var l lineFields
	for n := 1; ; n++ {
		text, err := br.ReadSlice('\n')
		switch err {
		case nil:
			text = text[:len(text)-1]
		case io.EOF:
			if len(text) == 0 {
				return nil
			}
		case bufio.ErrBufferFull:
			return lineError(source, n, "line: longer than "+strconv.Itoa(maxLine)+" bytes")
		default:
			return fmt.Errorf("read %s: %w", source, err)
		}
		skip, msg := parseLine(text, &l)
		if msg != "" {
			return lineError(source, n, msg)
		}
		if !skip {
			s := Signature{
				Kind: kindNames[l.kind],
				Hash: hex.EncodeToString(l.h[:hashLens[l.kind]]),
				Size: int64(l.size),
				Name: string(l.name),
			}
			if l.size == anySize {
				s.Size = -1
			}
			if err := fn(n, s); err != nil {
				return err
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}
