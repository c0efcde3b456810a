package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/offline"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/reputation/filter"
)

const malwareContent = "pretend this is a known malicious program\n"

// MustSaveFilter stores an offline filter over the SHA-256 of contents in
// the state folder, as herd update would.
func MustSaveFilter(tb testing.TB, state string, gen uint64, contents ...string) *filter.Set {
	tb.Helper()
	var hs [][32]byte
	for _, c := range contents {
		hs = append(hs, sha256.Sum256([]byte(c)))
	}
	snap, err := filter.Build(gen, hs)
	if err != nil {
		tb.Fatal(err)
	}
	if err := offline.Save(state, snap, nil); err != nil {
		tb.Fatal(err)
	}
	set, _, err := offline.Load(state)
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// mustNotMatch fails the test if the filter happens to hold a clean
// content (a false positive by chance, about 1 in 256).
func mustNotMatch(tb testing.TB, set *filter.Set, contents ...string) {
	tb.Helper()
	for _, c := range contents {
		if set.Contains(sha256.Sum256([]byte(c))) {
			tb.Fatalf("the test filter matches %q by chance: choose another content", c)
		}
	}
}

// Without the cloud, scan checks files against the offline filter held in
// the state folder and reports hits as possible matches.
func TestScanOfflineFilter(t *testing.T) {
	state := t.TempDir()
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "b.txt": cleanB, "sub/malware.bin": malwareContent})
	malware := filepath.Join(dir, "sub/malware.bin")
	dead := MustDeadURL(t)
	g := []string{"--cloud", dead, "--state", state}

	if r := run(t, nil, append(g, "scan", dir)...); r.code != ExitClean {
		t.Fatalf("no filter held: want nothing found (else the test proves nothing)\n%v", r)
	}
	set := MustSaveFilter(t, state, 7, malwareContent)
	mustNotMatch(t, set, cleanA, cleanB)

	hit := malware + ": " + scan.FilterThreat + " FOUND (suspicious, offline filter: a possible match, to be confirmed online)\n"
	r := run(t, nil, append(g, "scan", dir)...)
	if r.code != ExitFound || !strings.HasPrefix(r.stdout, hit) || strings.Count(r.stdout, "FOUND") != 1 {
		t.Fatalf("cloud unreachable, filter held:\n%v\nwant first %q", r, hit)
	}
	for _, want := range []string{
		"Cloud:         UNAVAILABLE: local database, cached verdicts and offline filter (generation 7, ",
		"Filter:        3 files checked, 1 possible matches (to be confirmed online)\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%v", want, r)
		}
	}
	for _, want := range []string{"files were checked against the local database, cached verdicts and offline filter", "1 possible matches of the offline filter: scan again with the cloud reachable to confirm them"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q\n%v", want, r)
		}
	}

	r = run(t, nil, "--state", state, "scan", "--offline", "--no-cache", "--json", dir)
	lines := MustDecodeLines(t, r.stdout)
	if r.code != ExitFound || len(lines) != 2 || r.stderr == "" {
		t.Fatalf("--offline --json: want a detection, the summary and the warning about the possible match\n%v", r)
	}
	want := scan.Result{Path: malware, Verdict: herd.VerdictSuspicious, Threat: scan.FilterThreat, Source: "filter", Where: "filter", SHA256: sha256Hex(malwareContent)}
	if lines[0].Type != "detection" || lines[0].Result != want {
		t.Errorf("detection %+v\nwant      %+v", lines[0].Result, want)
	}
	if s := lines[1].Summary; s.FilterChecked != 3 || s.FilterHits != 1 || s.Detections != 1 || s.CloudAsked != 0 {
		t.Errorf("summary %+v: want 3 files checked against the filter, 1 hit", s)
	}

	// --no-cloud means the local database only.
	if r := run(t, nil, append(g, "scan", "--no-cloud", dir)...); r.code != ExitClean {
		t.Errorf("--no-cloud used the filter:\n%v", r)
	}
}

// With the cloud reachable its answer wins over the filter: a filter hit
// the cloud does not confirm is not reported, one it confirms is reported
// as the cloud's.
func TestScanFilterHitConfirmedOnline(t *testing.T) {
	c := MustStartCloud(t)
	state := t.TempDir()
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "fp.bin": malwareContent})
	set := MustSaveFilter(t, state, 7, malwareContent)
	mustNotMatch(t, set, cleanA)
	g := []string{"--cloud", c.URL, "--state", state}

	r := run(t, nil, append(g, "scan", "--no-cache", dir)...)
	if r.code != ExitClean || strings.Contains(r.stdout, "FOUND") || strings.Contains(r.stdout, "Filter:") {
		t.Fatalf("the cloud knows nothing of the filter's hit (a false positive): want it not reported\n%v", r)
	}
	c.MustSetVerdict(t, sha256Of(malwareContent), herd.VerdictMalicious, "Herd.Confirmed")
	r = run(t, nil, append(g, "scan", "--no-cache", dir)...)
	if want := filepath.Join(dir, "fp.bin") + ": Herd.Confirmed FOUND (malicious, cloud, operator)\n"; r.code != ExitFound || !strings.HasPrefix(r.stdout, want) || strings.Count(r.stdout, "FOUND") != 1 {
		t.Fatalf("confirmed by the cloud:\n%v\nwant %q", r, want)
	}
}

// herd update downloads the cloud's filter; with the cloud gone, scan
// finds the malicious file through it. Needs the cloud to serve
// GET /v1/filter (the test skips while it answers ENOTFOUND).
func TestUpdateThenScanWithoutTheCloud(t *testing.T) {
	c := MustStartCloud(t)
	state := t.TempDir()
	c.MustSetVerdict(t, sha256Of(malwareContent), herd.VerdictMalicious, "Herd.Filtered")
	g := []string{"--cloud", c.URL, "--state", state}
	r := run(t, nil, append(g, "update")...)
	if r.code == ExitError && strings.Contains(r.stderr, "serves no offline filter") {
		t.Skipf("the cloud serves no offline filter yet:\n%v", r)
	}
	if r.code != ExitClean || !strings.HasPrefix(r.stdout, "offline filter: downloaded a snapshot") {
		t.Fatalf("herd update:\n%v", r)
	}
	if r := run(t, nil, append(g, "update")...); r.code != ExitClean || !strings.HasPrefix(r.stdout, "offline filter: up to date") {
		t.Errorf("second herd update:\n%v", r)
	}
	set, _, err := offline.Load(state)
	if err != nil || !set.Contains(sha256.Sum256([]byte(malwareContent))) {
		t.Fatalf("the filter stored lacks the malicious hash (%v)", err)
	}
	// A benign file the filter matches by chance (about 1 in 256).
	var fp string
	for i := 0; fp == ""; i++ {
		if s := fmt.Sprintf("benign file %d\n", i); set.Contains(sha256.Sum256([]byte(s))) {
			fp = s
		}
	}
	dir := MustWriteFiles(t, map[string]string{"malware.bin": malwareContent, "benign.txt": fp, "a.txt": cleanA})
	mustNotMatch(t, set, cleanA)

	r = run(t, nil, append(g, "scan", "--no-cache", dir)...)
	if r.code != ExitFound || strings.Count(r.stdout, "FOUND") != 1 || !strings.Contains(r.stdout, filepath.Join(dir, "malware.bin")+": Herd.Filtered FOUND (malicious, cloud") {
		t.Fatalf("with the cloud: want the malicious file from the cloud, the filter's false positive not reported\n%v", r)
	}
	c.Stop()
	r = run(t, nil, append(g, "scan", "--no-cache", dir)...)
	for _, p := range []string{"malware.bin", "benign.txt"} {
		if want := filepath.Join(dir, p) + ": " + scan.FilterThreat + " FOUND (suspicious, offline filter"; !strings.Contains(r.stdout, want) {
			t.Errorf("cloud gone: stdout lacks %q\n%v", want, r)
		}
	}
	if r.code != ExitFound || strings.Count(r.stdout, "FOUND") != 2 {
		t.Fatalf("cloud gone: want the two possible matches\n%v", r)
	}
	if err := os.Remove(filepath.Join(state, offline.SnapshotFile)); err != nil {
		t.Fatal(err)
	}
	if r := run(t, nil, append(g, "scan", "--no-cache", dir)...); r.code != ExitClean {
		t.Fatalf("cloud gone, filter removed: want nothing found (else the test proves nothing)\n%v", r)
	}
}
