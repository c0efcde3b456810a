package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/identity/pki"
)

// TestRulesPublish: herdctl rules publish against a cloud with its CA
// (herdctl finds the token and the CA in the cloud's data folder).
func TestRulesPublish(t *testing.T) {
	c, srv, _ := cloud.MustOpenTLSTest(t)
	if err := os.WriteFile(filepath.Join(c.Data, "admin.token"), []byte(cloud.TestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	herdctl := func(args ...string) result {
		return runEnv(t, nil, append([]string{"--cloud", srv.URL, "--data", c.Data}, args...)...)
	}
	if r := herdctl("rules", "show"); r.code != 1 || !strings.Contains(r.stderr, "no rules published yet") {
		t.Fatalf("show before any:\n%v", r)
	}

	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "linux"), 0o755)
	os.WriteFile(filepath.Join(dir, "linux", "paste.yml"), []byte(bundle.ExampleRule), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("not a rule"), 0o644)
	os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte("title: Broken\nid: 1\ndetection:\n  sel:\n    A: b\n"), 0o644)
	r := herdctl("rules", "publish", dir)
	if r.code != 1 || !strings.Contains(r.stderr, "rules: 1 of 2 files are not valid rules; the set is refused whole") || !strings.Contains(r.stderr, `item 0: field "yaml": broken.yaml: `) {
		t.Fatalf("publish with a broken rule:\n%v", r)
	}
	os.Remove(filepath.Join(dir, "broken.yaml"))
	r = herdctl("rules", "publish", dir)
	signer, err := os.ReadFile(filepath.Join(c.Data, "tls", pki.RuleSignerFile))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.ParseCertificatePEM(signer)
	if err != nil {
		t.Fatal(err)
	}
	if r.code != 0 || !strings.HasPrefix(r.stdout, "published generation 1: 1 rules, signed by "+pki.Serial(cert)+", sha256 ") {
		t.Fatalf("publish:\n%v", r)
	}
	r = herdctl("rules", "show")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "generation 1, published ") || !strings.Contains(r.stdout, "  paste.yml  0f0e0d0c-0b0a-4908-8706-050403020100  Curl to a paste site (medium)\n") {
		t.Fatalf("show:\n%v", r)
	}
	if r := herdctl("rules", "publish"); r.code != 2 {
		t.Fatalf("publish without a folder:\n%v", r)
	}
	if r := herdctl("rules", "publish", t.TempDir()); r.code != 1 || !strings.Contains(r.stderr, "no rule files") {
		t.Fatalf("publish of an empty folder:\n%v", r)
	}
}
