// Package pki is the cloud's own certificate authority: it creates (or
// loads) the CA and the server certificate in the data folder, signs the
// client certificates of enrolled devices, and lets a client trust a cloud
// by the SHA-256 fingerprint of its CA, given out of band.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Files in the TLS folder.
const (
	CAFile         = "ca.pem"
	CAKeyFile      = "ca.key"
	ServerFile     = "server.pem"
	ServerKeyFile  = "server.key"
	caValidity     = 10 * 365 * 24 * time.Hour
	serverValidity = 398 * 24 * time.Hour
	// renewBefore: a server certificate that ends sooner is issued again.
	renewBefore = 30 * 24 * time.Hour
	// DeviceValidity is how long a device certificate is valid.
	DeviceValidity = 365 * 24 * time.Hour
)

// Authority is a certificate authority whose key is in memory.
type Authority struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// LoadOrCreate loads the CA in dir, creating it (key mode 0600) if there is
// none. created says it was made now.
func LoadOrCreate(dir string, now time.Time) (a *Authority, created bool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, false, fmt.Errorf("tls folder: %w", err)
	}
	certPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, CAKeyFile)
	_, err = os.Stat(certPath)
	if errors.Is(err, fs.ErrNotExist) {
		if _, kerr := os.Stat(keyPath); kerr == nil {
			return nil, false, fmt.Errorf("CA: %s exists without %s", keyPath, certPath)
		}
		a, err := newAuthority(now)
		if err != nil {
			return nil, false, err
		}
		if err := writeKeyPair(certPath, keyPath, a.CertPEM, a.key); err != nil {
			return nil, false, fmt.Errorf("CA: %w", err)
		}
		return a, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("CA: %w", err)
	}
	cert, key, err := readKeyPair(certPath, keyPath)
	if err != nil {
		return nil, false, fmt.Errorf("CA: %w", err)
	}
	if !cert.IsCA {
		return nil, false, fmt.Errorf("CA: %s is not a CA certificate", certPath)
	}
	return &Authority{Cert: cert, CertPEM: pemBlock("CERTIFICATE", cert.Raw), key: key}, false, nil
}

func newAuthority(now time.Time) (*Authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{Organization: []string{"Herd"}, CommonName: "Herd cloud CA " + now.UTC().Format("2006-01-02")},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &Authority{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, nil
}

// Fingerprint returns the SHA-256 of the CA certificate, in hex.
func (a *Authority) Fingerprint() string { return Fingerprint(a.Cert) }

// Fingerprint returns the SHA-256 of a certificate's DER bytes, in hex.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// ReadFingerprint returns the fingerprint of the CA certificate in dir.
func ReadFingerprint(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, CAFile))
	if err != nil {
		return "", err
	}
	c, err := ParseCertificatePEM(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dir, CAFile), err)
	}
	return Fingerprint(c), nil
}

// NormalizeFingerprint accepts a SHA-256 fingerprint as hex, with or without
// colons or a "sha256:" prefix, in any case, and returns it as plain lower hex.
func NormalizeFingerprint(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "sha256:")
	s = strings.ReplaceAll(s, ":", "")
	if b, err := hex.DecodeString(s); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA fingerprint: want the 64 hex digits of a SHA-256")
	}
	return s, nil
}

// Pool returns a pool holding the CA.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// ServerCertificate returns the server certificate in dir, issuing a new
// one when there is none, when it does not name every host, or when it
// ends within 30 days. The chain served includes the CA, so that a client
// that pins the CA's fingerprint finds it.
func (a *Authority) ServerCertificate(dir string, hosts []string, now time.Time) (tls.Certificate, error) {
	certPath, keyPath := filepath.Join(dir, ServerFile), filepath.Join(dir, ServerKeyFile)
	if cert, key, err := readKeyPair(certPath, keyPath); err == nil &&
		cert.CheckSignatureFrom(a.Cert) == nil && names(cert, hosts) && now.Add(renewBefore).Before(cert.NotAfter) {
		return tls.Certificate{Certificate: [][]byte{cert.Raw, a.Cert.Raw}, PrivateKey: key, Leaf: cert}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"Herd"}, CommonName: "herdd"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(serverValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	if err := writeKeyPair(certPath, keyPath, pemBlock("CERTIFICATE", der), key); err != nil {
		return tls.Certificate{}, fmt.Errorf("server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der, a.Cert.Raw}, PrivateKey: key, Leaf: leaf}, nil
}

// names reports whether c is valid for every host.
func names(c *x509.Certificate, hosts []string) bool {
	for _, h := range hosts {
		if c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

// DefaultHosts are the names the server certificate carries when none are
// configured: loopback, and this machine's host name.
func DefaultHosts() []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, err := os.Hostname(); err == nil && h != "" && !slices.Contains(hosts, h) {
		hosts = append(hosts, h)
	}
	return hosts
}

// SignDevice signs a device's certificate request: the certificate names
// the device (common name) and serves for client authentication only. The
// request's own subject and extensions are ignored.
func (a *Authority) SignDevice(csr *x509.CertificateRequest, device string, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certificate request: signature: %w", err)
	}
	if err := CheckKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("certificate request: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{Organization: []string{"Herd device"}, CommonName: device},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, csr.PublicKey, a.key)
	if err != nil {
		return nil, fmt.Errorf("device certificate: %w", err)
	}
	return x509.ParseCertificate(der)
}

// CheckKey accepts the public keys a device may enroll with: ECDSA of 256
// bits or more, RSA of 2048 bits or more, Ed25519.
func CheckKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve.Params().BitSize < 256 {
			return errors.New("ECDSA key under 256 bits")
		}
	case *rsa.PublicKey:
		if k.Size() < 256 {
			return errors.New("RSA key under 2048 bits")
		}
	case ed25519.PublicKey:
	default:
		return fmt.Errorf("unsupported key type %T", pub)
	}
	return nil
}

// Serial returns a certificate's serial number in hex.
func Serial(c *x509.Certificate) string { return c.SerialNumber.Text(16) }

// ServerConfig returns the server side of TLS: the given certificate, and
// device certificates verified against the CA when a client presents one
// (whether a request needs one is the API's business). A certificate from
// another CA, or an expired one, fails the handshake.
func (a *Authority) ServerConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    a.Pool(),
	}
}

// PinnedConfig returns a client TLS configuration that trusts the server
// whose chain includes a CA with the given SHA-256 fingerprint, and only
// that one; the server certificate must be signed by that CA and name
// host, the host dialled (a name or an IP address).
func PinnedConfig(fingerprint, host string) (*tls.Config, error) {
	want, err := NormalizeFingerprint(fingerprint)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Verification is done below, against the pinned CA only.
		InsecureSkipVerify: true, //nolint:gosec
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if c.IsCA && Fingerprint(c) == want {
					ca = c
				}
			}
			if ca == nil {
				return fmt.Errorf("the cloud's CA is not the one with fingerprint %s", want)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			name := cs.ServerName // empty when an IP address was dialled
			if name == "" {
				name = host
			}
			if name == "" {
				return errors.New("no host name to check the server certificate against")
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: name})
			return err
		},
	}, nil
}

// ClientConfig returns a client TLS configuration that trusts the CAs in
// caPEM (the system's when empty) and presents cert when it has one.
func ClientConfig(caPEM []byte, cert *tls.Certificate) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, errors.New("CA file: no PEM certificate in it")
		}
		cfg.RootCAs = pool
	}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg, nil
}

// NewKey returns a new device key and a certificate request for it.
func NewKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	csr, err := CSRFor(key)
	return key, csr, err
}

// ParseCertificateRequestPEM parses one PEM certificate request.
func ParseCertificateRequestPEM(b []byte) (*x509.CertificateRequest, error) {
	blk, rest := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("not a PEM CERTIFICATE REQUEST")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("data after the certificate request")
	}
	return x509.ParseCertificateRequest(blk.Bytes)
}

// ParseCertificatePEM parses the first PEM certificate in b.
func ParseCertificatePEM(b []byte) (*x509.Certificate, error) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM CERTIFICATE")
		}
		if blk.Type == "CERTIFICATE" {
			return x509.ParseCertificate(blk.Bytes)
		}
	}
}

// EncodeKey returns key as a PEM PKCS #8 block.
func EncodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// PEM returns a certificate as a PEM block.
func PEM(c *x509.Certificate) []byte { return pemBlock("CERTIFICATE", c.Raw) }

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func randomSerial() *big.Int {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[0] &= 0x7f
	b[0] |= 0x40 // 127 bits, never short
	return new(big.Int).SetBytes(b)
}

// writeKeyPair writes a certificate (0644) and its key (0600), each through a
// temporary file, the key first.
func writeKeyPair(certPath, keyPath string, certPEM []byte, key crypto.Signer) error {
	keyPEM, err := EncodeKey(key)
	if err != nil {
		return err
	}
	if err := writeFile(keyPath, keyPEM, 0o600); err != nil {
		return err
	}
	return writeFile(certPath, certPEM, 0o644)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readKeyPair reads a certificate and its key; a key readable by others is refused.
func readKeyPair(certPath, keyPath string) (*x509.Certificate, crypto.Signer, error) {
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, err
	}
	cert, err := ParseCertificatePEM(cb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", certPath, err)
	}
	if st, err := os.Stat(keyPath); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, nil, fmt.Errorf("%s: mode %v lets others read it; chmod 600 it", keyPath, st.Mode().Perm())
	}
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, err
	}
	pair, err := tls.X509KeyPair(cb, kb)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", keyPath, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return cert, signer, nil
}

// CSRFor returns a PEM certificate request for an existing key.
func CSRFor(key crypto.Signer) ([]byte, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "herd agent"}}, key)
	if err != nil {
		return nil, err
	}
	return pemBlock("CERTIFICATE REQUEST", csr), nil
}
