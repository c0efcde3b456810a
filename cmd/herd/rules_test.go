package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesTest(t *testing.T) {
	events := filepath.Join("..", "..", "agent", "rules", "testdata", "bash-reverse-shell", "events.jsonl")
	r := run(t, nil, "rules", "test", events)
	if r.code != ExitFound || !strings.Contains(r.stdout, events+":1: 83dcd9f6-9ca8-4af7-a16e-a1c7a6b51871 Linux Reverse Shell Indicator (critical)") ||
		strings.Contains(r.stdout, events+":2:") || !strings.Contains(r.stdout, "3 events, ") {
		t.Fatalf("herd rules test: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Own rules, and a clear error for a bad event line.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "mine.yml"), []byte("title: Curl to a paste site\nid: 0f0e0d0c-0b0a-4908-8706-050403020100\nlogsource:\n  category: process_creation\ndetection:\n  sel:\n    Image|endswith: /curl\n    CommandLine|contains: pastebin\n  condition: sel\nlevel: medium\n"), 0o644)
	evs := filepath.Join(dir, "events.jsonl")
	os.WriteFile(evs, []byte(`{"Image":"/usr/bin/curl","CommandLine":"curl https://pastebin.example/raw/x"}`+"\n"+`{"Image":"/usr/bin/curl","CommandLine":"curl https://example.org"}`+"\n"), 0o644)
	r = run(t, nil, "rules", "test", evs, "--rules", dir)
	if r.code != ExitFound || !strings.Contains(r.stdout, ":1: 0f0e0d0c-0b0a-4908-8706-050403020100 Curl to a paste site (medium)") || !strings.Contains(r.stdout, "2 events, 1 rules, 1 matches") {
		t.Fatalf("own rules: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(evs, []byte("{\"Image\":\"/bin/x\"}\nnot json\n"), 0o644)
	r = run(t, nil, "rules", "test", evs, "--rules", dir)
	if r.code != ExitError || !strings.Contains(r.stderr, evs+":2: not a JSON object") {
		t.Fatalf("a bad line: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	os.WriteFile(filepath.Join(dir, "broken.yml"), []byte("title: [\n"), 0o644)
	r = run(t, nil, "rules", "test", evs, "--rules", dir)
	if r.code != ExitError || !strings.Contains(r.stderr, "broken.yml") {
		t.Fatalf("a broken rule: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
