package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreateKeepsTheCA(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, created, err := LoadOrCreate(dir, now)
	if err != nil || !created {
		t.Fatalf("first start: created=%v err=%v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, CAKeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("CA key mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	b, created, err := LoadOrCreate(dir, now)
	if err != nil || created {
		t.Fatalf("second start: created=%v err=%v", created, err)
	}
	if a.Fingerprint() != b.Fingerprint() || len(a.Fingerprint()) != 64 {
		t.Fatalf("fingerprints %s, %s: want one 64-digit fingerprint", a.Fingerprint(), b.Fingerprint())
	}
	if fp, err := ReadFingerprint(dir); err != nil || fp != a.Fingerprint() {
		t.Fatalf("ReadFingerprint = %s, %v", fp, err)
	}
	os.Chmod(filepath.Join(dir, CAKeyFile), 0o644)
	if _, _, err := LoadOrCreate(dir, now); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a CA key readable by others: err = %v, want a refusal naming chmod 600", err)
	}
	os.Remove(filepath.Join(dir, CAFile))
	if _, _, err := LoadOrCreate(dir, now); err == nil || !strings.Contains(err.Error(), "without") {
		t.Fatalf("a CA key without its certificate: err = %v, want a refusal (never a new CA over an old key)", err)
	}
}

func TestServerCertificateReissuedForNewHosts(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, _, err := LoadOrCreate(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := a.ServerCertificate(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := a.ServerCertificate(dir, []string{"localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Leaf.Equal(c2.Leaf) {
		t.Fatal("the same hosts issued a new certificate; want the stored one")
	}
	c3, err := a.ServerCertificate(dir, []string{"cloud.example.org"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Leaf.Equal(c1.Leaf) || c3.Leaf.VerifyHostname("cloud.example.org") != nil {
		t.Fatal("a new host did not get a certificate naming it")
	}
	c4, err := a.ServerCertificate(dir, []string{"cloud.example.org"}, now.Add(serverValidity-renewBefore/2))
	if err != nil {
		t.Fatal(err)
	}
	if c4.Leaf.Equal(c3.Leaf) {
		t.Fatal("a certificate ending within 30 days was kept")
	}
}

// serve starts a TLS server with the authority's server certificate.
func serve(t *testing.T, a *Authority, dir string) *httptest.Server {
	t.Helper()
	cert, err := a.ServerCertificate(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.VerifiedChains) > 0 {
			w.Write([]byte(r.TLS.VerifiedChains[0][0].Subject.CommonName))
		}
	}))
	srv.TLS = a.ServerConfig(cert)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(cfg *tls.Config, url string) (string, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 512)
	n, _ := resp.Body.Read(buf)
	b.Write(buf[:n])
	return b.String(), nil
}

func TestPinnedFingerprint(t *testing.T) {
	dir := t.TempDir()
	a, _, _ := LoadOrCreate(dir, time.Now())
	srv := serve(t, a, dir)
	good, err := PinnedConfig(strings.ToUpper("sha256:"+a.Fingerprint()), "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(good, srv.URL); err != nil {
		t.Fatalf("the right fingerprint: %v", err)
	}
	other, _, _ := LoadOrCreate(t.TempDir(), time.Now())
	bad, _ := PinnedConfig(other.Fingerprint(), "127.0.0.1")
	if _, err := get(bad, srv.URL); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("another CA's fingerprint: err = %v, want a refusal", err)
	}
	// Dialled by IP address, the certificate must still name that host.
	elsewhere, _ := PinnedConfig(a.Fingerprint(), "192.0.2.7")
	if _, err := get(elsewhere, srv.URL); err == nil {
		t.Fatal("a certificate for 127.0.0.1 was accepted for another host")
	}
	if _, err := get(&tls.Config{}, srv.URL); err == nil {
		t.Fatal("the system's CAs trusted the cloud's own CA")
	}
	for _, s := range []string{"", "abc", strings.Repeat("zz", 32), strings.Repeat("ab", 31)} {
		if _, err := NormalizeFingerprint(s); err == nil {
			t.Errorf("NormalizeFingerprint(%q) accepted", s)
		}
	}
}

func TestDeviceCertificates(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	a, _, _ := LoadOrCreate(dir, now)
	srv := serve(t, a, dir)
	key, csrPEM, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ParseCertificateRequestPEM(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := a.SignDevice(csr, "dev-1", now, DeviceValidity)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("a device certificate serves as a server certificate")
	}
	keyPEM, _ := EncodeKey(key)
	pair, err := tls.X509KeyPair(PEM(cert), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ClientConfig(a.CertPEM, &pair)
	if err != nil {
		t.Fatal(err)
	}
	if cn, err := get(cfg, srv.URL); err != nil || cn != "dev-1" {
		t.Fatalf("enrolled device: %q, %v", cn, err)
	}
	// A certificate from another CA fails the handshake.
	other, _, _ := LoadOrCreate(t.TempDir(), now)
	foreign, _ := other.SignDevice(csr, "dev-1", now, DeviceValidity)
	fpair, _ := tls.X509KeyPair(PEM(foreign), keyPEM)
	fcfg, _ := ClientConfig(a.CertPEM, &fpair)
	if _, err := get(fcfg, srv.URL); err == nil {
		t.Fatal("a device certificate from another CA was accepted")
	}
	// So does an expired one.
	old, _ := a.SignDevice(csr, "dev-1", now.Add(-48*time.Hour), 24*time.Hour)
	opair, _ := tls.X509KeyPair(PEM(old), keyPEM)
	ocfg, _ := ClientConfig(a.CertPEM, &opair)
	if _, err := get(ocfg, srv.URL); err == nil {
		t.Fatal("an expired device certificate was accepted")
	}
	// A request whose signature does not match its key is refused.
	bad := *csr
	bad.Signature = append([]byte(nil), csr.Signature...)
	bad.Signature[len(bad.Signature)-1] ^= 1
	if _, err := a.SignDevice(&bad, "dev-2", now, DeviceValidity); err == nil {
		t.Fatal("a certificate request with a broken signature was signed")
	}
}

func FuzzParseCertificateRequestPEM(f *testing.F) {
	_, csr, _ := NewKey()
	f.Add(csr)
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte("not pem"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseCertificateRequestPEM(b)
		if err == nil && r == nil {
			t.Fatal("nil request without error")
		}
	})
}
