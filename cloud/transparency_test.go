package cloud

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/transparency"
)

// TestTransparencyRegister runs the legal review through the real cloud:
// nothing is fulfilled before approval, only a privacy officer decides,
// every step is in the audit log under its operator, two concurrent
// decisions cannot both win, and the report of each half-year counts
// exactly the planted requests.
func TestTransparencyRegister(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	_, srv, ca := MustOpenTLSTest(t)
	root := adminClient(t, srv.URL, ca)
	as := func(name, role string) *httpapi.Client {
		res, err := root.CreateOperator(ctx, name, []string{role})
		if err != nil {
			t.Fatal(err)
		}
		c := tlsClient(t, srv.URL, ca, nil)
		c.Token = res.Token
		return c
	}
	pia, sam := as("pia", "privacy-officer"), as("sam", "support")

	// The review cannot be skipped, and each refusal says why.
	r, err := pia.RegisterRequest(ctx, transparency.New{Type: transparency.TypeDisclosure, Requester: transparency.RequesterAuthority,
		AuthorityKind: transparency.AuthorityLawEnforcement, Country: "de", Reference: "AZ 4711/26"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != transparency.StateReceived || r.Country != "DE" || !jetstream.ValidTransparencyID(r.ID) {
		t.Fatalf("registered: %+v", r)
	}
	if _, err := pia.Fulfil(ctx, r.ID, "device list"); herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "start its review first") {
		t.Fatalf("fulfil of a received request: %v, want conflict", err)
	}
	if _, err := pia.Decide(ctx, r.ID, true, "looks fine"); herd.ErrorCode(err) != herd.ECONFLICT {
		t.Fatalf("approve before review: %v, want conflict", err)
	}
	if _, err := pia.StartReview(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := pia.Fulfil(ctx, r.ID, "device list"); herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "must approve it first") {
		t.Fatalf("fulfil in review: %v, want conflict", err)
	}
	if _, err := root.Decide(ctx, r.ID, true, "admin says so"); herd.ErrorCode(err) != herd.EFORBIDDEN || !strings.Contains(err.Error(), "only a privacy officer") {
		t.Fatalf("admin decides: %v, want forbidden", err)
	}
	if _, err := sam.RegisterRequest(ctx, transparency.New{Type: transparency.TypeAccess, Requester: transparency.RequesterPerson, Country: "DE"}); herd.ErrorCode(err) != herd.EFORBIDDEN {
		t.Fatalf("support registers: %v, want forbidden", err)
	}
	// Two decisions at once: exactly one wins, whichever.
	errs := make(chan error, 2)
	for _, approve := range []bool{true, false} {
		go func() {
			_, err := pia.Decide(ctx, r.ID, approve, fmt.Sprint("decision ", approve))
			errs <- err
		}()
	}
	var won, lost int
	for range 2 {
		switch err := <-errs; herd.ErrorCode(err) {
		case "":
			won++
		case herd.ECONFLICT:
			lost++
		default:
			t.Fatalf("concurrent decision: %v", err)
		}
	}
	if won != 1 || lost != 1 {
		t.Fatalf("concurrent decisions: %d won, %d lost; want one each", won, lost)
	}
	got, err := pia.TransparencyRequest(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.History) != 3 {
		t.Fatalf("history after one review and one decision: %+v", got.History)
	}
	if got.State == transparency.StateApproved {
		if got, err = pia.Fulfil(ctx, r.ID, "subscriber licence record"); err != nil || got.State != transparency.StateFulfilled {
			t.Fatalf("fulfil after approval: %+v %v", got, err)
		}
	}

	// Every step is in the audit log, under pia, before it ran; refused
	// ones too (they were attempted).
	log, err := pia.AuditLog(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	base := "/v1/admin/transparency/requests/" + r.ID
	want := map[string]int{
		"POST /v1/admin/transparency/requests " + "/v1/admin/transparency/requests": 1,
		"POST /v1/admin/transparency/requests/{id}/review " + base + "/review":      1,
		"POST /v1/admin/transparency/requests/{id}/decision " + base + "/decision":  3, // before review, and the two at once
		"POST /v1/admin/transparency/requests/{id}/fulfil " + base + "/fulfil":      2,
	}
	if got.State == transparency.StateFulfilled {
		want["POST /v1/admin/transparency/requests/{id}/fulfil "+base+"/fulfil"] = 3
	}
	seen := map[string]int{}
	for _, e := range log.Entries {
		if e.Operator == "pia" && strings.HasPrefix(e.Action, "POST /v1/admin/transparency/") {
			seen[e.Action+" "+e.Target]++
		}
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("audited steps\n%v\nwant\n%v", seen, want)
	}
	if rep, err := pia.VerifyAudit(ctx); err != nil || !rep.OK {
		t.Fatalf("audit verify: %+v %v", rep, err)
	}

	// The planted register: two half-years, several countries, each
	// request walked to its outcome; the expected counts are kept here.
	type plant struct {
		typ      transparency.Type
		country  string
		received string
		outcome  transparency.Outcome
	}
	plants := []plant{
		{transparency.TypeAccess, "DE", "2025-08-02", transparency.OutcomeFulfilled},
		{transparency.TypeAccess, "AT", "2025-12-31", transparency.OutcomeRejected},
		{transparency.TypeDeletion, "DE", "2025-07-01", transparency.OutcomeApproved},
		{transparency.TypeDisclosure, "US", "2025-09-09", transparency.OutcomeRejected},
		{transparency.TypeDisclosure, "FR", "2025-10-10", transparency.OutcomePending},
		{transparency.TypeAccess, "DE", "2026-01-01", transparency.OutcomeFulfilled},
		{transparency.TypeAccess, "DE", "2026-03-03", transparency.OutcomeFulfilled},
		{transparency.TypeDeletion, "FR", "2026-06-30", transparency.OutcomeFulfilled},
		{transparency.TypeDisclosure, "US", "2026-02-14", transparency.OutcomeApproved},
		{transparency.TypeDisclosure, "GB", "2026-04-01", transparency.OutcomeRejected},
		{transparency.TypeDisclosure, "US", "2026-05-05", transparency.OutcomePending},
	}
	type counts struct {
		total                  int
		byType, byCountry, out map[string]int
	}
	expect := map[string]*counts{}
	for i, p := range plants {
		n := transparency.New{Type: p.typ, Requester: transparency.RequesterPerson, Country: p.country, Reference: fmt.Sprint("case ", i)}
		if p.typ == transparency.TypeDisclosure {
			n.Requester, n.AuthorityKind = transparency.RequesterAuthority, transparency.AuthorityGovernment
		}
		if n.Received, err = time.Parse(time.DateOnly, p.received); err != nil {
			t.Fatal(err)
		}
		r, err := pia.RegisterRequest(ctx, n)
		if err != nil {
			t.Fatalf("plant %d: %v", i, err)
		}
		walk(ctx, t, pia, r.ID, p.outcome)
		period := transparency.PeriodOf(n.Received).String()
		c := expect[period]
		if c == nil {
			c = &counts{byType: map[string]int{}, byCountry: map[string]int{}, out: map[string]int{}}
			expect[period] = c
		}
		c.total++
		c.byType[string(p.typ)]++
		c.byCountry[p.country]++
		c.out[string(p.outcome)]++
	}
	for _, period := range []string{"2025H2", "2026H1"} {
		rep, err := pia.TransparencyReport(ctx, period)
		if err != nil {
			t.Fatal(err)
		}
		c := expect[period]
		gotType, gotCountry, gotOut := map[string]int{}, map[string]int{}, map[string]int{}
		for k, v := range rep.ByType {
			if v != 0 {
				gotType[string(k)] = v
			}
		}
		for k, v := range rep.ByCountry {
			gotCountry[k] = v
		}
		for k, v := range rep.ByOutcome {
			if v != 0 {
				gotOut[string(k)] = v
			}
		}
		rowSum := 0
		for _, row := range rep.Rows {
			rowSum += row.Count
		}
		if rep.Total != c.total || rowSum != c.total || fmt.Sprint(gotType) != fmt.Sprint(c.byType) ||
			fmt.Sprint(gotCountry) != fmt.Sprint(c.byCountry) || fmt.Sprint(gotOut) != fmt.Sprint(c.out) {
			t.Errorf("report %s: total %d (rows %d), types %v, countries %v, outcomes %v\nwant total %d, types %v, countries %v, outcomes %v",
				period, rep.Total, rowSum, gotType, gotCountry, gotOut, c.total, c.byType, c.byCountry, c.out)
		}
	}

	// The HTML page: the same total, under a policy that runs no script
	// (escaping itself is transparency's TestHTMLEscapes).
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/admin/transparency/report?period=2025H2", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+pia.Token)
	req.Header.Set("Accept", "text/html")
	res, err := pia.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	page, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("HTML report: %s %s, policy %q", res.Status, res.Header.Get("Content-Type"), res.Header.Get("Content-Security-Policy"))
	}
	wantTotal := fmt.Sprintf(`<strong id="total">%d</strong>`, expect["2025H2"].total)
	if !strings.Contains(string(page), wantTotal) {
		t.Fatalf("HTML report lacks %s:\n%s", wantTotal, page)
	}
	if _, err := pia.TransparencyReport(ctx, "2026H3"); herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "half") {
		t.Fatalf("report of 2026H3: %v, want invalid", err)
	}
}

// walk moves request id through the legal review to outcome.
func walk(ctx context.Context, t *testing.T, c *httpapi.Client, id string, outcome transparency.Outcome) {
	t.Helper()
	if outcome == transparency.OutcomePending {
		return
	}
	if _, err := c.StartReview(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Decide(ctx, id, outcome != transparency.OutcomeRejected, "checked against the law"); err != nil {
		t.Fatal(err)
	}
	if outcome == transparency.OutcomeFulfilled {
		if _, err := c.Fulfil(ctx, id, "account record"); err != nil {
			t.Fatal(err)
		}
	}
}
