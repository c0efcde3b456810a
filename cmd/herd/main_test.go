package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/reputation"
)

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

// run runs herd with args, an empty environment apart from env, and no
// terminal.
func run(tb testing.TB, env map[string]string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return runCtx(ctx, tb, env, args...)
}

// runCtx is run until ctx ends. Unless env sets HERD_STATE, the default
// state folder is one that does not exist, never the user's own.
func runCtx(ctx context.Context, tb testing.TB, env map[string]string, args ...string) result {
	tb.Helper()
	if _, ok := env["HERD_STATE"]; !ok {
		e := map[string]string{"HERD_STATE": filepath.Join(tb.TempDir(), "no-state")}
		for k, v := range env {
			e[k] = v
		}
		env = e
	}
	var out, errb bytes.Buffer
	m := &Main{
		Stdout:     &out,
		Stderr:     &errb,
		Getenv:     func(k string) string { return env[k] },
		IsTerminal: func(io.Writer) bool { return false },
	}
	code := m.Run(ctx, args)
	return result{code, out.String(), errb.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// MustWriteFiles writes files (relative path → content) under a new temp
// folder and returns the folder.
func MustWriteFiles(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// MustDeadURL returns the URL of a loopback port nobody listens on.
func MustDeadURL(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func hexOf(sum []byte) string { return hex.EncodeToString(sum) }
func sha256Hex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hexOf(h[:])
}
func sha1Hex(s string) string { h := sha1.Sum([]byte(s)); return hexOf(h[:]) }
func md5Hex(s string) string  { h := md5.Sum([]byte(s)); return hexOf(h[:]) }

const (
	cleanA = "just some clean text\n"
	cleanB = "another clean file, a little longer than the first one\n"
)

func TestScanClean(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "sub/b.txt": cleanB, "sub/empty": ""})
	r := run(t, nil, "scan", "--no-cloud", dir)
	if r.code != ExitClean {
		t.Fatalf("clean folder: %v; want exit 0", r)
	}
	for _, want := range []string{"Scanned files: 3\n", "Detections:    0\n", "Errors:        0\n", "Cloud:         not asked (--no-cloud)\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%v", want, r)
		}
	}
	if strings.Contains(r.stdout, "FOUND") || r.stderr != "" {
		t.Errorf("clean folder reported something:\n%v", r)
	}
}

func TestScanEICAR(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "deep/er/eicar.com": herd.EICAR})
	eicar := filepath.Join(dir, "deep/er/eicar.com")
	r := run(t, nil, "scan", "--no-cloud", dir)
	if r.code != ExitFound {
		t.Fatalf("EICAR: %v; want exit 1", r)
	}
	if want := eicar + ": EICAR-Test-File FOUND (malicious, local database, test verdict)\n"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("stdout does not start with %q:\n%v", want, r)
	}
	if !strings.Contains(r.stdout, "Scanned files: 2\n") || !strings.Contains(r.stdout, "Detections:    1\n") {
		t.Errorf("summary wrong:\n%v", r)
	}
}

func TestScanProgressBarOnTerminal(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "eicar.com": herd.EICAR})
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, IsTerminal: func(io.Writer) bool { return true }}
	if code := m.Run(context.Background(), []string{"scan", "--no-cloud", dir}); code != ExitFound {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, errb.String())
	}
	if want := filepath.Join(dir, "eicar.com") + ": EICAR-Test-File FOUND"; !strings.Contains(out.String(), want) {
		t.Errorf("stdout lacks %q:\n%s", want, out.String())
	}
}

func TestUsageErrors(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{
		"a.txt":     cleanA,
		"file.hsb":  sha256Hex(cleanA) + ":*:Good.Sig\n" + sha256Hex(cleanB) + ":12x:Bad.Size\n",
		"short.hdb": "# comment\n\n" + md5Hex(cleanA) + ":21\n",
	})
	for _, tt := range []struct {
		name string
		args []string
		code int
		// want are strings the output must contain, on stderr unless the
		// exit status is 0.
		want []string
	}{
		{"no arguments", nil, ExitError, []string{"Usage: herd"}},
		{"unknown command", []string{"scna", dir}, ExitError, []string{`unknown command "scna"`, "Usage: herd"}},
		{"no path", []string{"scan", "--no-cloud"}, ExitError, []string{"herd scan: no path given"}},
		{"unknown flag", []string{"scan", dir, "--bogus"}, ExitError, []string{"flag provided but not defined: -bogus"}},
		{"malformed hsb", []string{"scan", "--no-cloud", "--db", filepath.Join(dir, "file.hsb"), dir}, ExitError, []string{"file.hsb:2: ", `size "12x": not a number`}},
		{"truncated hdb", []string{"scan", "--no-cloud", "--db", filepath.Join(dir, "short.hdb"), dir}, ExitError, []string{"short.hdb:3: ", "truncated line"}},
		{"missing db", []string{"scan", "--no-cloud", "--db", filepath.Join(dir, "nope.hsb"), dir}, ExitError, []string{"herd scan: "}},
		{"bad cloud URL", []string{"--cloud", "ftp://example.com", "scan", dir}, ExitError, []string{`cloud URL "ftp://example.com": want http(s)://HOST:PORT`}},
		{"help", []string{"help"}, ExitClean, []string{"Usage: herd", "scan [--db FILE]"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, nil, tt.args...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\n%v", r.code, tt.code, r)
			}
			out := r.stderr
			if tt.code == ExitClean {
				out = r.stdout
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q\n%v", w, r)
				}
			}
			if tt.code != ExitClean && strings.Contains(r.stdout, "SCAN SUMMARY") {
				t.Errorf("a usage error still scanned:\n%v", r)
			}
		})
	}
}

// line is one line of herd scan --json: a detection, an error or the summary.
type line struct {
	Type string `json:"type"`
	scan.Result
	scan.Summary
}

// MustDecodeLines decodes JSON lines, refusing unknown fields so that the
// wire format is pinned.
func MustDecodeLines(tb testing.TB, s string) []line {
	tb.Helper()
	var lines []line
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		var l line
		if err := dec.Decode(&l); err != nil {
			tb.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

func TestScanJSON(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "b/eicar.com": herd.EICAR, "b/c/d.txt": cleanB})
	missing := filepath.Join(dir, "missing")
	// Flags after paths, and between them.
	r := run(t, nil, "scan", dir, "--json", missing, "--no-cloud")
	if r.code != ExitFound {
		t.Fatalf("%v\nwant exit 1", r)
	}
	lines := MustDecodeLines(t, r.stdout)
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want a detection, an error and the summary:\n%s", len(lines), r.stdout)
	}
	var det, errl *line
	for i := range lines[:2] {
		switch lines[i].Type {
		case "detection":
			det = &lines[i]
		case "error":
			errl = &lines[i]
		}
	}
	wantDet := scan.Result{Path: filepath.Join(dir, "b/eicar.com"), Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceLocalDB, Where: "local", Test: true, SHA256: herd.EICARSHA256}
	if det == nil || det.Result != wantDet || det.Summary != (scan.Summary{}) {
		t.Errorf("detection line %+v\nwant %+v", det, wantDet)
	}
	if errl == nil || errl.Path != missing || !strings.Contains(errl.Err, "no such file") || errl.Verdict != "" {
		t.Errorf("error line %+v: want the missing path's error", errl)
	}
	sum := lines[2]
	if sum.Type != "summary" || sum.Result != (scan.Result{}) {
		t.Fatalf("last line %+v: want the summary alone", sum)
	}
	want := scan.Summary{Files: 3, Bytes: int64(len(cleanA) + len(herd.EICAR) + len(cleanB)), Detections: 1, Errors: 1, LocalHits: 1}
	got := sum.Summary
	if got.Duration <= 0 {
		t.Errorf("summary duration %v, want > 0", got.Duration)
	}
	got.Duration = 0
	if got != want {
		t.Errorf("summary %+v\nwant    %+v", got, want)
	}
}

func TestScanErrorsOnly(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA})
	missing := filepath.Join(dir, "missing")
	r := run(t, nil, "scan", "--no-cloud", dir, missing)
	if r.code != ExitError {
		t.Fatalf("%v\nwant exit 2 for an unreadable path and no detection", r)
	}
	if !strings.HasPrefix(r.stdout, missing+": ERROR ") || !strings.Contains(r.stdout, "Errors:        1\n") {
		t.Errorf("stdout does not report the error:\n%v", r)
	}
}

func TestScanDeadCloud(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "eicar.com": herd.EICAR})
	dead := MustDeadURL(t)
	for name, tt := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"flag":          {nil, []string{"--cloud", dead, "scan", dir}},
		"scan flag":     {nil, []string{"scan", dir, "--cloud", dead}},
		"env":           {map[string]string{"HERD_CLOUD": " " + dead + "\n"}, []string{"scan", dir}},
		"flag over env": {map[string]string{"HERD_CLOUD": "http://127.0.0.1:1"}, []string{"scan", "--cloud", dead, dir}},
	} {
		t.Run(name, func(t *testing.T) {
			r := run(t, tt.env, tt.args...)
			if r.code != ExitFound {
				t.Fatalf("%v\nwant exit 1: EICAR is found locally", r)
			}
			if !strings.Contains(r.stdout, filepath.Join(dir, "eicar.com")+": EICAR-Test-File FOUND") || !strings.Contains(r.stdout, "Cloud:         UNAVAILABLE: local database only\n") {
				t.Errorf("stdout:\n%v", r)
			}
			if want := "herd scan: WARNING: cloud verdicts were unavailable (cloud " + dead + " unreachable: "; !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q\n%v", want, r)
			}
		})
	}
	t.Run("no-cloud", func(t *testing.T) {
		r := run(t, map[string]string{"HERD_CLOUD": dead}, "scan", dir, "--no-cloud")
		if r.code != ExitFound || r.stderr != "" {
			t.Errorf("%v\nwant exit 1 and no warning: the cloud was not to be asked", r)
		}
	})
	t.Run("json", func(t *testing.T) {
		r := run(t, nil, "--cloud", dead, "scan", "--json", dir)
		lines := MustDecodeLines(t, r.stdout)
		if r.code != ExitFound || len(lines) != 2 {
			t.Fatalf("%v\nwant exit 1, a detection and the summary", r)
		}
		s := lines[1].Summary
		if !s.CloudFailed || !strings.Contains(s.CloudError, "unreachable") || s.CloudAsked != 0 || s.Detections != 1 {
			t.Errorf("summary %+v: want the cloud unavailable and the local detection", s)
		}
	})
}

func TestScanCustomDB(t *testing.T) {
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "sub/b.txt": cleanB, "sub/c.txt": "c"})
	dbs := MustWriteFiles(t, map[string]string{
		"custom.hsb":    "# sha256, any size\n" + sha256Hex(cleanA) + ":*:Herd.Custom.SHA256\n",
		"custom.hdb":    fmt.Sprintf("%s:%d:Herd.Custom.MD5\n", md5Hex(cleanB), len(cleanB)),
		"wrongsize.hdb": fmt.Sprintf("%s:%d:Herd.Custom.WrongSize\n", md5Hex("c"), 2),
		"sha1.hsb":      fmt.Sprintf("%s:1:Herd.Custom.SHA1\n", sha1Hex("c")),
	})
	a, b, c := filepath.Join(dir, "a.txt"), filepath.Join(dir, "sub/b.txt"), filepath.Join(dir, "sub/c.txt")

	r := run(t, nil, "scan", "--no-cloud", "--db", filepath.Join(dbs, "custom.hsb"), dir)
	if r.code != ExitFound || !strings.HasPrefix(r.stdout, a+": Herd.Custom.SHA256 FOUND (malicious, local database)\n") || strings.Count(r.stdout, "FOUND") != 1 {
		t.Errorf("hsb signature:\n%v", r)
	}

	r = run(t, nil, "scan", dir, "--json", "--no-cloud", "--db", filepath.Join(dbs, "custom.hsb"), "--db", filepath.Join(dbs, "custom.hdb"), "--db", filepath.Join(dbs, "wrongsize.hdb"))
	if r.code != ExitFound {
		t.Fatalf("%v\nwant exit 1", r)
	}
	found := map[string]string{}
	for _, l := range MustDecodeLines(t, r.stdout) {
		if l.Type == "detection" {
			if l.Where != "local" || l.Source != herd.SourceLocalDB || l.Test || l.Verdict != herd.VerdictMalicious {
				t.Errorf("detection %+v: want a local, non-test malicious verdict", l.Result)
			}
			found[l.Path] = l.Threat
		}
	}
	if want := map[string]string{a: "Herd.Custom.SHA256", b: "Herd.Custom.MD5"}; fmt.Sprint(found) != fmt.Sprint(want) {
		t.Errorf("found %v, want %v (an md5 signature of the wrong size must not match)", found, want)
	}

	r = run(t, nil, "scan", "--no-cloud", "--db", filepath.Join(dbs, "sha1.hsb"), c)
	if r.code != ExitFound || !strings.HasPrefix(r.stdout, c+": Herd.Custom.SHA1 FOUND") {
		t.Errorf("sha1 signature:\n%v", r)
	}
}

// testCloud is a real Herd cloud in the test process (package cloud):
// embedded JetStream, the index following it, the HTTP API on loopback.
type testCloud struct {
	URL   string
	DB    *jetstream.DB
	Index *reputation.Index
	Token string
	// Stop closes the HTTP API: the cloud becomes unreachable.
	Stop func()
}

// MustStartCloud starts a cloud and stops it when the test ends.
func MustStartCloud(tb testing.TB) *testCloud {
	tb.Helper()
	cl, srv := cloud.MustOpenTest(tb)
	return &testCloud{URL: srv.URL, DB: cl.DB, Index: cl.Index, Token: cloud.TestToken, Stop: srv.Close}
}

// MustPut stores a verdict and waits until the index serves it.
func (c *testCloud) MustPut(tb testing.TB, r herd.Record) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seq, err := c.DB.Verdicts().Put(ctx, r)
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.Index.WaitFor(ctx, seq); err != nil {
		tb.Fatalf("index did not apply change %d: %v", seq, err)
	}
	recs, err := c.Index.Lookup(ctx, []herd.Object{r.Object})
	if err != nil || recs[0].Verdict != r.Verdict {
		tb.Fatalf("index has %+v, %v after storing %+v", recs, err, r)
	}
}

func TestScanCloudEndToEnd(t *testing.T) {
	c := MustStartCloud(t)
	dir := MustWriteFiles(t, map[string]string{"a.txt": cleanA, "sub/b.txt": cleanB, "sub/c.txt": "c", "eicar.com": herd.EICAR})
	a, b := filepath.Join(dir, "a.txt"), filepath.Join(dir, "sub/b.txt")

	// Before any verdict, the cloud knows nothing bad.
	r := run(t, nil, "--cloud", c.URL, "scan", filepath.Join(dir, "sub"))
	if r.code != ExitClean || r.stderr != "" || !strings.Contains(r.stdout, "Cloud:         "+c.URL+": 2 files checked\n") {
		t.Fatalf("before any verdict:\n%v", r)
	}

	c.MustPut(t, herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(cleanA)}, Verdict: herd.VerdictMalicious, Threat: "Herd.Cloud.Bad", Source: herd.SourceOperator})
	c.MustPut(t, herd.Record{Object: herd.Object{Kind: herd.KindSHA1, Value: sha1Hex(cleanB)}, Verdict: herd.VerdictSuspicious, Threat: "Herd.Cloud.Maybe", Source: herd.SourceImport})

	r = run(t, nil, "--cloud", c.URL, "scan", dir)
	if r.code != ExitFound || r.stderr != "" {
		t.Fatalf("%v\nwant exit 1", r)
	}
	for _, want := range []string{
		a + ": Herd.Cloud.Bad FOUND (malicious, cloud, operator)\n",
		b + ": Herd.Cloud.Maybe FOUND (suspicious, cloud, import)\n",
		filepath.Join(dir, "eicar.com") + ": EICAR-Test-File FOUND (malicious, local database, test verdict)\n",
		"Detections:    3\n",
		"Cloud:         " + c.URL + ": 3 files checked\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q\n%v", want, r)
		}
	}

	// The same through $HERD_CLOUD, as JSON.
	r = run(t, map[string]string{"HERD_CLOUD": c.URL}, "scan", dir, "--json")
	lines := MustDecodeLines(t, r.stdout)
	if r.code != ExitFound || len(lines) != 4 {
		t.Fatalf("%v\nwant exit 1, 3 detections and the summary", r)
	}
	got := map[string]scan.Result{}
	for _, l := range lines[:3] {
		got[l.Path] = l.Result
	}
	if w := (scan.Result{Path: a, Verdict: herd.VerdictMalicious, Threat: "Herd.Cloud.Bad", Source: herd.SourceOperator, Where: "cloud", SHA256: sha256Hex(cleanA)}); got[a] != w {
		t.Errorf("detection %+v\nwant      %+v", got[a], w)
	}
	if w := (scan.Result{Path: b, Verdict: herd.VerdictSuspicious, Threat: "Herd.Cloud.Maybe", Source: herd.SourceImport, Where: "cloud", SHA256: sha256Hex(cleanB)}); got[b] != w {
		t.Errorf("detection %+v\nwant      %+v", got[b], w)
	}
	s := lines[3].Summary
	if lines[3].Type != "summary" || s.Files != 4 || s.Detections != 3 || s.LocalHits != 1 || s.CloudAsked != 3 || s.CloudFailed || s.Errors != 0 {
		t.Errorf("summary %+v: want 4 files, 3 detections (1 local), 3 asked of the cloud", s)
	}
}
