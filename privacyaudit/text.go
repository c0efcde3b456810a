package privacyaudit

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteText writes r as a report for people.
func WriteText(w io.Writer, r Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "k-anonymity audit of stored telemetry (k = %d devices)\n", r.K)
	fmt.Fprintf(&b, "quasi-identifiers: %s, and per type the fields below\n", strings.Join(r.QuasiIdentifiers, " × "))
	fmt.Fprintf(&b, "records: %d in %d classes", r.Records, r.Classes)
	if r.Skipped > 0 {
		fmt.Fprintf(&b, " (%d skipped: payload not a JSON object)", r.Skipped)
	}
	fmt.Fprintf(&b, "\nbelow k: %d classes holding %d records (%s of the records)\n", r.ClassesBelowK, r.RecordsBelowK, percent(r.RecordsBelowK, r.Records))
	if len(r.Types) > 0 {
		fmt.Fprintf(&b, "\nby type:\n")
		for _, t := range r.Types {
			qi := strings.Join(t.QuasiIdentifiers, " × ")
			if qi == "" {
				qi = "(record fields only)"
			}
			fmt.Fprintf(&b, "  %-16s %8d records %7d classes %7d below k (%d records)  %s\n", t.Type, t.Records, t.Classes, t.ClassesBelowK, t.RecordsBelowK, qi)
		}
	}
	if len(r.Smallest) > 0 {
		fmt.Fprintf(&b, "\nsmallest classes (devices, records, quasi-identifiers):\n")
		for _, c := range r.Smallest {
			fmt.Fprintf(&b, "  %3d %6d  %s\n", c.Devices, c.Records, c.Label())
		}
	}
	fmt.Fprintf(&b, "\nsecond-pass scrubbing hits: ")
	switch {
	case !r.SecondPass.Available:
		fmt.Fprintf(&b, "not available\n")
	default:
		fmt.Fprintf(&b, "%d\n", r.SecondPass.Total)
		types := make([]string, 0, len(r.SecondPass.ByType))
		for t := range r.SecondPass.ByType {
			types = append(types, t)
		}
		sort.Strings(types)
		for _, t := range types {
			fmt.Fprintf(&b, "  %-16s %d\n", t, r.SecondPass.ByType[t])
		}
	}
	if r.SecondPass.Note != "" {
		fmt.Fprintf(&b, "  (%s)\n", r.SecondPass.Note)
	}
	if r.Budget.Available {
		fmt.Fprintf(&b, "privacy budget: %s\n", r.Budget.Note)
	} else {
		fmt.Fprintf(&b, "privacy budget: not available (%s)\n", r.Budget.Note)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func percent(part, whole uint64) string {
	if whole == 0 {
		return "0%"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
