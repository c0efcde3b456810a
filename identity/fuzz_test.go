package identity

import (
	"testing"

	"github.com/herdsec/herd/identity/pki"
)

// FuzzEnrollRequest: no enrollment request makes validation panic, and a
// request it accepts has a certificate request whose signature holds.
func FuzzEnrollRequest(f *testing.F) {
	_, csr, _ := pki.NewKey()
	hw := "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	f.Add("HERD-ABCDEFGH-ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", string(csr), hw, "", "linux")
	f.Add("herd-abcdefgh-x", "-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n", "zz", "0123", "\x00")
	f.Fuzz(func(t *testing.T, key, csr, hw, dev, os string) {
		r := EnrollRequest{LicenceKey: key, CSR: csr, Hardware: hw, Device: dev, OS: os}
		c, err := r.validate()
		if err == nil && (c == nil || c.CheckSignature() != nil) {
			t.Fatalf("accepted a request without a valid certificate request")
		}
		if id, secret, err := ParseLicenceKey(key); err == nil && (len(id) != 8 || len(secret) != 32) {
			t.Fatalf("ParseLicenceKey(%q) = %q, %q", key, id, secret)
		}
	})
}
