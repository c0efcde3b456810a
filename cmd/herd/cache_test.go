package main

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// MustSetVerdict sets a verdict through the admin API and waits until the
// cloud serves it.
func (c *testCloud) MustSetVerdict(tb testing.TB, o herd.Object, v herd.Verdict, threat string) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := &httpapi.Client{BaseURL: c.URL, Token: c.Token}
	resp, err := admin.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: o.Kind, Value: o.Value, Verdict: v, Threat: threat}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Index.WaitFor(ctx, resp.Seq); err != nil {
		tb.Fatal(err)
	}
	return resp.Seq
}

func sha256Of(content string) herd.Object {
	return herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(content)}
}

const (
	badContent = "a file the cloud knows to be bad\n"
	newContent = "a file first seen with the cloud gone\n"
)

// With a state folder, scan keeps the cloud's answers, and they answer
// when the cloud is gone; --no-cache does without them.
func TestScanCacheAnswersWithoutTheCloud(t *testing.T) {
	c := MustStartCloud(t)
	state := t.TempDir()
	dir := MustWriteFiles(t, map[string]string{"bad.txt": badContent, "clean.txt": cleanA})
	bad := filepath.Join(dir, "bad.txt")
	c.MustSetVerdict(t, sha256Of(badContent), herd.VerdictMalicious, "Herd.Cached.Bad")
	found := bad + ": Herd.Cached.Bad FOUND (malicious, cloud, operator)\n"

	g := []string{"--cloud", c.URL, "--state", state}
	if r := run(t, nil, append(g, "scan", dir)...); r.code != ExitFound || !strings.Contains(r.stdout, found) {
		t.Fatalf("with the cloud:\n%v", r)
	}
	c.Stop()
	if r := run(t, nil, append(g, "scan", "--no-cache", dir)...); r.code != ExitClean || strings.Contains(r.stdout, "FOUND") {
		t.Fatalf("cloud gone, --no-cache: want nothing found (else the test proves nothing)\n%v", r)
	}
	r := run(t, nil, append(g, "scan", dir)...)
	if r.code != ExitFound || !strings.Contains(r.stdout, found) || !strings.Contains(r.stdout, "Cloud:         "+c.URL+": 2 files checked\n") || r.stderr != "" {
		t.Fatalf("cloud gone, both files cached: want the cached detection and no warning\n%v", r)
	}

	// A file the cache does not hold: the cached answers stand, and the
	// scan says what it checked without the cloud.
	if err := os.WriteFile(filepath.Join(dir, "new.txt"), []byte(newContent), 0o644); err != nil {
		t.Fatal(err)
	}
	r = run(t, nil, append(g, "scan", dir)...)
	if r.code != ExitFound || !strings.Contains(r.stdout, found) || !strings.Contains(r.stdout, "Cloud:         UNAVAILABLE: local database and cached verdicts\n") {
		t.Fatalf("cloud gone, one file not cached:\n%v", r)
	}
	if want := "files were checked against the local database and cached verdicts\n"; !strings.Contains(r.stderr, want) {
		t.Errorf("stderr lacks %q\n%v", want, r)
	}
	// --offline: the cache without asking.
	r = run(t, nil, "--state", state, "scan", "--offline", dir)
	if r.code != ExitFound || !strings.Contains(r.stdout, found) || !strings.Contains(r.stdout, "Cloud:         not asked (--offline): local database and cached verdicts\n") || r.stderr != "" {
		t.Fatalf("--offline:\n%v", r)
	}
}

// A verdict the cloud sets after a file was cached unknown reaches the
// cache through herd follow at once, instead of after the negative TTL.
func TestFollowPushesVerdictsToTheCache(t *testing.T) {
	c := MustStartCloud(t)
	state := t.TempDir()
	dir := MustWriteFiles(t, map[string]string{"later.txt": badContent})
	g := []string{"--cloud", c.URL, "--state", state}
	if r := run(t, nil, append(g, "scan", dir)...); r.code != ExitClean {
		t.Fatalf("first scan:\n%v", r)
	}
	seq := c.MustSetVerdict(t, sha256Of(badContent), herd.VerdictMalicious, "Herd.Pushed")
	if r := run(t, nil, append(g, "scan", dir)...); r.code != ExitClean {
		t.Fatalf("before herd follow, the cache's unknown answers for 15 minutes; got:\n%v", r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	followed := make(chan result, 1)
	go func() { followed <- runCtx(ctx, t, nil, append(g, "follow")...) }()
	found := filepath.Join(dir, "later.txt") + ": Herd.Pushed FOUND (malicious, cloud, operator)\n"
	deadline := time.Now().Add(20 * time.Second)
	for {
		r := run(t, nil, "--state", state, "scan", "--offline", dir)
		if r.code == ExitFound && strings.Contains(r.stdout, found) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("the pushed verdict never reached the cache; last scan:\n%v\nherd follow:\n%v", r, <-followed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	r := <-followed
	if r.code != ExitClean || r.stderr != "" {
		t.Fatalf("herd follow:\n%v", r)
	}
	for _, want := range []string{
		"following verdict changes of " + c.URL + " after change 0; interrupt to stop\n",
		"sha256:" + sha256Hex(badContent) + ": malicious (Herd.Pushed)\n",
		"stopped after change " + strconv.FormatUint(seq, 10) + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("herd follow's output lacks %q\n%v", want, r)
		}
	}
	c.Stop()
	if r := run(t, nil, append(g, "scan", dir)...); r.code != ExitFound || !strings.Contains(r.stdout, found) {
		t.Fatalf("cloud gone:\n%v", r)
	}
}
