package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/internal/cli"
)

// TestTLSByDefault: herdd serves HTTPS under its own CA, created on first
// start and kept; clients trust it by its CA file or its fingerprint, and
// nothing else; plain HTTP only behind the development flag.
func TestTLSByDefault(t *testing.T) {
	dir := t.TempDir()
	m := MustRunHerdd(t, dir, "")
	if !strings.HasPrefix(m.URL(), "https://") {
		t.Fatalf("herdd serves %s by default, want https", m.URL())
	}
	fp := m.CA().Fingerprint()
	if !strings.Contains(m.Stderr.(*bytes.Buffer).String(), "ca_fingerprint="+fp) {
		t.Fatalf("herdd did not print its CA fingerprint:\n%s", m.Stderr)
	}
	ctx := context.Background()
	if err := mustClient(t, m.URL(), dir).Health(ctx); err != nil {
		t.Fatalf("client trusting DATA/tls/ca.pem: %v", err)
	}
	system, _ := cli.Client(m.URL(), "", "", "")
	if err := system.Health(ctx); err == nil {
		t.Fatal("a client trusting only the system's CAs reached the cloud")
	}
	pinned, _ := cli.Client(m.URL(), "", "", "")
	cfg, err := pki.PinnedConfig(fp, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pinned.UseTLS(cfg)
	if err := pinned.Health(ctx); err != nil {
		t.Fatalf("client pinning the printed fingerprint: %v", err)
	}
	// Plain HTTP on the TLS port gets no answer from the API.
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + strings.TrimPrefix(m.URL(), "https://") + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP answered on the TLS port")
		}
	}

	// herdctl prints the same fingerprint from the data folder.
	_, herdctlBin := MustBuildCLIs(t)
	if code, out, errOut := run(t, herdctlBin, "--data", dir, "ca", "fingerprint"); code != 0 || strings.TrimSpace(out) != fp {
		t.Fatalf("herdctl ca fingerprint: %d %q %q, want %s", code, out, errOut, fp)
	}

	// A restart keeps the CA (agents keep trusting it).
	m.Close()
	m2 := MustRunHerdd(t, dir, "")
	if m2.CA().Fingerprint() != fp {
		t.Fatal("the CA changed across a restart")
	}
	if fp2, _ := pki.ReadFingerprint(filepath.Join(dir, TLSDir)); fp2 != fp {
		t.Fatalf("DATA/tls/ca.pem fingerprint %s, want %s", fp2, fp)
	}
}

func TestInsecureHTTPOnlyOnRequest(t *testing.T) {
	m := NewMain()
	m.Getenv = func(string) string { return "" }
	m.Stderr = &bytes.Buffer{}
	if err := m.ParseFlags([]string{"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--insecure-http"}); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.HasPrefix(m.URL(), "http://") || m.CA() != nil {
		t.Fatalf("--insecure-http serves %s", m.URL())
	}
	if !strings.Contains(m.Stderr.(*bytes.Buffer).String(), "development only") {
		t.Fatal("plain HTTP without a warning")
	}
	c, _ := cli.Client(m.URL(), "", "", "")
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
}
