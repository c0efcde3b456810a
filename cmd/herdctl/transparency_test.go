package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/transparency"
)

// TestTransparencyCommands walks a request through the legal review with
// herdctl, as a privacy officer, and reads the report as JSON and HTML.
func TestTransparencyCommands(t *testing.T) {
	c, srv, _ := cloud.MustOpenTLSTest(t)
	if err := os.WriteFile(filepath.Join(c.Data, "admin.token"), []byte(cloud.TestToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	root := func(args ...string) result {
		return runEnv(t, nil, append([]string{"--cloud", srv.URL, "--data", c.Data}, args...)...)
	}
	r := root("operator", "add", "pia", "--role", "privacy-officer")
	tok := regexp.MustCompile(`herdop\.pia\.\S+`).FindString(r.stdout)
	if r.code != 0 || tok == "" {
		t.Fatalf("operator add:\n%v", r)
	}
	tokFile := filepath.Join(t.TempDir(), "pia.token")
	if err := os.WriteFile(tokFile, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pia := func(args ...string) result {
		return runEnv(t, nil, append([]string{"--cloud", srv.URL, "--data", c.Data, "--token-file", tokFile}, args...)...)
	}

	if r := pia("transparency", "register", "--type", "access", "--requester", "person"); r.code != 2 || !strings.Contains(r.stderr, "--country") {
		t.Fatalf("register without a country:\n%v", r)
	}
	if r := pia("transparency", "register", "--type", "access", "--requester", "person", "--country", "Deutschland"); r.code != 1 || !strings.Contains(r.stderr, `country "Deutschland"`) {
		t.Fatalf("register with a bad country:\n%v", r)
	}
	r = pia("transparency", "register", "--type", "authority-disclosure", "--requester", "authority", "--authority-kind", "law-enforcement",
		"--country", "DE", "--reference", "AZ 1/26", "--received", "2026-02-03")
	id, state, _ := strings.Cut(strings.TrimSpace(r.stdout), " ")
	if r.code != 0 || state != "received" || !strings.HasPrefix(id, "tr-") {
		t.Fatalf("register:\n%v", r)
	}
	if r := pia("transparency", "fulfil", id, "--disclosed", "everything"); r.code != 1 || !strings.Contains(r.stderr, "cannot fulfil it") {
		t.Fatalf("fulfil before review:\n%v", r)
	}
	if r := pia("transparency", "review", id); r.code != 0 || r.stdout != id+" in-review\n" {
		t.Fatalf("review:\n%v", r)
	}
	if r := pia("transparency", "approve", id); r.code != 2 {
		t.Fatalf("approve without reasons:\n%v", r)
	}
	if r := root("transparency", "approve", id, "--reasons", "x"); r.code != 1 || !strings.Contains(r.stderr, "only a privacy officer") {
		t.Fatalf("admin approves:\n%v", r)
	}
	if r := pia("transparency", "approve", id, "--reasons", "court order checked"); r.code != 0 || r.stdout != id+" approved\n" {
		t.Fatalf("approve:\n%v", r)
	}
	if r := pia("transparency", "fulfil", id, "--disclosed", "licence record"); r.code != 0 || r.stdout != id+" fulfilled\n" {
		t.Fatalf("fulfil:\n%v", r)
	}
	if r := pia("transparency", "list"); r.code != 0 || !strings.Contains(r.stdout, id+"  fulfilled  authority-disclosure  authority/law-enforcement  DE       2026-02-03  AZ 1/26\n") {
		t.Fatalf("list:\n%v", r)
	}

	r = pia("transparency", "report", "2026H1")
	var rep transparency.Report
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil || rep.Total != 1 || rep.ByCountry["DE"] != 1 || rep.ByOutcome[transparency.OutcomeFulfilled] != 1 {
		t.Fatalf("report:\n%v", r)
	}
	page := filepath.Join(t.TempDir(), "report.html")
	if r := pia("transparency", "report", "2026H1", "--html", page); r.code != 0 || !strings.Contains(r.stdout, "1 requests") {
		t.Fatalf("report --html:\n%v", r)
	}
	b, err := os.ReadFile(page)
	if err != nil || !strings.Contains(string(b), `<strong id="total">1</strong>`) {
		t.Fatalf("HTML page: %v\n%s", err, b)
	}
	if r := pia("transparency", "report", "2026H1", "--html", page); r.code != 1 {
		t.Fatalf("report over an existing file:\n%v", r)
	}
	if r := pia("transparency", "report", "2026-H1"); r.code != 2 || !strings.Contains(r.stderr, "2026H2") {
		t.Fatalf("report of a bad period:\n%v", r)
	}
}
