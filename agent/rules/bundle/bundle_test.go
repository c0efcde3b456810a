package bundle

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/identity/pki"
)

const wgetRule = `title: Wget to a paste site
id: 1f0e0d0c-0b0a-4908-8706-050403020101
logsource:
  category: process_creation
detection:
  sel:
    Image|endswith: /wget
    CommandLine|contains: pastebin
  condition: sel
level: high
`

// MustCA creates a CA in a temporary folder and returns it with its folder.
func MustCA(tb testing.TB) (*pki.Authority, string) {
	tb.Helper()
	dir := tb.TempDir()
	ca, _, err := pki.LoadOrCreate(dir, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return ca, dir
}

// MustRuleSigner returns the rule signer of a new CA.
func MustRuleSigner(tb testing.TB) (*pki.Authority, *pki.RuleSigner) {
	tb.Helper()
	ca, dir := MustCA(tb)
	s, err := ca.RuleSigner(dir, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return ca, s
}

// MustState returns a state folder holding ca as the pinned CA.
func MustState(tb testing.TB, ca *pki.Authority) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "tls"), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, CAPath), ca.CertPEM, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func mustSign(tb testing.TB, s Signer, gen uint64, files ...File) []byte {
	tb.Helper()
	b, err := Sign(Payload{Generation: gen, Created: time.Now(), Rules: files}, s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// tlsKeySigner signs with the key of a TLS certificate (ECDSA): a signer
// whose signatures are sound but whose certificate is not for rules.
type tlsKeySigner struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func (s tlsKeySigner) Chain() []*x509.Certificate { return []*x509.Certificate{s.cert} }
func (s tlsKeySigner) Sign(msg []byte) ([]byte, error) {
	sum := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, s.key, sum[:])
}

func TestSignOpen(t *testing.T) {
	ca, s := MustRuleSigner(t)
	b := mustSign(t, s, 7, File{Name: "curl.yml", YAML: ExampleRule}, File{Name: "wget.yaml", YAML: wgetRule})
	bd, rs, err := Open(b, ca.Cert, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if bd.Generation != 7 || len(rs) != 2 || rs[0].ID != "0f0e0d0c-0b0a-4908-8706-050403020100" || rs[0].File != "curl.yml" || rs[1].Level != "high" {
		t.Fatalf("opened generation %d, rules %+v", bd.Generation, rs)
	}
	sum := sha256.Sum256(b)
	sm := Summarize(bd, rs)
	if sm.SHA256 != bd.SHA256() || bd.SHA256() != hex.EncodeToString(sum[:]) || sm.Signer != pki.Serial(s.Cert) || len(sm.Rules) != 2 || sm.Rules[1].Title != "Wget to a paste site" {
		t.Fatalf("summary %+v", sm)
	}
	// The signing certificate cannot serve TLS: verified for a TLS purpose, it fails.
	roots := ca.Pool()
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := s.Cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{u}}); err == nil {
			t.Errorf("the rule signer's certificate verifies for TLS purpose %v", u)
		}
	}
	// Loaded again from its folder, the same signer.
	if s.Cert.Subject.CommonName != pki.RuleSignerName {
		t.Errorf("signer common name %q", s.Cert.Subject.CommonName)
	}
}

func TestRuleSignerKept(t *testing.T) {
	ca, dir := MustCA(t)
	now := time.Now()
	s1, err := ca.RuleSigner(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ca.RuleSigner(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	if !s1.Cert.Equal(s2.Cert) {
		t.Fatal("a second start issued a new rule signer")
	}
	// Near its end, it is issued again.
	s3, err := ca.RuleSigner(dir, s1.Cert.NotAfter.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if s3.Cert.Equal(s1.Cert) {
		t.Fatal("a rule signer near its end was kept")
	}
	if st, err := os.Stat(filepath.Join(dir, pki.RuleSignerKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("signer key file: %v %v", st, err)
	}
}

func TestRefused(t *testing.T) {
	ca, s := MustRuleSigner(t)
	good := mustSign(t, s, 1, File{Name: "curl.yml", YAML: ExampleRule})
	var env Envelope
	if err := json.Unmarshal(good, &env); err != nil {
		t.Fatal(err)
	}
	reenc := func(e Envelope) []byte {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	// Unsigned.
	unsigned := env
	unsigned.Signature = nil
	// Tampered: one byte of a rule changed (medium -> meduum).
	tampered := env
	i := bytes.Index(env.Payload, []byte("medium"))
	if i < 0 {
		t.Fatal("rule text not in the payload")
	}
	tampered.Payload = bytes.Clone(env.Payload)
	tampered.Payload[i+3] = 'u'
	// Another CA's rule signer.
	_, other := MustRuleSigner(t)
	// The TLS server certificate of the same CA, and a device certificate.
	dir := t.TempDir()
	srv, err := ca.ServerCertificate(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	devKey, csrPEM, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := pki.ParseCertificateRequestPEM(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	devCert, err := ca.SignDevice(csr, "device-1", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	// signRaw signs payload bytes as the cloud would, whatever they hold.
	signRaw := func(payload string) []byte {
		sig, err := s.Sign(signedMessage([]byte(payload)))
		if err != nil {
			t.Fatal(err)
		}
		return reenc(Envelope{Payload: []byte(payload), Certificates: [][]byte{s.Cert.Raw}, Signature: sig})
	}

	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"unsigned", reenc(unsigned), "unsigned (no signature)"},
		{"no certificate", reenc(Envelope{Payload: env.Payload, Signature: env.Signature}), "no signer certificate"},
		{"tampered", reenc(tampered), "bad signature"},
		{"another CA", mustSign(t, other, 1, File{Name: "curl.yml", YAML: ExampleRule}), "does not chain to this agent's cloud CA"},
		{"TLS server certificate", mustSign(t, tlsKeySigner{srv.Leaf, srv.PrivateKey.(*ecdsa.PrivateKey)}, 1, File{Name: "curl.yml", YAML: ExampleRule}), "wrong signer: certificate \"herdd\" is for other purposes"},
		{"device certificate", mustSign(t, tlsKeySigner{devCert, devKey}, 1, File{Name: "curl.yml", YAML: ExampleRule}), "wrong signer"},
		{"format 2", signRaw(`{"format":2,"generation":1,"created":"2026-01-01T00:00:00Z","rules":[{"name":"a.yml","yaml":"x"}]}`), "format 2, this agent reads format 1"},
		{"generation 0", signRaw(`{"format":1,"generation":0,"created":"2026-01-01T00:00:00Z","rules":[{"name":"a.yml","yaml":"x"}]}`), "generation 0"},
		{"no rules", signRaw(`{"format":1,"generation":1,"created":"2026-01-01T00:00:00Z","rules":[]}`), "no rules"},
		{"a folder in a name", signRaw(`{"format":1,"generation":1,"created":"2026-01-01T00:00:00Z","rules":[{"name":"x/a.yml","yaml":"x"}]}`), `rule 0: name "x/a.yml": a plain file name is needed`},
		{"signed, not a rule", signRaw(`{"format":1,"generation":1,"created":"2026-01-01T00:00:00Z","rules":[{"name":"a.yml","yaml":"title: A"}]}`), "a.yml: no id"},
		{"too large", bytes.Repeat([]byte(" "), MaxSize+1), "the limit is"},
		{"not JSON", []byte("rules!"), "rule bundle: invalid character"},
		{"unknown field", []byte(`{"payload":"","x":1}`), `unknown field "x"`},
		{"trailing data", append(bytes.Clone(good), []byte(" {}")...), "data after the JSON value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Open(tc.b, ca.Cert, time.Now())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one saying %q", err, tc.want)
			}
			st := MustState(t, ca)
			if _, err := Install(st, tc.b, time.Now()); err == nil {
				t.Fatal("installed")
			}
			if _, err := os.Stat(filepath.Join(st, BundlePath)); err == nil {
				t.Fatal("a refused bundle was written")
			}
		})
	}
	// A signer certificate that has ended is refused at download.
	if _, _, err := Open(good, ca.Cert, s.Cert.NotAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("after the signer's end: %v", err)
	}
}

func TestSignRefusesBadRules(t *testing.T) {
	_, s := MustRuleSigner(t)
	_, err := Sign(Payload{Generation: 1, Created: time.Now(), Rules: []File{
		{Name: "curl.yml", YAML: ExampleRule},
		{Name: "broken.yml", YAML: "title: [\n"},
		{Name: "../x.yml", YAML: ExampleRule},
		{Name: "again.yml", YAML: ExampleRule},
		{Name: "notes.txt", YAML: wgetRule},
	}}, s)
	var e *herd.Error
	if !asError(err, &e) || e.Code != herd.EINVALID || len(e.Problems) != 4 {
		t.Fatalf("err = %#v", err)
	}
	for i, want := range []string{"broken.yml: not a Sigma rule", `"../x.yml": a plain file name`, "again.yml: rule id 0f0e0d0c-0b0a-4908-8706-050403020100 is also the id of curl.yml", `"notes.txt": not a .yml or .yaml file`} {
		if !strings.Contains(e.Problems[i].Message, want) {
			t.Errorf("problem %d: %q, want %q", i, e.Problems[i].Message, want)
		}
	}
	if !strings.Contains(err.Error(), "4 of 5 files are not valid rules; the set is refused whole") {
		t.Errorf("message %q", err)
	}
}

func asError(err error, e **herd.Error) bool {
	x, ok := err.(*herd.Error)
	*e = x
	return ok
}

type fixedSource []byte

func (f fixedSource) Rules(context.Context) ([]byte, error) { return f, nil }

func TestInstallRollbackAndLoad(t *testing.T) {
	ca, s := MustRuleSigner(t)
	st := MustState(t, ca)
	ctx := context.Background()

	// Before any bundle: the shipped rules only.
	shipped, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	set, err := LoadInstalled(st)
	if err != nil || len(set.Rules) != len(shipped.Rules) {
		t.Fatalf("no bundle: %v, %d rules", err, len(set.Rules))
	}

	g2 := mustSign(t, s, 2, File{Name: "curl.yml", YAML: ExampleRule})
	res, err := Update(ctx, st, fixedSource(g2), time.Now())
	if err != nil || !res.Installed || res.Previous != 0 || res.Bundle.Generation != 2 {
		t.Fatalf("install generation 2: %+v %v", res, err)
	}
	set, err = LoadInstalled(st)
	if err != nil || len(set.Rules) != len(shipped.Rules)+1 {
		t.Fatalf("with the bundle: %v, %d rules", err, len(set.Rules))
	}
	ev, err := rules.ParseEvent([]byte(`{"logsource":{"category":"process_creation"},"Image":"/usr/bin/curl","CommandLine":"curl https://pastebin.example/raw/x"}`))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := set.Evaluate(ctx, ev)
	shippedMs, err2 := shipped.Evaluate(ctx, ev)
	if err != nil || err2 != nil || len(ms) != len(shippedMs)+1 || !slices.ContainsFunc(ms, func(m rules.Match) bool { return m.RuleID == "0f0e0d0c-0b0a-4908-8706-050403020100" }) {
		t.Fatalf("matches %+v %v; shipped rules alone: %+v", ms, err, shippedMs)
	}

	// Rollback refused; the installed bundle stays.
	g1 := mustSign(t, s, 1, File{Name: "wget.yml", YAML: wgetRule})
	if _, err := Update(ctx, st, fixedSource(g1), time.Now()); err == nil || !strings.Contains(err.Error(), "generation 1 is older than the installed generation 2: refused (rollback)") {
		t.Fatalf("rollback: %v", err)
	}
	// The same generation again: nothing to do.
	if res, err := Update(ctx, st, fixedSource(g2), time.Now()); err != nil || res.Installed || res.Previous != 2 {
		t.Fatalf("same generation: %+v %v", res, err)
	}
	g3 := mustSign(t, s, 3, File{Name: "wget.yml", YAML: wgetRule})
	if res, err := Update(ctx, st, fixedSource(g3), time.Now()); err != nil || !res.Installed || res.Previous != 2 {
		t.Fatalf("generation 3: %+v %v", res, err)
	}
	bd, rs, err := Installed(st)
	if err != nil || bd.Generation != 3 || len(rs) != 1 || rs[0].Title != "Wget to a paste site" {
		t.Fatalf("installed: %v %v", rs, err)
	}

	// A byte changed on disk: loading fails, naming the file.
	p := filepath.Join(st, BundlePath)
	b, _ := os.ReadFile(p)
	var env Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(env.Payload, []byte("wget"))
	env.Payload[i] = 'W'
	b, _ = json.Marshal(env)
	os.WriteFile(p, b, 0o600)
	if _, err := LoadInstalled(st); err == nil || !strings.Contains(err.Error(), p+": rule bundle: bad signature") {
		t.Fatalf("tampered on disk: %v", err)
	}

	// Not enrolled: no CA, no update.
	if _, err := Update(ctx, t.TempDir(), fixedSource(g3), time.Now()); err != ErrNoCA {
		t.Fatalf("without a CA: %v", err)
	}
}

// A bundle rule replaces the shipped rule with its id.
func TestBundleReplacesShipped(t *testing.T) {
	shipped, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	first := shipped.Rules[0]
	r, err := rules.Parse([]byte("title: Replaced\nid: " + first.ID + "\nlogsource:\n  category: x\ndetection:\n  sel:\n    A: b\n  condition: sel\n"))
	if err != nil {
		t.Fatal(err)
	}
	set := shipped.With([]*rules.Rule{r})
	n := 0
	for _, x := range set.Rules {
		if x.ID == first.ID {
			n++
			if x.Title != "Replaced" {
				t.Errorf("rule %s kept its shipped title %q", x.ID, x.Title)
			}
		}
	}
	if n != 1 || len(set.Rules) != len(shipped.Rules) || shipped.Rules[0] != first {
		t.Fatalf("%d rules with id %s, %d rules in all", n, first.ID, len(set.Rules))
	}
}

var _ Signer = (*pki.RuleSigner)(nil)

func FuzzDecode(f *testing.F) {
	ca, s := MustRuleSigner(f)
	good := mustSign(f, s, 1, File{Name: "curl.yml", YAML: ExampleRule})
	f.Add(good)
	f.Add([]byte(`{"payload":"e30=","certificates":["MA=="],"signature":"AA=="}`))
	f.Add([]byte(`{"payload":"eyJmb3JtYXQiOjEsImdlbmVyYXRpb24iOjEsImNyZWF0ZWQiOiIyMDI2LTAxLTAxVDAwOjAwOjAwWiIsInJ1bGVzIjpbXX0=","certificates":[],"signature":""}`))
	f.Add([]byte("{}"))
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		bd, err := Decode(b)
		if err != nil {
			if bd != nil {
				t.Fatal("a bundle and an error")
			}
			return
		}
		if len(bd.Certificates) == 0 || bd.Generation == 0 || len(bd.Rules) == 0 {
			t.Fatalf("decoded without certificate, generation or rules: %+v", bd.Payload)
		}
		if err := bd.Verify(ca.Cert, now); err != nil {
			return
		}
		// Only the signed payload verifies.
		var env Envelope
		if json.Unmarshal(b, &env) != nil || !bytes.Equal(env.Payload, bd.raw) {
			t.Fatal("verified, but not the payload decoded")
		}
		var g Envelope
		json.Unmarshal(good, &g)
		if !bytes.Equal(env.Payload, g.Payload) {
			t.Fatalf("a payload the cloud never signed verifies: %q", env.Payload)
		}
	})
}

// BenchmarkOpen measures verifying and parsing a bundle of the shipped
// Linux rules (what an agent does at each load).
func BenchmarkOpen(b *testing.B) {
	ca, s := MustRuleSigner(b)
	var files []File
	err := filepath.WalkDir(filepath.Join("..", "sigma", "linux"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yml" {
			return err
		}
		y, err := os.ReadFile(p)
		files = append(files, File{Name: filepath.Base(p), YAML: string(y)})
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	enc := mustSign(b, s, 1, files...)
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	b.ResetTimer()
	for range b.N {
		if _, rs, err := Open(enc, ca.Cert, time.Now()); err != nil || len(rs) != len(files) {
			b.Fatal(len(rs), err)
		}
	}
}
