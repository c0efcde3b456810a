package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/rules/bundle"
)

// TestRulesUpdateEndToEnd: a real cloud publishes a rule; the enrolled
// agent's "herd rules update" installs it, "herd rules test" then matches
// with it, and a bundle altered on disk stops "herd rules test" with a
// clear error.
func TestRulesUpdateEndToEnd(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, ca, admin, licKey := MustStartTLSCloud(t, 1)
	state := t.TempDir()
	env := map[string]string{"HERD_STATE": state}

	// Not enrolled: no pinned CA, nothing to verify with.
	if r := run(t, env, "rules", "update", "--cloud", srv.URL); r.code != ExitError || !strings.Contains(r.stderr, "enroll first") {
		t.Fatalf("update before enrollment:\n%v", r)
	}
	if r := run(t, env, "enroll", "--cloud", srv.URL, "--license", licKey, "--ca-fingerprint", ca.Fingerprint()); r.code != ExitClean {
		t.Fatalf("enroll:\n%v", r)
	}
	if r := run(t, env, "rules", "update"); r.code != ExitError || !strings.Contains(r.stderr, "has published no rules") {
		t.Fatalf("update before any publication:\n%v", r)
	}

	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(`{"logsource":{"category":"process_creation"},"Image":"/usr/bin/curl","CommandLine":"curl -s https://pastebin.example/raw/x"}`+"\n"), 0o644)
	before := run(t, env, "rules", "test", events)
	if strings.Contains(before.stdout, "0f0e0d0c-0b0a-4908-8706-050403020100") {
		t.Fatalf("the rule matches before it was published:\n%v", before)
	}

	if _, err := admin.PublishRules(ctx, []bundle.File{{Name: "paste.yml", YAML: bundle.ExampleRule}}); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "rules", "update")
	if r.code != ExitClean || !strings.Contains(r.stdout, "rules: installed generation 1 of ") || !strings.Contains(r.stdout, "1 rules, signed Herd rule signer (none before)") {
		t.Fatalf("update:\n%v", r)
	}
	if r := run(t, env, "rules", "update"); r.code != ExitClean || r.stdout != "rules: up to date: generation 1, 1 rules\n" {
		t.Fatalf("second update:\n%v", r)
	}
	r = run(t, env, "rules", "test", events)
	if r.code != ExitFound || !strings.Contains(r.stdout, events+":1: 0f0e0d0c-0b0a-4908-8706-050403020100 Curl to a paste site (medium)") {
		t.Fatalf("rules test with the cloud's rule:\n%v", r)
	}
	r = run(t, env, "rules", "list")
	if r.code != ExitClean || !strings.Contains(r.stdout, "0f0e0d0c-0b0a-4908-8706-050403020100  cloud    Curl to a paste site (medium)  paste.yml\n") || !strings.Contains(r.stdout, ", 1 from the cloud (generation 1 of ") {
		t.Fatalf("rules list:\n%v", r)
	}

	// One byte of the installed rule changed: refused, naming the file.
	p := filepath.Join(state, bundle.BundlePath)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var env2 bundle.Envelope
	if err := json.Unmarshal(b, &env2); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(env2.Payload, []byte("pastebin"))
	env2.Payload[i] = 'P'
	b, _ = json.Marshal(env2)
	os.WriteFile(p, b, 0o600)
	r = run(t, env, "rules", "test", events)
	if r.code != ExitError || !strings.Contains(r.stderr, p+": rule bundle: bad signature") {
		t.Fatalf("rules test with an altered bundle:\n%v", r)
	}
	// The next update replaces the altered bundle with the cloud's.
	if r := run(t, env, "rules", "update"); r.code != ExitClean || !strings.Contains(r.stdout, "installed generation 1") {
		t.Fatalf("update over an altered bundle:\n%v", r)
	}
	if r := run(t, env, "rules", "test", events); r.code != ExitFound {
		t.Fatalf("rules test after the repair:\n%v", r)
	}
}
