package transparency

import (
	"strconv"
	"time"

	"github.com/herdsec/herd"
)

// Period is a half-year of the transparency report: H1 is January to
// June, H2 July to December (UTC).
type Period struct {
	Year int
	Half int // 1 or 2
}

// ParsePeriod parses "2026H2" (the H may be lower case).
func ParsePeriod(s string) (Period, error) {
	if len(s) != 6 || (s[4] != 'H' && s[4] != 'h') {
		return Period{}, herd.Errorf(herd.EINVALID, "period %q: want YEAR H HALF, e.g. 2026H2", s)
	}
	for i := range 4 {
		if s[i] < '0' || s[i] > '9' {
			return Period{}, herd.Errorf(herd.EINVALID, "period %q: the year %q is not four digits", s, s[:4])
		}
	}
	year, _ := strconv.Atoi(s[:4])
	if year < 2000 {
		return Period{}, herd.Errorf(herd.EINVALID, "period %q: year %d is before 2000", s, year)
	}
	if s[5] != '1' && s[5] != '2' {
		return Period{}, herd.Errorf(herd.EINVALID, "period %q: half %q: want 1 or 2", s, s[5:])
	}
	return Period{Year: year, Half: int(s[5] - '0')}, nil
}

// String formats p as ParsePeriod reads it.
func (p Period) String() string { return strconv.Itoa(p.Year) + "H" + strconv.Itoa(p.Half) }

// Start is the first instant of the period.
func (p Period) Start() time.Time {
	return time.Date(p.Year, time.Month(1+6*(p.Half-1)), 1, 0, 0, 0, 0, time.UTC)
}

// End is the first instant after the period.
func (p Period) End() time.Time { return p.Start().AddDate(0, 6, 0) }

// Contains reports whether t falls in the period.
func (p Period) Contains(t time.Time) bool {
	return !t.Before(p.Start()) && t.Before(p.End())
}

// PeriodOf returns the half-year t falls in.
func PeriodOf(t time.Time) Period {
	t = t.UTC()
	h := 1
	if t.Month() > time.June {
		h = 2
	}
	return Period{Year: t.Year(), Half: h}
}
