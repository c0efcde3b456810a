package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
)

// mustEnrolledAgent enrolls a device in a TLS cloud and returns its client,
// with the suspicious category consented.
func mustEnrolledAgent(t *testing.T, ctx context.Context, url string, ca *pki.Authority) *httpapi.Client {
	t.Helper()
	client := func(cert *tls.Certificate) *httpapi.Client {
		c, err := httpapi.NewClient(url)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := pki.ClientConfig(ca.CertPEM, cert)
		if err != nil {
			t.Fatal(err)
		}
		c.UseTLS(cfg)
		return c
	}
	admin := client(nil)
	admin.Token = cloud.TestToken
	lic, err := admin.CreateLicence(ctx, httpapi.LicenceRequest{Seats: 1})
	if err != nil {
		t.Fatal(err)
	}
	k, csr, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	res, err := client(nil).Enroll(ctx, identity.EnrollRequest{LicenceKey: lic.Key, CSR: string(csr), Hardware: hardware.Of("samples-machine"), OS: "linux", Arch: "amd64", Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, _ := pki.EncodeKey(k)
	pair, err := tls.X509KeyPair([]byte(res.Certificate), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	agent := client(&pair)
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SetConsentRecord(ctx, res.Device, rec); err != nil {
		t.Fatal(err)
	}
	return agent
}

// TestSamplesCommands: list, get (to a new file only) and verdict, against
// a real cloud holding a sample an enrolled agent uploaded.
func TestSamplesCommands(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, srv, ca := cloud.MustOpenTLSTest(t)
	agent := mustEnrolledAgent(t, ctx, srv.URL, ca)
	file := append([]byte("#!/bin/sh\n"), bytes.Repeat([]byte("echo herd-sample-test\n"), 200)...)
	sum := sha256.Sum256(file)
	sha := hex.EncodeToString(sum[:])
	if _, err := agent.UploadSample(ctx, httpapi.SampleOffer{SHA256: sha, FileType: "script"}, bytes.NewReader(file), int64(len(file))); err != nil {
		t.Fatal(err)
	}
	token := MustWriteFile(t, "admin.token", cloud.TestToken+"\n")
	run := func(args ...string) result {
		t.Helper()
		return runEnv(t, nil, append([]string{"--cloud", srv.URL, "--token-file", token, "--ca", filepath.Join(c.Data, "tls", pki.CAFile)}, args...)...)
	}

	r := run("samples", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "queued") || !strings.Contains(r.stdout, sha) || !strings.Contains(r.stdout, "script") {
		t.Fatalf("samples list:\n%s", r)
	}

	out := filepath.Join(t.TempDir(), "sample.bin")
	if r := run("samples", "get", sha, "--out", out); r.code != 0 || !strings.Contains(r.stdout, out) {
		t.Fatalf("samples get:\n%s", r)
	}
	got, err := os.ReadFile(out)
	if err != nil || !bytes.Equal(got, file) {
		t.Fatalf("downloaded sample: %d bytes, %v; want the %d bytes uploaded", len(got), err, len(file))
	}
	if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("downloaded sample's mode: %v %v, want 0600", st.Mode(), err)
	}
	if r := run("samples", "get", sha, "--out", out); r.code != 1 || !strings.Contains(r.stderr, "exists") {
		t.Fatalf("samples get over an existing file:\n%s", r)
	}
	if r := run("samples", "get", "nothex"); r.code != 2 || !strings.Contains(r.stderr, "64 hex digits") {
		t.Fatalf("samples get with a bad hash:\n%s", r)
	}

	if r := run("samples", "verdict", sha, "bogus"); r.code != 2 || !strings.Contains(r.stderr, "malicious, clean or suspicious") {
		t.Fatalf("samples verdict bogus:\n%s", r)
	}
	if r := run("samples", "verdict", sha, "malicious", "--threat", "Shell.Test.Dropper"); r.code != 0 || !strings.Contains(r.stdout, "malicious (Shell.Test.Dropper)") {
		t.Fatalf("samples verdict:\n%s", r)
	}
	recs, err := agent.Lookup(ctx, []herd.Object{{Kind: herd.KindSHA256, Value: sha}})
	if err != nil || recs[0].Verdict != herd.VerdictMalicious || recs[0].Threat != "Shell.Test.Dropper" {
		t.Fatalf("lookup after samples verdict: %+v %v", recs, err)
	}
	r = run("samples", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "reviewed") || !strings.Contains(r.stdout, "Shell.Test.Dropper") {
		t.Fatalf("samples list after the verdict:\n%s", r)
	}
}
