package transparency

import (
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

func TestParsePeriod(t *testing.T) {
	p, err := ParsePeriod("2026H2")
	if err != nil || p != (Period{2026, 2}) || p.String() != "2026H2" {
		t.Fatalf("2026H2: %+v %v", p, err)
	}
	if !p.Start().Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) || !p.End().Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("2026H2 spans %v to %v", p.Start(), p.End())
	}
	if p, _ := ParsePeriod("2026h1"); !p.End().Equal(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("2026h1 ends %v", p.End())
	}
	if PeriodOf(time.Date(2026, 6, 30, 23, 59, 59, 0, time.UTC)) != (Period{2026, 1}) || PeriodOf(time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)) != (Period{2026, 2}) {
		t.Fatal("PeriodOf at the border")
	}
	for in, want := range map[string]string{
		"": "want YEAR H HALF", "2026": "want YEAR H HALF", "2026H3": "half", "2026Q2": "want YEAR H HALF",
		"20a6H1": "four digits", "1999H2": "before 2000", "2026H22": "want YEAR H HALF", "+026H1": "four digits",
	} {
		_, err := ParsePeriod(in)
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want invalid saying %q", in, err, want)
		}
	}
}

func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026H2", "2026h1", "1999H1", "2026H3", "", "9999H2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePeriod(s)
		if err != nil {
			if herd.ErrorCode(err) != herd.EINVALID {
				t.Fatalf("%q: %v is not EINVALID", s, err)
			}
			return
		}
		if !strings.EqualFold(p.String(), s) {
			t.Fatalf("%q parsed as %s", s, p)
		}
		if PeriodOf(p.Start()) != p || PeriodOf(p.End().Add(-time.Nanosecond)) != p || p.Contains(p.End()) {
			t.Fatalf("%q: period %v does not span its half-year", s, p)
		}
	})
}
