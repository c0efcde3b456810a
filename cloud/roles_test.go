package cloud

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// TestOperatorRoles: each admin route takes the roles it states and no
// other; every call, identity reads included, is in the audit log under
// its operator, before it runs; the chain verifies.
func TestOperatorRoles(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	_, srv, ca := MustOpenTLSTest(t)
	root := adminClient(t, srv.URL, ca)
	as := func(token string) *httpapi.Client {
		c := tlsClient(t, srv.URL, ca, nil)
		c.Token = token
		return c
	}
	tokens := map[string]string{}
	for _, o := range []struct{ name, role string }{{"ana", "analyst"}, {"sam", "support"}, {"pia", "privacy-officer"}} {
		res, err := root.CreateOperator(ctx, o.name, []string{o.role})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(res.Token, "herdop."+o.name+".") {
			t.Fatalf("token %q", res.Token)
		}
		tokens[o.name] = res.Token
	}
	ana, sam, pia := as(tokens["ana"]), as(tokens["sam"]), as(tokens["pia"])
	obj := herd.Object{Kind: herd.KindDomain, Value: "roles.example"}
	set := func(c *httpapi.Client) error {
		_, err := c.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: herd.VerdictMalicious, Threat: "Roles.Test"}})
		return err
	}
	allowed := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v, want allowed", what, err)
		}
	}
	forbidden := func(what string, err error) {
		t.Helper()
		if herd.ErrorCode(err) != herd.EFORBIDDEN || !strings.Contains(err.Error(), "needs one of the roles") {
			t.Errorf("%s: err = %v, want forbidden naming the roles needed", what, err)
		}
	}
	allowed("analyst sets a verdict", set(ana))
	forbidden("support sets a verdict", set(sam))
	forbidden("privacy officer sets a verdict", set(pia))
	_, err := ana.CreateLicence(ctx, httpapi.LicenceRequest{Seats: 1})
	forbidden("analyst creates a licence", err)
	lic, err := sam.CreateLicence(ctx, httpapi.LicenceRequest{Seats: 1, Contact: "carol@example.org"})
	allowed("support creates a licence", err)
	_, err = ana.Licence(ctx, lic.ID)
	forbidden("analyst reads a licence (identity data)", err)
	_, err = pia.Licence(ctx, lic.ID)
	allowed("privacy officer reads a licence", err)
	_, err = sam.AuditLog(ctx, 10)
	forbidden("support reads the audit log", err)
	_, err = pia.CreateOperator(ctx, "eve", []string{"admin"})
	forbidden("privacy officer adds an operator", err)
	_, err = ana.GetVerdict(ctx, obj)
	allowed("analyst reads a verdict", err)

	// Removed operators and forged tokens are refused.
	if err := root.RemoveOperator(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if err := set(ana); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Errorf("removed operator: err = %v, want unauthorized", err)
	}
	forged := tokens["sam"][:len(tokens["sam"])-4] + "AAAA"
	if _, err := as(forged).CreateLicence(ctx, httpapi.LicenceRequest{Seats: 1}); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Errorf("forged token: err = %v, want unauthorized", err)
	}

	// The audit log holds every admin call, refused ones by role included
	// (they were attempted by a known operator), with operator and target.
	log, err := pia.AuditLog(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var read, created bool
	for _, e := range log.Entries {
		if e.Operator == "pia" && e.Action == "GET /v1/admin/licenses/{id}" && e.Target == "/v1/admin/licenses/"+lic.ID {
			read = true
		}
		if e.Operator == "admin" && e.Action == "POST /v1/admin/operators" {
			created = true
		}
		if e.Operator == "ana" && e.Action == "POST /v1/admin/licenses" {
			t.Errorf("a call refused for its role was audited as done: %+v", e)
		}
	}
	if !read || !created {
		t.Fatalf("audit log lacks the identity read (%v) or the operator creation (%v):\n%+v", read, created, log.Entries)
	}
	rep, err := pia.VerifyAudit(ctx)
	if err != nil || !rep.OK || rep.Entries < len(log.Entries) {
		t.Fatalf("audit verify: %+v %v", rep, err)
	}
}
