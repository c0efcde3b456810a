// Package bundle is the signed form in which the cloud hands behaviour
// rules (Sigma) to agents: a generation number, the rule files, the
// signer's certificate and a signature over all of it. The cloud builds
// and signs bundles; the agent verifies one against the CA it pinned at
// enrollment, refuses an older generation than the one it holds, and
// installs it in its state folder.
//
// What it protects against: anyone between the cloud and the agent, or
// with write access to the cloud's rule storage but not to its signing
// key, changing, adding, removing or rolling back rules; and any other
// key of the cloud's CA (the TLS server's, a device's) signing rules.
package bundle

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/identity/pki"
)

// Limits of a bundle.
const (
	// Format is the payload format this package writes and reads.
	Format = 1
	// MaxSize bounds an encoded bundle.
	MaxSize = 16 << 20
	// MaxRules bounds the rules of one bundle.
	MaxRules = 5000
	// MaxNameLen bounds a rule file's name.
	MaxNameLen = 128
	maxCerts   = 4
)

// signedPrefix separates bundle signatures from anything else the key
// might ever sign.
const signedPrefix = "herd rule bundle v1\n"

// File is one rule file: its name and its Sigma YAML.
type File struct {
	Name string `json:"name"`
	YAML string `json:"yaml"`
}

// Payload is what a bundle's signature covers.
type Payload struct {
	Format     int       `json:"format"`
	Generation uint64    `json:"generation"`
	Created    time.Time `json:"created"`
	Rules      []File    `json:"rules"`
}

// Envelope is the encoded bundle (JSON; byte fields base64): the
// payload's exact bytes, so that the signature covers bytes rather than a
// re-encoding; the signer's certificate chain (DER, signer first, without
// the CA); and the signature over "herd rule bundle v1\n" + payload.
type Envelope struct {
	Payload      []byte   `json:"payload"`
	Certificates [][]byte `json:"certificates"`
	Signature    []byte   `json:"signature"`
}

// Bundle is a decoded bundle, not yet verified.
type Bundle struct {
	Payload
	Certificates []*x509.Certificate
	raw          []byte // the payload's bytes, as signed
	signature    []byte
	sum          [sha256.Size]byte // of the encoded bundle
}

// SHA256 returns the SHA-256 of the encoded bundle, in hex.
func (b *Bundle) SHA256() string { return hex.EncodeToString(b.sum[:]) }

// Signer signs bundles. Implementations keep the private key to
// themselves (package pki's RuleSigner does); Chain is the signing
// certificate first, then any intermediates, without the root.
type Signer interface {
	Chain() []*x509.Certificate
	Sign(msg []byte) ([]byte, error)
}

// CheckFiles checks rule files as the agent will load them: every file
// named NAME.yml or NAME.yaml (no folders), each name once, each a rule
// rules.Parse accepts, each rule id once. It returns the parsed rules in
// order, or an EINVALID error listing every bad file by index and name.
func CheckFiles(files []File) ([]*rules.Rule, error) {
	if len(files) == 0 {
		return nil, herd.Errorf(herd.EINVALID, "rules: no rule files")
	}
	if len(files) > MaxRules {
		return nil, herd.Errorf(herd.ETOOLARGE, "rules: %d files, the limit is %d", len(files), MaxRules)
	}
	var problems []herd.Problem
	bad := func(i int, field, format string, args ...any) {
		problems = append(problems, herd.Problem{Index: i, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	names, ids := map[string]int{}, map[string]string{}
	out := make([]*rules.Rule, len(files))
	for i, f := range files {
		if err := checkName(f.Name); err != nil {
			bad(i, "name", "%q: %v", clip(f.Name), err)
			continue
		}
		if prev, dup := names[f.Name]; dup {
			bad(i, "name", "%s: also the name of file %d", f.Name, prev)
			continue
		}
		names[f.Name] = i
		r, err := rules.Parse([]byte(f.YAML))
		if err != nil {
			bad(i, "yaml", "%s: %v", f.Name, err)
			continue
		}
		if prev, dup := ids[r.ID]; dup {
			bad(i, "yaml", "%s: rule id %s is also the id of %s", f.Name, r.ID, prev)
			continue
		}
		ids[r.ID] = f.Name
		r.File = f.Name
		out[i] = r
	}
	if problems != nil {
		return nil, &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("rules: %d of %d files are not valid rules; the set is refused whole", len(problems), len(files)), Problems: problems}
	}
	return out, nil
}

func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("no file name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("longer than %d bytes", MaxNameLen)
	case strings.ContainsAny(name, "/\\\x00") || name != path.Clean(name) || strings.HasPrefix(name, "."):
		return errors.New("a plain file name is needed (no folders)")
	case path.Ext(name) != ".yml" && path.Ext(name) != ".yaml":
		return errors.New("not a .yml or .yaml file")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("a control character in the name")
		}
	}
	return nil
}

// Sign encodes p and signs it with s. p's rules are checked first
// (CheckFiles): a bundle that an agent would refuse is never signed.
func Sign(p Payload, s Signer) ([]byte, error) {
	if p.Format == 0 {
		p.Format = Format
	}
	if p.Generation == 0 {
		return nil, errors.New("bundle: generation 0")
	}
	if _, err := CheckFiles(p.Rules); err != nil {
		return nil, err
	}
	p.Created = p.Created.UTC()
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	sig, err := s.Sign(signedMessage(raw))
	if err != nil {
		return nil, fmt.Errorf("bundle: sign: %w", err)
	}
	env := Envelope{Payload: raw, Signature: sig}
	for _, c := range s.Chain() {
		env.Certificates = append(env.Certificates, c.Raw)
	}
	out, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	if len(out) > MaxSize {
		return nil, herd.Errorf(herd.ETOOLARGE, "rules: the signed bundle is %d bytes, the limit is %d", len(out), MaxSize)
	}
	return out, nil
}

func signedMessage(payload []byte) []byte {
	return append([]byte(signedPrefix), payload...)
}

// Decode decodes an encoded bundle and checks its structure; it does not
// verify the signature (Verify does). Anything malformed is an error
// saying what.
func Decode(b []byte) (*Bundle, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("rule bundle: %d bytes, the limit is %d", len(b), MaxSize)
	}
	var env Envelope
	if err := strict(b, &env); err != nil {
		return nil, fmt.Errorf("rule bundle: %w", err)
	}
	switch {
	case len(env.Payload) == 0:
		return nil, errors.New("rule bundle: no payload")
	case len(env.Signature) == 0:
		return nil, errors.New("rule bundle: unsigned (no signature)")
	case len(env.Certificates) == 0:
		return nil, errors.New("rule bundle: no signer certificate")
	case len(env.Certificates) > maxCerts:
		return nil, fmt.Errorf("rule bundle: %d certificates, at most %d", len(env.Certificates), maxCerts)
	}
	bd := &Bundle{raw: env.Payload, signature: env.Signature, sum: sha256.Sum256(b)}
	for i, der := range env.Certificates {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("rule bundle: certificate %d: %w", i, err)
		}
		bd.Certificates = append(bd.Certificates, c)
	}
	if err := strict(env.Payload, &bd.Payload); err != nil {
		return nil, fmt.Errorf("rule bundle: payload: %w", err)
	}
	p := &bd.Payload
	switch {
	case p.Format != Format:
		return nil, fmt.Errorf("rule bundle: format %d, this agent reads format %d", p.Format, Format)
	case p.Generation == 0:
		return nil, errors.New("rule bundle: generation 0")
	case p.Created.IsZero():
		return nil, errors.New("rule bundle: no creation time")
	case len(p.Rules) == 0:
		return nil, errors.New("rule bundle: no rules")
	case len(p.Rules) > MaxRules:
		return nil, fmt.Errorf("rule bundle: %d rules, the limit is %d", len(p.Rules), MaxRules)
	}
	for i, f := range p.Rules {
		if err := checkName(f.Name); err != nil {
			return nil, fmt.Errorf("rule bundle: rule %d: name %q: %w", i, clip(f.Name), err)
		}
		if len(f.YAML) > rules.MaxRuleSize {
			return nil, fmt.Errorf("rule bundle: rule %s: larger than %d bytes", f.Name, rules.MaxRuleSize)
		}
	}
	return bd, nil
}

// strict decodes one JSON value into v, refusing unknown fields and
// anything after the value.
func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Verify checks that the bundle was signed by a rule-signing certificate
// that chains to ca and was valid at time at, and that the signature
// covers the payload as it is.
func (b *Bundle) Verify(ca *x509.Certificate, at time.Time) error {
	if ca == nil {
		return errors.New("rule bundle: no CA to verify against")
	}
	signer := b.Certificates[0]
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range b.Certificates[1:] {
		inter.AddCert(c)
	}
	// The rule-signing purpose is a private OID that x509 cannot ask
	// for; CheckRuleSigner checks it below.
	if _, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: at,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("rule bundle: signer %q is not trusted: it does not chain to this agent's cloud CA (%s): %w",
			signer.Subject.CommonName, pki.Fingerprint(ca), err)
	}
	if err := pki.CheckRuleSigner(signer); err != nil {
		return fmt.Errorf("rule bundle: wrong signer: %w", err)
	}
	var alg x509.SignatureAlgorithm
	switch signer.PublicKey.(type) {
	case ed25519.PublicKey:
		alg = x509.PureEd25519
	case *ecdsa.PublicKey:
		alg = x509.ECDSAWithSHA256
	default:
		return fmt.Errorf("rule bundle: signer key type %T not accepted", signer.PublicKey)
	}
	if err := signer.CheckSignature(alg, signedMessage(b.raw), b.signature); err != nil {
		return errors.New("rule bundle: bad signature: the rules are not the ones the cloud signed")
	}
	return nil
}

// ParseRules parses the bundle's rules (each named by its file).
func (b *Bundle) ParseRules() ([]*rules.Rule, error) {
	rs, err := CheckFiles(b.Payload.Rules)
	if err != nil {
		return nil, fmt.Errorf("rule bundle: %w", err)
	}
	return rs, nil
}

// Open decodes and verifies an encoded bundle (Decode, Verify at time at)
// and parses its rules.
func Open(b []byte, ca *x509.Certificate, at time.Time) (*Bundle, []*rules.Rule, error) {
	bd, err := Decode(b)
	if err != nil {
		return nil, nil, err
	}
	if err := bd.Verify(ca, at); err != nil {
		return nil, nil, err
	}
	rs, err := bd.ParseRules()
	if err != nil {
		return nil, nil, err
	}
	return bd, rs, nil
}

// Summary describes a bundle for people and the admin API.
type Summary struct {
	Generation uint64        `json:"generation"`
	Created    time.Time     `json:"created"`
	SHA256     string        `json:"sha256"`
	Signer     string        `json:"signer"` // the signing certificate's serial number, hex
	Rules      []RuleSummary `json:"rules"`
}

// RuleSummary names one rule of a bundle.
type RuleSummary struct {
	File  string `json:"file"`
	ID    string `json:"id"`
	Title string `json:"title"`
	Level string `json:"level,omitempty"`
}

// Summarize describes b, whose rules are rs (from Open or CheckFiles).
func Summarize(b *Bundle, rs []*rules.Rule) Summary {
	s := Summary{Generation: b.Generation, Created: b.Created, SHA256: b.SHA256(), Signer: pki.Serial(b.Certificates[0])}
	for _, r := range rs {
		s.Rules = append(s.Rules, RuleSummary{File: r.File, ID: r.ID, Title: r.Title, Level: r.Level})
	}
	return s
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
