package pki

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"
)

// The rule signer: a key of the cloud's that signs the behaviour rules it
// hands to agents. Its certificate, issued by the cloud's CA, carries a
// purpose of its own (OIDRuleSigning) and no TLS purpose, so that a key
// able to sign rules cannot serve or authenticate TLS, and the server's or
// a device's TLS key cannot sign rules.

// Files of the rule signer in the TLS folder.
const (
	RuleSignerFile    = "rules-signer.pem"
	RuleSignerKeyFile = "rules-signer.key"
	// RuleSignerName is the signing certificate's common name.
	RuleSignerName  = "Herd rule signer"
	signerValidity  = 5 * 365 * 24 * time.Hour
	signerRenewFrom = 365 * 24 * time.Hour
)

// OIDRuleSigning is the extended key usage of a rule-signing certificate:
// an arc of 2.25 (ITU-T X.667 UUID-derived OIDs) drawn at random for Herd,
// kept under 2^31 because Go's certificate parser reads no larger arc.
// Replace it with an arc of Herd's own if the project registers one.
var OIDRuleSigning = asn1.ObjectIdentifier{2, 25, 1374902617, 1}

// RuleSigner signs rule sets with a key that never leaves it.
type RuleSigner struct {
	Cert *x509.Certificate // the signing certificate, issued by CA
	CA   *x509.Certificate
	key  crypto.Signer
}

// RuleSigner returns the rule signer in dir, issuing a new key and
// certificate when there is none, when the CA did not sign it, or when
// it ends within a year. Its validity never outlasts the CA's.
func (a *Authority) RuleSigner(dir string, now time.Time) (*RuleSigner, error) {
	certPath, keyPath := filepath.Join(dir, RuleSignerFile), filepath.Join(dir, RuleSignerKeyFile)
	if cert, key, err := readKeyPair(certPath, keyPath); err == nil &&
		cert.CheckSignatureFrom(a.Cert) == nil && CheckRuleSigner(cert) == nil && now.Add(signerRenewFrom).Before(cert.NotAfter) {
		return &RuleSigner{Cert: cert, CA: a.Cert, key: key}, nil
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	end := now.Add(signerValidity)
	if a.Cert.NotAfter.Before(end) {
		end = a.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:       randomSerial(),
		Subject:            pkix.Name{Organization: []string{"Herd"}, CommonName: RuleSignerName},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           end,
		KeyUsage:           x509.KeyUsageDigitalSignature,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{OIDRuleSigning},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
	if err != nil {
		return nil, fmt.Errorf("rule signer: %w", err)
	}
	if err := writeKeyPair(certPath, keyPath, pemBlock("CERTIFICATE", der), key); err != nil {
		return nil, fmt.Errorf("rule signer: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &RuleSigner{Cert: cert, CA: a.Cert, key: key}, nil
}

// Chain returns the signing certificate (the CA is not included: agents
// hold it from enrollment).
func (s *RuleSigner) Chain() []*x509.Certificate { return []*x509.Certificate{s.Cert} }

// Sign signs msg with the rule-signing key (Ed25519).
func (s *RuleSigner) Sign(msg []byte) ([]byte, error) {
	return s.key.Sign(rand.Reader, msg, crypto.Hash(0))
}

// CheckRuleSigner reports whether c is a rule-signing certificate: an end
// entity for digital signatures whose only extended key usage is
// OIDRuleSigning. It does not check who issued c.
func CheckRuleSigner(c *x509.Certificate) error {
	switch {
	case c.IsCA:
		return errors.New("a CA certificate, not the rule signer's")
	case c.KeyUsage&x509.KeyUsageDigitalSignature == 0:
		return errors.New("its key usage does not include digital signatures")
	case len(c.ExtKeyUsage) > 0:
		return fmt.Errorf("certificate %q is for other purposes (extended key usage %v), not for signing rules", c.Subject.CommonName, c.ExtKeyUsage)
	case !slices.ContainsFunc(c.UnknownExtKeyUsage, OIDRuleSigning.Equal):
		return fmt.Errorf("certificate %q is not a rule-signing certificate", c.Subject.CommonName)
	}
	return nil
}
