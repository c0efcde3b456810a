package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/interop"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/reputation"
)

// testCloud is a real Herd cloud in the test process (package cloud):
// embedded JetStream, the index following it, the HTTP API on loopback.
type testCloud struct {
	URL       string
	DB        *jetstream.DB
	Index     *reputation.Index
	Token     string
	TokenFile string // holds Token
}

// MustStartCloud starts a cloud and stops it when the test ends.
func MustStartCloud(tb testing.TB) *testCloud {
	tb.Helper()
	cl, srv := cloud.MustOpenTest(tb)
	c := &testCloud{URL: srv.URL, DB: cl.DB, Index: cl.Index, Token: cloud.TestToken}
	c.TokenFile = MustWriteFile(tb, "admin.token", c.Token+"\n")
	return c
}

// MustWriteFile writes content to a new file named name in a temp folder.
func MustWriteFile(tb testing.TB, name, content string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// result is what one run of the CLI did.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout:\n%s--- stderr:\n%s", r.code, r.stdout, r.stderr)
}

// runEnv runs herdctl with args and the environment env (nothing else).
func runEnv(tb testing.TB, env map[string]string, args ...string) result {
	tb.Helper()
	var out, errb bytes.Buffer
	m := &Main{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	code := m.Run(ctx, args)
	return result{code, out.String(), errb.String()}
}

// run runs herdctl against c with its token.
func (c *testCloud) run(tb testing.TB, args ...string) result {
	tb.Helper()
	return runEnv(tb, nil, append([]string{"--cloud", c.URL, "--token-file", c.TokenFile}, args...)...)
}

// MustGet runs verdict get and decodes its JSON answer.
func (c *testCloud) MustGet(tb testing.TB, obj string) httpapi.VerdictResponse {
	tb.Helper()
	r := c.run(tb, "verdict", "get", obj)
	if r.code != 0 || r.stderr != "" {
		tb.Fatalf("verdict get %s:\n%v", obj, r)
	}
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	dec.DisallowUnknownFields()
	var v httpapi.VerdictResponse
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("verdict get %s: %v\n%v", obj, err, r)
	}
	return v
}

// mustNotStored fails unless the store holds no verdict for obj.
func (c *testCloud) mustNotStored(tb testing.TB, obj herd.Object) {
	tb.Helper()
	rec, err := c.DB.Verdicts().Get(context.Background(), obj)
	if herd.ErrorCode(err) != herd.ENOTFOUND {
		tb.Errorf("%s: stored %+v, %v; want nothing stored", obj, rec, err)
	}
}

func sha256Obj(i int) herd.Object {
	return herd.Object{Kind: herd.KindSHA256, Value: fmt.Sprintf("%064x", 0xabc000+i)}
}

func TestVerdictSetGet(t *testing.T) {
	c := MustStartCloud(t)
	obj := sha256Obj(1)
	start := time.Now().Add(-time.Second)

	// Flags after the positionals, and a hash in upper case.
	r := c.run(t, "verdict", "set", "sha256:"+strings.ToUpper(obj.Value), "malicious", "--name", "X")
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("verdict set:\n%v", r)
	}
	if !strings.HasPrefix(r.stdout, obj.String()+": malicious X (seq ") {
		t.Errorf("verdict set printed %q", r.stdout)
	}
	// The API answered after the index applied the change: a lookup now sees it.
	if recs, _ := c.Index.Lookup(context.Background(), []herd.Object{obj}); recs[0].Verdict != herd.VerdictMalicious || recs[0].Threat != "X" {
		t.Errorf("index after verdict set: %+v", recs[0])
	}

	got := c.MustGet(t, obj.String())
	if !got.Stored || got.Record.Object != obj || got.Record.Verdict != herd.VerdictMalicious || got.Record.Threat != "X" || got.Record.Source != herd.SourceOperator || got.Record.Test {
		t.Errorf("verdict get = %+v; want stored malicious X from operator", got)
	}
	if got.Record.Updated.Before(start) || got.Record.Updated.After(time.Now().Add(time.Second)) {
		t.Errorf("updated %v, want about now", got.Record.Updated)
	}

	// Flags first; a clean verdict needs no name; a later verdict replaces the earlier.
	if r := c.run(t, "verdict", "set", "--name", "", obj.String(), "clean"); r.code != 0 {
		t.Fatalf("verdict set clean:\n%v", r)
	}
	if got := c.MustGet(t, obj.String()); !got.Stored || got.Record.Verdict != herd.VerdictClean || got.Record.Threat != "" {
		t.Errorf("after setting clean: %+v", got)
	}

	// Other kinds are normalized the same way by set and get.
	if r := c.run(t, "verdict", "set", "url:HTTP://Example.COM/login", "suspicious", "--name", "Phish.Maybe"); r.code != 0 {
		t.Fatalf("verdict set url:\n%v", r)
	}
	if got := c.MustGet(t, "url:http://example.com/login"); !got.Stored || got.Record.Verdict != herd.VerdictSuspicious || got.Record.Threat != "Phish.Maybe" {
		t.Errorf("url verdict: %+v", got)
	}
}

func TestVerdictGetNotStored(t *testing.T) {
	c := MustStartCloud(t)
	got := c.MustGet(t, "md5:"+strings.ToUpper(herd.EICARMD5))
	want := herd.Record{Object: herd.Object{Kind: herd.KindMD5, Value: herd.EICARMD5}, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Test: true}
	if got.Stored || got.Record != want {
		t.Errorf("EICAR: %+v; want the built-in verdict, not stored", got)
	}
	obj := sha256Obj(2)
	if got := c.MustGet(t, obj.String()); got.Stored || got.Record.Verdict != herd.VerdictUnknown || got.Record.Object != obj {
		t.Errorf("unknown object: %+v; want unknown, not stored", got)
	}
}

func TestVerdictSetErrors(t *testing.T) {
	c := MustStartCloud(t)
	obj := sha256Obj(3)
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string // on stderr
	}{
		{"63 hex digits", []string{"verdict", "set", "sha256:" + strings.Repeat("a", 63), "malicious", "--name", "X"}, 1, `sha256 "` + strings.Repeat("a", 63) + `": want 64 hex digits, got 63 characters`},
		{"not hex", []string{"verdict", "set", "md5:" + strings.Repeat("g", 32), "malicious", "--name", "X"}, 1, "not a hex digit at position 1"},
		{"unknown kind", []string{"verdict", "set", "file:abc", "malicious", "--name", "X"}, 1, `kind "file": unknown`},
		{"no kind", []string{"verdict", "get", strings.Repeat("a", 64)}, 1, "want KIND:VALUE"},
		{"name with control character", []string{"verdict", "set", obj.String(), "malicious", "--name", "bad\x07name"}, 1, "threat name: contains control characters"},
		{"missing --name", []string{"verdict", "set", obj.String(), "malicious"}, 2, "--name is required"},
		{"missing --name, suspicious", []string{"verdict", "set", obj.String(), "suspicious"}, 2, "--name is required"},
		{"unknown verdict", []string{"verdict", "set", obj.String(), "evil", "--name", "X"}, 2, `verdict "evil": want malicious, suspicious or clean`},
		{"unknown verdict word", []string{"verdict", "set", obj.String(), "unknown", "--name", "X"}, 2, `verdict "unknown"`},
		{"no verdict", []string{"verdict", "set", obj.String(), "--name", "X"}, 2, "verdict set: want KIND:VALUE"},
		{"too many words", []string{"verdict", "set", obj.String(), "malicious", "extra", "--name", "X"}, 2, "verdict set: want KIND:VALUE"},
		{"unknown flag", []string{"verdict", "set", obj.String(), "malicious", "--nmae", "X"}, 2, "flag provided but not defined: -nmae"},
		{"get without object", []string{"verdict", "get"}, 2, "verdict get: want KIND:VALUE"},
		{"import without files", []string{"verdict", "import"}, 2, "verdict import: want FILE..."},
		{"unknown command", []string{"verdict", "delete", obj.String()}, 2, `unknown command "verdict delete `},
		{"half a command", []string{"verdict"}, 2, `unknown command "verdict"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("%v\nwant exit %d, stderr containing %q", r, tt.code, tt.want)
			}
		})
	}
	c.mustNotStored(t, obj)
	if n := c.Index.Len(); n != 0 {
		t.Errorf("the index holds %d stored verdicts after only failed commands", n)
	}

	if r := runEnv(t, nil); r.code != 2 || !strings.Contains(r.stderr, "Usage: herdctl") {
		t.Errorf("no arguments:\n%v\nwant exit 2 and the usage", r)
	}
}

func TestAuth(t *testing.T) {
	c := MustStartCloud(t)
	obj := sha256Obj(4)
	set := []string{"verdict", "set", obj.String(), "malicious", "--name", "X"}

	wrong := MustWriteFile(t, "wrong.token", strings.Repeat("b", 40))
	r := runEnv(t, nil, append([]string{"--cloud", c.URL, "--token-file", wrong}, set...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "herdctl: admin API: missing or wrong bearer token") {
		t.Errorf("wrong token:\n%v\nwant exit 1 and an unauthorized message", r)
	}
	missing := filepath.Join(t.TempDir(), "none.token")
	r = runEnv(t, nil, append([]string{"--cloud", c.URL, "--token-file", missing}, set...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "herdctl: admin token: ") || !strings.Contains(r.stderr, "(use --token-file)") {
		t.Errorf("missing token file:\n%v\nwant exit 1 naming the token file", r)
	}
	c.mustNotStored(t, obj)

	// The environment supplies cloud and token file when no flag does.
	r = runEnv(t, map[string]string{"HERD_CLOUD": c.URL, "HERD_TOKEN_FILE": c.TokenFile}, set...)
	if r.code != 0 {
		t.Fatalf("cloud and token from the environment:\n%v", r)
	}
	// Flags win over the environment.
	r = runEnv(t, map[string]string{"HERD_CLOUD": "http://127.0.0.1:1", "HERD_TOKEN_FILE": missing}, append([]string{"--cloud", c.URL, "--token-file", c.TokenFile}, "verdict", "get", obj.String())...)
	if r.code != 0 || !strings.Contains(r.stdout, `"stored": true`) {
		t.Errorf("flags over the environment:\n%v", r)
	}
}

func TestUnreachableCloud(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	tok := MustWriteFile(t, "admin.token", "x")
	r := runEnv(t, nil, "--cloud", dead, "--token-file", tok, "telemetry", "stats")
	if r.code != 1 || !strings.Contains(r.stderr, "herdctl: cloud "+dead+" unreachable") {
		t.Errorf("%v\nwant exit 1 and the cloud unreachable", r)
	}
	r = runEnv(t, nil, "--cloud", "ftp://example.com", "--token-file", tok, "telemetry", "stats")
	if r.code != 1 || !strings.Contains(r.stderr, `cloud URL "ftp://example.com"`) {
		t.Errorf("%v\nwant exit 1 and the bad URL named", r)
	}
}

func TestImport(t *testing.T) {
	c := MustStartCloud(t)
	s1, s2, s3, s4 := sha256Obj(10), herd.Object{Kind: herd.KindMD5, Value: strings.Repeat("1f", 16)}, herd.Object{Kind: herd.KindSHA1, Value: strings.Repeat("2e", 20)}, sha256Obj(11)
	hsb := MustWriteFile(t, "main.hsb", "# three signatures\n"+
		strings.ToUpper(s1.Value)+":*:Win.Test.One\n"+
		"\n"+
		s2.Value+":1234:Win.Test.Two\r\n"+
		s3.Value+":99:Win.Test.Three:51:255\n")
	hdb := MustWriteFile(t, "extra.hdb", s4.Value+":*:Win.Test.Four") // no final newline

	r := c.run(t, "verdict", "import", hsb)
	if r.code != 0 || r.stdout != "imported 3 verdicts\n" || r.stderr != "" {
		t.Fatalf("import:\n%v\nwant 3 imported", r)
	}
	for obj, name := range map[herd.Object]string{s1: "Win.Test.One", s2: "Win.Test.Two", s3: "Win.Test.Three"} {
		got := c.MustGet(t, obj.String())
		want := herd.Record{Object: obj, Verdict: herd.VerdictMalicious, Threat: name, Source: herd.SourceImport}
		got.Record.Updated = time.Time{}
		if !got.Stored || got.Record != want {
			t.Errorf("%s: %+v; want stored %+v", obj, got, want)
		}
	}

	// Several files in one go; importing again counts again.
	r = c.run(t, "verdict", "import", hsb, hdb)
	if r.code != 0 || r.stdout != "imported 4 verdicts\n" {
		t.Fatalf("import of two files:\n%v\nwant 4 imported", r)
	}
	if got := c.MustGet(t, s4.String()); !got.Stored || got.Record.Threat != "Win.Test.Four" {
		t.Errorf("%s: %+v", s4, got)
	}
}

func TestImportMalformedImportsNothing(t *testing.T) {
	c := MustStartCloud(t)
	first, second := sha256Obj(20), sha256Obj(21)
	good := MustWriteFile(t, "good.hsb", second.Value+":*:Good.One\n")
	for _, tt := range []struct {
		name    string
		content string
		want    string
	}{
		{"bad size", first.Value + ":*:Line.One\n" + second.Value + ":12x:Line.Two\n" + sha256Obj(22).Value + ":*:Line.Three\n", `bad.hsb:2: size "12x": not a number`},
		{"truncated", first.Value + ":*:Line.One\n" + second.Value + "\n", "bad.hsb:2: truncated line"},
		{"short hash", first.Value + ":*:Line.One\n" + second.Value[:63] + ":*:Line.Two\n", "bad.hsb:2: hash"},
		{"control character", first.Value + ":*:Line.One\n" + second.Value + ":*:Bad\x01Name\n", "bad.hsb:2: name: contains control characters"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := MustWriteFile(t, "bad.hsb", tt.content)
			// A bad file after a good one: nothing of either is sent.
			r := c.run(t, "verdict", "import", good, bad)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("%v\nwant exit 1 and %q", r, tt.want)
			}
			c.mustNotStored(t, first)
			c.mustNotStored(t, second)
			if got := c.MustGet(t, first.String()); got.Stored || got.Record.Verdict != herd.VerdictUnknown {
				t.Errorf("line 1 of a bad file was imported: %+v", got)
			}
		})
	}
	missing := filepath.Join(t.TempDir(), "missing.hsb")
	if r := c.run(t, "verdict", "import", good, missing); r.code != 1 {
		t.Errorf("import of a missing file:\n%v\nwant exit 1", r)
	}
	c.mustNotStored(t, second)
	if n := c.Index.Len(); n != 0 {
		t.Errorf("index holds %d verdicts after failed imports, want 0", n)
	}
}

func TestTelemetryStats(t *testing.T) {
	c := MustStartCloud(t)
	stats := func() herd.TelemetryStats {
		t.Helper()
		r := c.run(t, "telemetry", "stats")
		if r.code != 0 || r.stderr != "" {
			t.Fatalf("telemetry stats:\n%v", r)
		}
		dec := json.NewDecoder(strings.NewReader(r.stdout))
		dec.DisallowUnknownFields()
		var st herd.TelemetryStats
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("%v\n%v", err, r)
		}
		return st
	}
	if st := stats(); st.Events != 0 || st.Bytes != 0 {
		t.Errorf("empty store: %+v, want 0 events", st)
	}
	hour := time.Now().UTC().Truncate(time.Hour)
	events := []herd.StoredEvent{
		{Type: "threat.detected", Category: herd.CategoryThreats, Hour: hour, Country: "ZZ", Device: "d1", DedupID: "1", Payload: json.RawMessage(`{"sha256":"` + herd.EICARSHA256 + `"}`)},
		{Type: "feature.used", Category: herd.CategoryOperation, Hour: hour, Country: "ZZ", Device: "d1", DedupID: "2", Payload: json.RawMessage(`{"feature":"scan"}`)},
	}
	if res, err := c.DB.Telemetry().Append(context.Background(), events); err != nil || res.Stored != 2 {
		t.Fatalf("append: %+v, %v", res, err)
	}
	if st := stats(); st.Events != 2 || st.Bytes == 0 || st.LastSeq != 2 {
		t.Errorf("after 2 events: %+v", st)
	}
}

// verdict explain shows the rules' decisions with their reasons, after
// agents on three licences reported a detection.
func TestVerdictExplain(t *testing.T) {
	c := MustStartCloud(t)
	ctx := context.Background()
	hash := strings.Repeat("ab", 32)
	for i := range 3 {
		api, _ := httpapi.NewClient(c.URL)
		device := fmt.Sprintf("explain-device-%d", i)
		rec, _ := consent.FromProfile(consent.ProfileFull, time.Now())
		if _, err := api.SetConsent(ctx, device, rec); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		_, err := api.SendTelemetry(ctx, device, []herd.Event{
			{ID: "lic", Type: "license.info", Category: herd.CategoryLicense, Time: now, Payload: json.RawMessage(fmt.Sprintf(`{"product_version":"1.0","license_id":"%032x"}`, i+1))},
			{ID: "det", Type: "threat.detected", Category: herd.CategoryThreats, Time: now, Payload: json.RawMessage(`{"sha256":"` + hash + `","threat_name":"Worm.Explain","method":"behaviour"}`)},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	obj := "sha256:" + hash
	deadline := time.Now().Add(30 * time.Second)
	// The engine stores a verdict before it records the decision in the
	// history: wait for both.
	for c.MustGet(t, obj).Record.Verdict != herd.VerdictMalicious ||
		!strings.Contains(c.run(t, "verdict", "explain", obj).stdout, "malicious by rules, applied") {
		if time.Now().After(deadline) {
			t.Fatal("no malicious verdict from the rules")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := c.run(t, "verdict", "explain", obj)
	for _, want := range []string{
		`verdict: malicious "Worm.Explain" (source rules`,
		"evidence: 3 devices (0 of unknown licence)",
		"detected by behaviour on 3 licences",
		"suspicious by rules, applied",
		"malicious by rules, applied",
		"detected on 3 independent sources (behaviour: 3); the rule asks for 3",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("explain output lacks %q:\n%v", want, r)
		}
	}
	if r := c.run(t, "verdict", "explain", "sha256:"+strings.Repeat("cd", 32)); r.code != 0 || !strings.Contains(r.stdout, "evidence: none reported") || !strings.Contains(r.stdout, "history: no decisions recorded") {
		t.Fatalf("explain of an unknown object:\n%v", r)
	}
}

// exchangeVerdicts are verdicts of every kind, with values and names that
// need escaping in STIX patterns and CSV.
var exchangeVerdicts = []httpapi.VerdictInput{
	{Kind: herd.KindSHA256, Value: strings.Repeat("ab", 32), Verdict: herd.VerdictMalicious, Threat: "Win.Trojan.Agent-1"},
	{Kind: herd.KindSHA1, Value: strings.Repeat("cd", 20), Verdict: herd.VerdictSuspicious, Threat: "PUA.Toolbar", Source: herd.SourceImport},
	{Kind: herd.KindMD5, Value: strings.Repeat("ef", 16), Verdict: herd.VerdictClean},
	{Kind: herd.KindURL, Value: `http://evil.test/it's?q=a\b&c="d",e`, Verdict: herd.VerdictMalicious, Threat: `Phish "Bank", fake login`},
	{Kind: herd.KindDomain, Value: "evil.test", Verdict: herd.VerdictMalicious, Threat: "evil.test"},
	{Kind: herd.KindDomain, Value: "xn--bcher-kva.example", Verdict: herd.VerdictSuspicious, Threat: "=HYPERLINK(\"http://x.test\")"},
	{Kind: herd.KindIP, Value: "192.0.2.1", Verdict: herd.VerdictSuspicious, Threat: "Scanner ✓"},
	{Kind: herd.KindIP, Value: "2001:db8::1", Verdict: herd.VerdictClean, Threat: "'Résolveur'"},
}

// MustSetVerdicts stores vs in c through the admin API.
func (c *testCloud) MustSetVerdicts(tb testing.TB, vs []httpapi.VerdictInput) {
	tb.Helper()
	api, err := httpapi.NewClient(c.URL)
	if err != nil {
		tb.Fatal(err)
	}
	api.Token = c.Token
	if res, err := api.SetVerdicts(context.Background(), vs); err != nil || res.Stored != len(vs) {
		tb.Fatalf("set verdicts: %+v, %v", res, err)
	}
}

// mustStored returns the stored record of each object, in order.
func (c *testCloud) mustStored(tb testing.TB, objs []herd.Object) []herd.Record {
	tb.Helper()
	recs := make([]herd.Record, len(objs))
	for i, obj := range objs {
		rec, err := c.DB.Verdicts().Get(context.Background(), obj)
		if err != nil {
			tb.Fatalf("%s: %v", obj, err)
		}
		recs[i] = rec
	}
	return recs
}

// decodeExport decodes an export in either format.
func decodeExport(tb testing.TB, format, data string) []herd.Record {
	tb.Helper()
	if format == "csv" {
		recs, err := interop.DecodeCSV(strings.NewReader(data), "export.csv")
		if err != nil {
			tb.Fatalf("%v\n%s", err, data)
		}
		return recs
	}
	res, err := interop.DecodeSTIX(strings.NewReader(data), "export.json", time.Time{})
	if err != nil || len(res.Skipped) != 0 {
		tb.Fatalf("%v, skipped %v\n%s", err, res.Skipped, data)
	}
	return res.Records
}

// One cloud's export, imported into another, gives the same verdicts;
// the second cloud's export holds them too, in the same order.
func TestExportImportRoundTrip(t *testing.T) {
	for _, format := range []string{"stix", "csv"} {
		t.Run(format, func(t *testing.T) {
			a, b := MustStartCloud(t), MustStartCloud(t)
			a.MustSetVerdicts(t, exchangeVerdicts)
			objs := make([]herd.Object, len(exchangeVerdicts))
			for i, v := range exchangeVerdicts {
				objs[i] = herd.Object{Kind: v.Kind, Value: v.Value}
			}
			stored := a.mustStored(t, objs)
			interop.SortByObject(stored)

			ext := map[string]string{"stix": ".json", "csv": ".csv"}[format]
			file := filepath.Join(t.TempDir(), "verdicts"+ext)
			r := a.run(t, "verdict", "export", "--out", file) // the format from the extension
			if r.code != 0 || r.stdout != fmt.Sprintf("exported %d verdicts to %s\n", len(objs), file) || r.stderr != "" {
				t.Fatalf("export:\n%v", r)
			}
			exported, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got := decodeExport(t, format, string(exported))
			want := stored
			if format == "stix" { // STIX times are to the millisecond
				want = make([]herd.Record, len(stored))
				for i, rec := range stored {
					rec.Updated = rec.Updated.Truncate(time.Millisecond)
					want[i] = rec
				}
			}
			if !recordsEqual(got, want) {
				t.Fatalf("export of the first cloud:\n%+v\nwant its stored records\n%+v", got, want)
			}
			if strings.Contains(string(exported), herd.EICARSHA256) {
				t.Error("the export holds the built-in EICAR test verdict")
			}

			r = b.run(t, "verdict", "import", file)
			if r.code != 0 || r.stdout != fmt.Sprintf("imported %d verdicts\n", len(objs)) || r.stderr != "" {
				t.Fatalf("import into the second cloud:\n%v", r)
			}
			r = b.run(t, "verdict", "export", "--format", format)
			if r.code != 0 || r.stderr != "" {
				t.Fatalf("export of the second cloud:\n%v", r)
			}
			again := decodeExport(t, format, r.stdout)
			if len(again) != len(got) {
				t.Fatalf("second cloud exported %d verdicts, want %d", len(again), len(got))
			}
			for i, rec := range again {
				want := got[i]
				if rec.Object != want.Object || rec.Verdict != want.Verdict || rec.Threat != want.Threat || rec.Source != herd.SourceImport {
					t.Errorf("second cloud: %+v\nwant %+v from import", rec, want)
				}
			}
			if format == "stix" {
				// Both exports name each object's indicator alike: tools
				// that read both update their indicators.
				for _, obj := range objs {
					id := interop.IndicatorID(obj)
					if !strings.Contains(string(exported), id) || !strings.Contains(r.stdout, id) {
						t.Errorf("%s: indicator %s not in both exports", obj, id)
					}
				}
			}
		})
	}
}

func TestExportEmptyAndErrors(t *testing.T) {
	c := MustStartCloud(t)
	if r := c.run(t, "verdict", "export", "--format", "csv"); r.code != 0 || r.stdout != "kind,value,verdict,threat,source,updated\n" {
		t.Errorf("CSV export of an empty cloud:\n%v", r)
	}
	r := c.run(t, "verdict", "export", "--format", "stix")
	var bundle map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &bundle); r.code != 0 || err != nil || bundle["type"] != "bundle" || bundle["objects"] != nil {
		t.Errorf("STIX export of an empty cloud (%v):\n%v", err, r)
	}

	existing := MustWriteFile(t, "old.csv", "kept\n")
	for _, tt := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no format", []string{"verdict", "export"}, 2, "verdict export: want --format stix or csv"},
		{"no format from the file name", []string{"verdict", "export", "--out", filepath.Join(t.TempDir(), "v.txt")}, 2, "verdict export: want --format stix or csv"},
		{"unknown format", []string{"verdict", "export", "--format", "xml"}, 2, `verdict export: format "xml": want stix or csv`},
		{"an argument", []string{"verdict", "export", "--format", "csv", "all"}, 2, "verdict export: want --format stix|csv [--out FILE]"},
		{"folder missing", []string{"verdict", "export", "--out", filepath.Join(t.TempDir(), "none", "v.csv")}, 1, "herdctl: open "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.run(t, tt.args...)
			if r.code != tt.code || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
				t.Errorf("%v\nwant exit %d, stderr containing %q", r, tt.code, tt.want)
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "kept\n" {
		t.Errorf("a failed export changed another file: %q", b)
	}
}

// A STIX import says what it left out and why.
func TestImportSTIXSkipped(t *testing.T) {
	c := MustStartCloud(t)
	obj := herd.Object{Kind: herd.KindDomain, Value: "c2.example"}
	bundle := MustWriteFile(t, "feed.json", `{"type": "bundle", "id": "bundle--5e1d6a3c-0000-4000-8000-000000000000", "objects": [
		{"type": "identity", "spec_version": "2.1", "id": "identity--5e1d6a3c-0000-4000-8000-000000000001", "name": "CERT Example", "identity_class": "organization"},
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--5e1d6a3c-0000-4000-8000-000000000002", "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
		 "name": "Loader C2", "pattern": "[domain-name:value = 'C2.Example']", "pattern_type": "stix", "valid_from": "2024-05-01T00:00:00Z", "indicator_types": ["malicious-activity"]},
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--5e1d6a3c-0000-4000-8000-000000000003", "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
		 "name": "Old C2", "pattern": "[domain-name:value = 'old.example']", "pattern_type": "stix", "valid_from": "2020-05-01T00:00:00Z", "valid_until": "2021-05-01T00:00:00Z", "indicator_types": ["malicious-activity"]},
		{"type": "indicator", "spec_version": "2.1", "id": "indicator--5e1d6a3c-0000-4000-8000-000000000004", "created": "2024-05-01T00:00:00.000Z", "modified": "2024-05-01T00:00:00.000Z",
		 "pattern": "[email-addr:value = 'x@example.test']", "pattern_type": "stix", "valid_from": "2024-05-01T00:00:00Z", "labels": ["misp:to_ids=\"True\""]}
	]}`)
	r := c.run(t, "verdict", "import", bundle)
	want := "feed.json: skipped 1: expired (valid_until has passed)\n" +
		"feed.json: skipped 1: identity (not an indicator)\n" +
		"feed.json: skipped 1: no verdict in indicator_types or labels\n" +
		"imported 1 verdicts\n"
	if r.code != 0 || r.stdout != want || r.stderr != "" {
		t.Fatalf("%v\nwant stdout:\n%s", r, want)
	}
	got := c.MustGet(t, obj.String())
	if !got.Stored || got.Record.Verdict != herd.VerdictMalicious || got.Record.Threat != "Loader C2" || got.Record.Source != herd.SourceImport {
		t.Errorf("%s: %+v", obj, got)
	}
	c.mustNotStored(t, herd.Object{Kind: herd.KindDomain, Value: "old.example"})
}

// A bad item in any file, STIX or CSV, imports nothing of any file, and
// the error names the file and the object or line.
func TestImportSTIXCSVErrorsImportNothing(t *testing.T) {
	c := MustStartCloud(t)
	good := herd.Object{Kind: herd.KindDomain, Value: "good.example"}
	goodCSV := MustWriteFile(t, "good.csv", "kind,value,verdict,threat\ndomain,good.example,malicious,Good\n")
	goodJSON := MustWriteFile(t, "good.json", `{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--6f2e7b4d-0000-4000-8000-000000000000",
		"modified": "2024-05-01T00:00:00Z", "pattern": "[domain-name:value = 'good.example']", "indicator_types": ["benign"]}]}`)
	for _, tt := range []struct {
		name, file, content string
		want                []string // on stderr
	}{
		{"STIX AND pattern", "bad.json", `{"type": "bundle", "objects": [
			{"type": "indicator", "id": "indicator--6f2e7b4d-0000-4000-8000-000000000001", "modified": "2024-05-01T00:00:00Z",
			 "pattern": "[domain-name:value = 'also-good.example']", "indicator_types": ["malicious-activity"]},
			{"type": "indicator", "id": "indicator--6f2e7b4d-0000-4000-8000-000000000002", "modified": "2024-05-01T00:00:00Z",
			 "pattern": "[ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']", "indicator_types": ["malicious-activity"]}]}`,
			[]string{"herdctl: nothing imported: bad.json: 1 of 2 objects invalid\n", `item 1: field "pattern": indicator--6f2e7b4d-0000-4000-8000-000000000002: "[ipv4-addr:value = '192.0.2.1' AND ipv4-addr:value = '192.0.2.2']": AND at position 32`}},
		{"STIX unsupported observable", "bad.json", `{"type": "bundle", "objects": [{"type": "indicator", "id": "indicator--6f2e7b4d-0000-4000-8000-000000000003",
			"pattern": "[email-addr:value = 'ceo@phish.example']", "indicator_types": ["malicious-activity"]}]}`,
			[]string{`item 0: field "pattern": indicator--6f2e7b4d-0000-4000-8000-000000000003: "[email-addr:value = 'ceo@phish.example']": email-addr:value: not supported`}},
		{"STIX not JSON", "bad.json", "{\"type\": \"bundle\",\n\"objects\": [,]}", []string{"herdctl: nothing imported: bad.json:2: not valid JSON: invalid character ','"}},
		{"STIX not a bundle", "bad.json", `{"type": "indicator"}`, []string{`bad.json: not a STIX bundle: field "type": "indicator": want "bundle"`}},
		{"CSV bad verdict", "bad.csv", "kind,value,verdict,threat\ndomain,also-good.example,malicious,X\ndomain,b.example,evil,X\n", []string{`herdctl: nothing imported: bad.csv:3: verdict "evil": want malicious, suspicious or clean`}},
		{"CSV bad hash", "bad.csv", "kind,value,verdict\nsha256,abc,malicious\n", []string{`bad.csv:2: sha256 "abc": want 64 hex digits, got 3 characters`}},
		{"CSV wrong header", "bad.csv", "hash,verdict\n", []string{`bad.csv:1: header: unknown column "hash"`}},
		{"unknown file type", "bad.txt", "domain,b.example,malicious\n", []string{`bad.txt: unknown file type ".txt": want .hdb or .hsb (ClamAV hash signatures), .json (STIX 2.1 bundle) or .csv`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := MustWriteFile(t, tt.file, tt.content)
			// A bad file after good ones: nothing of any is sent.
			r := c.run(t, "verdict", "import", goodCSV, goodJSON, bad)
			for _, want := range tt.want {
				if r.code != 1 || !strings.Contains(r.stderr, want) || r.stdout != "" {
					t.Errorf("%v\nwant exit 1 and stderr containing %q", r, want)
				}
			}
			c.mustNotStored(t, good)
			c.mustNotStored(t, herd.Object{Kind: herd.KindDomain, Value: "also-good.example"})
		})
	}
	if n := c.Index.Len(); n != 0 {
		t.Errorf("index holds %d verdicts after failed imports, want 0", n)
	}
	// The good files alone import.
	if r := c.run(t, "verdict", "import", goodCSV, goodJSON); r.code != 0 || r.stdout != "imported 2 verdicts\n" {
		t.Fatalf("good files:\n%v", r)
	}
	if got := c.MustGet(t, good.String()); got.Record.Verdict != herd.VerdictClean || got.Record.Source != herd.SourceImport {
		t.Errorf("the later file's verdict should win: %+v", got)
	}
}

// recordsEqual compares records with their times by Equal.
func recordsEqual(a, b []herd.Record) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.Updated.Equal(y.Updated) {
			return false
		}
		x.Updated, y.Updated = time.Time{}, time.Time{}
		if x != y {
			return false
		}
	}
	return true
}
