package pki

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"
	"testing"
	"time"
)

// TestRuleSignerIsNoTLSCertificate: the rule signer's certificate is
// refused as a TLS client certificate by the cloud's own server config,
// where a device certificate of the same CA is taken; and it verifies for
// no TLS purpose.
func TestRuleSignerIsNoTLSCertificate(t *testing.T) {
	dir := t.TempDir()
	a, _, err := LoadOrCreate(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := a.RuleSigner(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRuleSigner(s.Cert); err != nil {
		t.Fatal(err)
	}
	if s.Cert.NotAfter.After(a.Cert.NotAfter) {
		t.Errorf("the signer (until %v) outlasts its CA (until %v)", s.Cert.NotAfter, a.Cert.NotAfter)
	}
	srv := serve(t, a, dir)
	signerPair, err := tls.LoadX509KeyPair(filepath.Join(dir, RuleSignerFile), filepath.Join(dir, RuleSignerKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := ClientConfig(a.CertPEM, &signerPair)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := get(cfg, srv.URL); err == nil {
		t.Fatal("the rule signer's certificate authenticated a TLS client")
	}

	// A device certificate of the same CA is taken: the refusal above is
	// the signer's purpose, not the setup.
	key, csrPEM, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, _ := ParseCertificateRequestPEM(csrPEM)
	dev, err := a.SignDevice(csr, "device-7", time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ = ClientConfig(a.CertPEM, &tls.Certificate{Certificate: [][]byte{dev.Raw}, PrivateKey: key})
	if name, err := get(cfg, srv.URL); err != nil || name != "device-7" {
		t.Fatalf("device certificate: %q %v", name, err)
	}

	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageCodeSigning} {
		if _, err := s.Cert.Verify(x509.VerifyOptions{Roots: a.Pool(), KeyUsages: []x509.ExtKeyUsage{u}}); err == nil {
			t.Errorf("the rule signer verifies for %v", u)
		}
	}
	// The server and device certificates are no rule signers.
	srvCert, err := a.ServerCertificate(dir, []string{"127.0.0.1"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*x509.Certificate{srvCert.Leaf, dev, a.Cert} {
		if err := CheckRuleSigner(c); err == nil {
			t.Errorf("%s passes as a rule signer", c.Subject.CommonName)
		}
	}
}
