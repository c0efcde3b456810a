package cache

import (
	"encoding/binary"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// entry is one cached verdict. The object is the entry's key, not part of it.
type entry struct {
	Verdict herd.Verdict
	Threat  string
	Source  string
	Test    bool
	// Expires is when the entry stops answering: the cloud's TTL after
	// the answer, capped (see MaxNegativeTTL, MaxPositiveTTL).
	Expires time.Time
	// Seq is the verdict stream change that wrote the entry, 0 for a
	// lookup answer. A lookup that began before that change must not
	// overwrite it with what may be an older answer.
	Seq uint64
}

// Entry encoding, version 1. Integers are big-endian; the layout is fixed,
// so every entry has exactly one encoding.
//
//	offset  size  field
//	0       1     version (1)
//	1       1     verdict: 0 unknown, 1 clean, 2 suspicious, 3 malicious
//	2       1     flags: bit 0 test verdict; the other bits 0
//	3       8     expiry, Unix nanoseconds (int64)
//	11      8     stream sequence of the change that wrote it, 0 if none
//	19      2     threat name length t ≤ herd.MaxThreatName
//	21      1     source length s ≤ maxSource
//	22      t     threat name, UTF-8 without control characters
//	22+t    s     source, likewise
const (
	entryVersion    = 1
	entryHeaderLen  = 22
	maxSource       = 64
	flagTest        = 1 << 0
	maxEntryEncoded = entryHeaderLen + herd.MaxThreatName + maxSource
)

var verdictCodes = []herd.Verdict{herd.VerdictUnknown, herd.VerdictClean, herd.VerdictSuspicious, herd.VerdictMalicious}

func verdictCode(v herd.Verdict) (byte, bool) {
	for i, x := range verdictCodes {
		if x == v {
			return byte(i), true
		}
	}
	return 0, false
}

// appendEntry appends e's encoding to b. It refuses an entry it could not
// decode again, so that nothing unreadable is ever written.
func appendEntry(b []byte, e entry) ([]byte, error) {
	code, ok := verdictCode(e.Verdict)
	if !ok {
		return nil, herd.Errorf(herd.EINVALID, "cache entry: verdict %q: not a verdict", e.Verdict)
	}
	if len(e.Threat) > herd.MaxThreatName || !printable(e.Threat) {
		return nil, herd.Errorf(herd.EINVALID, "cache entry: threat name: longer than %d bytes or not printable", herd.MaxThreatName)
	}
	if len(e.Source) > maxSource || !printable(e.Source) {
		return nil, herd.Errorf(herd.EINVALID, "cache entry: source: longer than %d bytes or not printable", maxSource)
	}
	var flags byte
	if e.Test {
		flags |= flagTest
	}
	b = append(b, entryVersion, code, flags)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Expires.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, e.Seq)
	b = binary.BigEndian.AppendUint16(b, uint16(len(e.Threat)))
	b = append(b, byte(len(e.Source)))
	b = append(b, e.Threat...)
	return append(b, e.Source...), nil
}

// decodeEntry decodes one entry. The cache file is the agent's own, but a
// damaged or tampered file must not crash the agent or print control
// characters to its terminal, so every field is checked.
func decodeEntry(b []byte) (entry, error) {
	if len(b) < entryHeaderLen {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: %d bytes, shorter than the %d-byte header", len(b), entryHeaderLen)
	}
	if b[0] != entryVersion {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: version %d, want %d", b[0], entryVersion)
	}
	if int(b[1]) >= len(verdictCodes) {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: verdict code %d unknown", b[1])
	}
	if b[2]&^flagTest != 0 {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: unknown flags %#x", b[2])
	}
	t, s := int(binary.BigEndian.Uint16(b[19:])), int(b[21])
	if t > herd.MaxThreatName || s > maxSource {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: threat name of %d bytes or source of %d bytes: over the limits", t, s)
	}
	if len(b) != entryHeaderLen+t+s {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: %d bytes, want %d", len(b), entryHeaderLen+t+s)
	}
	e := entry{
		Verdict: verdictCodes[b[1]],
		Test:    b[2]&flagTest != 0,
		Expires: time.Unix(0, int64(binary.BigEndian.Uint64(b[3:]))),
		Seq:     binary.BigEndian.Uint64(b[11:]),
		Threat:  string(b[entryHeaderLen : entryHeaderLen+t]),
		Source:  string(b[entryHeaderLen+t:]),
	}
	if !printable(e.Threat) || !printable(e.Source) {
		return entry{}, herd.Errorf(herd.EINVALID, "cache entry: threat name or source not printable UTF-8")
	}
	return e, nil
}

func printable(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return utf8.ValidString(s)
}
