package transparency

import (
	_ "embed"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
)

// Outcome is how a request stands for the report.
type Outcome string

// Outcomes: pending covers received and in review; approved ones not yet
// fulfilled are counted apart from fulfilled ones.
const (
	OutcomePending   Outcome = "pending"
	OutcomeRejected  Outcome = "rejected"
	OutcomeApproved  Outcome = "approved"
	OutcomeFulfilled Outcome = "fulfilled"
)

// Outcomes lists the outcomes in report order.
var Outcomes = []Outcome{OutcomePending, OutcomeRejected, OutcomeApproved, OutcomeFulfilled}

// OutcomeOf returns the outcome of a request in state s.
func OutcomeOf(s State) Outcome {
	switch s {
	case StateApproved:
		return OutcomeApproved
	case StateRejected:
		return OutcomeRejected
	case StateFulfilled:
		return OutcomeFulfilled
	default:
		return OutcomePending
	}
}

// Report is the transparency report of one half-year: the requests
// received in it, counted. Every count comes from the register.
type Report struct {
	Period    string                `json:"period"`
	Start     time.Time             `json:"start"`
	End       time.Time             `json:"end"` // exclusive
	Generated time.Time             `json:"generated"`
	Total     int                   `json:"total"`
	ByType    map[Type]int          `json:"by_type"`
	ByCountry map[string]int        `json:"by_country"`
	ByOutcome map[Outcome]int       `json:"by_outcome"`
	Rows      []Row                 `json:"rows"`
	Authority map[AuthorityKind]int `json:"by_authority_kind"`
}

// Row counts the requests of one type, country and outcome.
type Row struct {
	Type    Type    `json:"type"`
	Country string  `json:"country"`
	Outcome Outcome `json:"outcome"`
	Count   int     `json:"count"`
}

// Compute counts the requests received in p, as of now.
func Compute(p Period, reqs []Request, now time.Time) Report {
	rep := Report{
		Period: p.String(), Start: p.Start(), End: p.End(), Generated: now.UTC(),
		ByType: map[Type]int{}, ByCountry: map[string]int{}, ByOutcome: map[Outcome]int{},
		Authority: map[AuthorityKind]int{}, Rows: []Row{},
	}
	for _, t := range Types {
		rep.ByType[t] = 0
	}
	for _, o := range Outcomes {
		rep.ByOutcome[o] = 0
	}
	rows := map[Row]int{}
	for _, r := range reqs {
		if !p.Contains(r.Received) {
			continue
		}
		o := OutcomeOf(r.State)
		rep.Total++
		rep.ByType[r.Type]++
		rep.ByCountry[r.Country]++
		rep.ByOutcome[o]++
		if r.AuthorityKind != "" {
			rep.Authority[r.AuthorityKind]++
		}
		rows[Row{Type: r.Type, Country: r.Country, Outcome: o}]++
	}
	for k, n := range rows {
		k.Count = n
		rep.Rows = append(rep.Rows, k)
	}
	slices.SortFunc(rep.Rows, func(a, b Row) int {
		if c := slices.Index(Types, a.Type) - slices.Index(Types, b.Type); c != 0 {
			return c
		}
		if c := strings.Compare(a.Country, b.Country); c != 0 {
			return c
		}
		return slices.Index(Outcomes, a.Outcome) - slices.Index(Outcomes, b.Outcome)
	})
	return rep
}

//go:embed report.html
var reportHTML string

// html/template escapes every value by its context, so a hostile
// reference or country cannot inject markup into the published page.
var reportPage = template.Must(template.New("report").Funcs(template.FuncMap{
	"sorted": sortedKeys,
}).Parse(reportHTML))

// WriteHTML writes the report as a stand-alone HTML page.
func (rep Report) WriteHTML(w io.Writer) error {
	return reportPage.Execute(w, rep)
}

// sortedKeys lists a count map's keys and values, sorted by key.
func sortedKeys(m any) []kv {
	var out []kv
	switch m := m.(type) {
	case map[Type]int:
		for k, v := range m {
			out = append(out, kv{string(k), v})
		}
	case map[string]int:
		for k, v := range m {
			out = append(out, kv{k, v})
		}
	case map[Outcome]int:
		for k, v := range m {
			out = append(out, kv{string(k), v})
		}
	case map[AuthorityKind]int:
		for k, v := range m {
			out = append(out, kv{string(k), v})
		}
	}
	slices.SortFunc(out, func(a, b kv) int { return strings.Compare(a.Key, b.Key) })
	return out
}

type kv struct {
	Key   string
	Count int
}
