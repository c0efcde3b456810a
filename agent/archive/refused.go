package archive

import (
	"fmt"
	"strings"
)

// Reason says which rule an archive broke.
type Reason string

// The reasons for refusing an archive. All but ReasonPath are the marks of
// a decompression bomb.
const (
	ReasonRatio      Reason = "ratio"       // a member decompresses too many times its compressed size
	ReasonMemberSize Reason = "member-size" // a member is over Limits.MaxMember
	ReasonTotalSize  Reason = "total-size"  // the walk decompressed over Limits.MaxTotal
	ReasonMembers    Reason = "members"     // more than Limits.MaxMembers entries
	ReasonDepth      Reason = "depth"       // archives nested more than Limits.MaxDepth deep
	ReasonOverlap    Reason = "overlap"     // zip members share their compressed data
	ReasonPath       Reason = "path"        // a member's name escapes the archive's folder
)

// RefusedError is returned by Walk for an archive it refuses to walk
// further: a possible decompression bomb, or a member whose name would
// write outside the folder it is unpacked to. Callers report it apart from
// I/O errors: the archive is hostile or over the limits, not unreadable.
type RefusedError struct {
	Archive string // the archive holding the offending member, as in Member.Path
	Member  string // the offending member's name in it; "" for the archive as a whole
	Reason  Reason
	Detail  string // what was wrong, with the limit: "compression ratio over 100:1"
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "archive %q: ", e.Archive)
	if e.Member != "" {
		fmt.Fprintf(&b, "member %q: ", e.Member)
	}
	b.WriteString(e.Detail)
	if e.Bomb() {
		b.WriteString(": refused as a possible zip bomb")
	} else {
		b.WriteString(": refused as unsafe")
	}
	return b.String()
}

// Bomb reports whether the archive was refused as a possible
// decompression bomb (rather than for a member's name).
func (e *RefusedError) Bomb() bool { return e.Reason != ReasonPath }

// unsafeName says why a member's name would land outside the folder an
// archive is unpacked to, on any system, or "" if it would not.
func unsafeName(name string) string {
	switch {
	case name == "":
		return "empty name"
	case strings.IndexByte(name, 0) >= 0:
		return "NUL byte in name"
	case strings.Contains(name, `\`):
		return `backslash in name (a Windows path separator)`
	case name[0] == '/':
		return "absolute path"
	case len(name) >= 2 && name[1] == ':' && ('a' <= name[0]|0x20 && name[0]|0x20 <= 'z'):
		return "Windows drive path"
	}
	depth := 0
	for el := range strings.SplitSeq(name, "/") {
		switch el {
		case "", ".":
		case "..":
			depth--
			if depth < 0 {
				return "path escapes the archive"
			}
		default:
			depth++
		}
	}
	return ""
}
