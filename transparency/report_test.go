package transparency

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCompute counts a planted register across two half-years, the
// expected counts kept by hand beside each request.
func TestCompute(t *testing.T) {
	h1 := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	h2 := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC) // the first instant of H2
	mk := func(typ Type, country string, received time.Time, s State) Request {
		r := Request{Type: typ, Requester: RequesterPerson, Country: country, Received: received, State: s}
		if typ == TypeDisclosure {
			r.Requester, r.AuthorityKind = RequesterAuthority, AuthorityLawEnforcement
		}
		return r
	}
	reqs := []Request{
		mk(TypeAccess, "DE", h1, StateFulfilled),
		mk(TypeDisclosure, "US", h1, StateRejected),
		mk(TypeAccess, "DE", h2, StateFulfilled),
		mk(TypeAccess, "DE", h2, StateFulfilled),
		mk(TypeDeletion, "FR", h2, StateInReview),
		mk(TypeDisclosure, "US", h2.Add(time.Hour), StateRejected),
		mk(TypeDisclosure, "DE", h2, StateApproved),
		mk(TypeDisclosure, "DE", time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), StateReceived),
		mk(TypeAccess, "DE", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), StateReceived), // 2027H1
	}
	rep := Compute(Period{2026, 2}, reqs, h2)
	if rep.Total != 6 {
		t.Fatalf("total %d, want 6", rep.Total)
	}
	want := fmt.Sprint(map[Type]int{TypeAccess: 2, TypeDeletion: 1, TypeDisclosure: 3})
	if got := fmt.Sprint(rep.ByType); got != want {
		t.Errorf("by type %s, want %s", got, want)
	}
	if got := fmt.Sprint(rep.ByCountry); got != fmt.Sprint(map[string]int{"DE": 4, "FR": 1, "US": 1}) {
		t.Errorf("by country %s", got)
	}
	if got := fmt.Sprint(rep.ByOutcome); got != fmt.Sprint(map[Outcome]int{OutcomeFulfilled: 2, OutcomePending: 2, OutcomeRejected: 1, OutcomeApproved: 1}) {
		t.Errorf("by outcome %s", got)
	}
	wantRows := []Row{
		{TypeAccess, "DE", OutcomeFulfilled, 2}, // in the order of Types, then country, then Outcomes
		{TypeDeletion, "FR", OutcomePending, 1},
		{TypeDisclosure, "DE", OutcomePending, 1},
		{TypeDisclosure, "DE", OutcomeApproved, 1},
		{TypeDisclosure, "US", OutcomeRejected, 1},
	}
	if fmt.Sprint(rep.Rows) != fmt.Sprint(wantRows) {
		t.Errorf("rows\n%v\nwant\n%v", rep.Rows, wantRows)
	}
	if rep.Authority[AuthorityLawEnforcement] != 3 {
		t.Errorf("by authority %v", rep.Authority)
	}
	if h1rep := Compute(Period{2026, 1}, reqs, h2); h1rep.Total != 2 || h1rep.ByOutcome[OutcomeRejected] != 1 || h1rep.ByCountry["US"] != 1 {
		t.Errorf("2026H1: %+v", h1rep)
	}
}

// TestHTMLEscapes: a hostile value that reached the register (here a
// country written around the checks) is escaped on the page, and the
// references never appear on it.
func TestHTMLEscapes(t *testing.T) {
	reqs := []Request{
		{Type: TypeAccess, Requester: RequesterPerson, Country: `<script>alert(1)</script>`, Received: time.Date(2026, 8, 1, 0, 0, 0, 0, time.UTC), State: StateFulfilled,
			Reference: `"><img src=x onerror=alert(2)>`},
	}
	var b bytes.Buffer
	if err := Compute(Period{2026, 2}, reqs, time.Now()).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if strings.Contains(page, "<script>") || strings.Contains(page, "<img") || strings.Contains(page, "onerror") {
		t.Fatalf("hostile text is live on the page:\n%s", page)
	}
	if !strings.Contains(page, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Fatalf("the country is not shown escaped:\n%s", page)
	}
	if !strings.Contains(page, `<strong id="total">1</strong>`) || !strings.Contains(page, "Transparency report 2026H2") {
		t.Fatalf("page lacks the total or the period:\n%s", page)
	}
}
