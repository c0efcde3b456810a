// Package interop converts verdicts to and from the files other threat
// intelligence tools exchange: STIX 2.1 bundles of indicators (MISP,
// OpenCTI) and CSV.
//
// Decoders take untrusted files: they check every item, report each bad
// one with its place in the file, and return no records when any is bad,
// so that an import is all or nothing.
package interop

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/herdsec/herd"
)

// SortByObject sorts records by kind, then value, which makes exports of
// the same verdicts byte-identical.
func SortByObject(recs []herd.Record) {
	slices.SortFunc(recs, func(a, b herd.Record) int {
		return cmp.Or(cmp.Compare(a.Object.Kind, b.Object.Kind), cmp.Compare(a.Object.Value, b.Object.Value))
	})
}

// maxSource bounds a record's source, a short word such as operator.
const maxSource = 32

// checkSource accepts "" or a short lower-case word (operator, import,
// rules, local-db): a file cannot smuggle arbitrary text into it.
func checkSource(s string) error {
	if s == "" {
		return nil
	}
	ok := len(s) <= maxSource
	for i := 0; ok && i < len(s); i++ {
		c := s[i]
		ok = 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.')
	}
	if !ok {
		return herd.Errorf(herd.EINVALID, "source %q: want a short lower-case word such as operator or import", clip(s))
	}
	return nil
}

// checkRecord checks a record about to be encoded, so that every file
// written here decodes again, and returns it with its object normalized.
func checkRecord(i int, r herd.Record) (herd.Record, error) {
	obj, err := r.Object.Normalize()
	if err == nil {
		r.Object = obj
		err = r.Validate()
	}
	if err == nil {
		err = checkSource(r.Source)
	}
	if err == nil {
		if y := r.Updated.UTC().Year(); y < 0 || y > 9999 {
			err = herd.Errorf(herd.EINVALID, "updated: year %d outside 0-9999", y)
		}
	}
	if err != nil {
		return r, fmt.Errorf("record %d (%s): %w", i, r.Object, err)
	}
	return r, nil
}

// stixTime is the timestamp form STIX asks for: UTC, to the millisecond.
const stixTime = "2006-01-02T15:04:05.000Z"

// parseTime parses an RFC 3339 timestamp and returns it in UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, herd.Errorf(herd.EINVALID, "%q: not an RFC 3339 timestamp such as 2024-05-01T12:00:00Z", clip(s))
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		// 0000-01-01T00:00:00+01:00 is in year -1, which RFC 3339 cannot write.
		return time.Time{}, herd.Errorf(herd.EINVALID, "%q: in UTC outside the years 0000-9999", clip(s))
	}
	return t, nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	n := 77
	for n > 0 && s[n]&0xc0 == 0x80 {
		n-- // do not cut a UTF-8 sequence
	}
	return s[:n] + "..."
}
