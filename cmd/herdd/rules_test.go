package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/identity/pki"
)

// TestRulesBinaries: the real binaries, end to end. herdd makes its rule
// signer beside its CA on first start; herdctl publishes a folder of Sigma
// rules; an enrolled herd downloads, verifies and installs the signed set,
// and "herd rules test" then matches with the new rule.
func TestRulesBinaries(t *testing.T) {
	dir := t.TempDir()
	m := MustRunHerdd(t, dir, "")
	signerPEM, err := os.ReadFile(filepath.Join(dir, TLSDir, pki.RuleSignerFile))
	if err != nil {
		t.Fatalf("herdd made no rule signer: %v", err)
	}
	signer, err := pki.ParseCertificatePEM(signerPEM)
	if err != nil || pki.CheckRuleSigner(signer) != nil || signer.CheckSignatureFrom(m.CA().Cert) != nil {
		t.Fatalf("rule signer certificate: %v", err)
	}
	herdBin, herdctlBin := MustBuildCLIs(t)

	rulesDir := t.TempDir()
	os.WriteFile(filepath.Join(rulesDir, "paste.yml"), []byte(bundle.ExampleRule), 0o644)
	code, out, errOut := run(t, herdctlBin, "--cloud", m.URL(), "--data", dir, "rules", "publish", rulesDir)
	if code != 0 || !strings.HasPrefix(out, "published generation 1: 1 rules, signed by "+pki.Serial(signer)) {
		t.Fatalf("herdctl rules publish: exit %d\n%s%s", code, out, errOut)
	}

	state := t.TempDir()
	code, out, errOut = run(t, herdBin, "--state", state, "enroll", "--cloud", m.URL(), "--license", mustLicenceKey(t, m, 1), "--ca-fingerprint", m.CA().Fingerprint())
	if code != 0 {
		t.Fatalf("herd enroll: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = run(t, herdBin, "rules", "update", "--state", state)
	if code != 0 || !strings.HasPrefix(out, "rules: installed generation 1 of ") {
		t.Fatalf("herd rules update: exit %d\n%s%s", code, out, errOut)
	}
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(`{"logsource":{"category":"process_creation"},"Image":"/usr/bin/curl","CommandLine":"curl https://pastebin.example/raw/x"}`+"\n"), 0o644)
	code, out, errOut = run(t, herdBin, "rules", "test", "--state", state, events)
	if code != 1 || !strings.Contains(out, events+":1: 0f0e0d0c-0b0a-4908-8706-050403020100 Curl to a paste site (medium)") {
		t.Fatalf("herd rules test: exit %d\n%s%s", code, out, errOut)
	}
}
