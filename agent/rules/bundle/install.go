package bundle

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/identity/pki"
)

// Where an agent keeps things, relative to its state folder: the cloud's
// CA pinned at enrollment, and the installed bundle.
const (
	CAPath     = "tls/" + pki.CAFile
	BundlePath = "rules/bundle.json"
)

// ErrNoCA: the agent has not enrolled, so it has no CA to verify rules with.
var ErrNoCA = errors.New("no pinned cloud CA in the state folder: enroll first (herd enroll --ca-fingerprint)")

// PinnedCA reads the CA the agent pinned at enrollment.
func PinnedCA(stateDir string) (*x509.Certificate, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, CAPath))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoCA
	}
	if err != nil {
		return nil, err
	}
	c, err := pki.ParseCertificatePEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(stateDir, CAPath), err)
	}
	return c, nil
}

// Installed returns the bundle installed in stateDir and its rules,
// verified again (a file changed on disk is refused); nil, nil, nil when
// none is installed. The signer's certificate is checked as of the
// bundle's creation, which Install checked against the clock: a bundle
// stays usable after its signer's certificate ends.
func Installed(stateDir string) (*Bundle, []*rules.Rule, error) {
	p := filepath.Join(stateDir, BundlePath)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ca, err := PinnedCA(stateDir)
	if err != nil {
		return nil, nil, err
	}
	bd, err := Decode(b)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	if err := bd.Verify(ca, bd.Created); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	rs, err := bd.ParseRules()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", p, err)
	}
	return bd, rs, nil
}

// LoadInstalled returns the rules an agent evaluates: the shipped Linux
// rules and, when one is installed, the cloud's bundle (verified again;
// its rules replace shipped ones with the same id). A bundle that no
// longer verifies is an error, never silently skipped.
func LoadInstalled(stateDir string) (*rules.Set, error) {
	set, err := rules.Shipped()
	if err != nil {
		return nil, err
	}
	_, rs, err := Installed(stateDir)
	if err != nil || rs == nil {
		return set, err
	}
	return set.With(rs), nil
}

// Result says what Install did.
type Result struct {
	Installed bool   // false: the agent already held this generation
	Previous  uint64 // the generation held before; 0: none
	Bundle    *Bundle
	Rules     []*rules.Rule
}

// Install verifies an encoded bundle against the pinned CA at time now and
// installs it in stateDir unless the agent holds the same or a newer
// generation. An older generation than the installed one is refused
// (rollback); so is anything that does not verify. The file is replaced
// atomically.
func Install(stateDir string, b []byte, now time.Time) (Result, error) {
	ca, err := PinnedCA(stateDir)
	if err != nil {
		return Result{}, err
	}
	bd, rs, err := Open(b, ca, now)
	if err != nil {
		return Result{}, err
	}
	res := Result{Bundle: bd, Rules: rs}
	cur, _, err := Installed(stateDir)
	if err != nil {
		// An installed bundle that does not verify is replaced by one that
		// does, whatever its generation.
		cur = nil
	}
	if cur != nil {
		res.Previous = cur.Generation
		switch {
		case bd.Generation < cur.Generation:
			return res, fmt.Errorf("rule bundle: generation %d is older than the installed generation %d: refused (rollback)", bd.Generation, cur.Generation)
		case bd.Generation == cur.Generation:
			return res, nil
		}
	}
	p := filepath.Join(stateDir, BundlePath)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return res, err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, p); err != nil {
		return res, err
	}
	res.Installed = true
	return res, nil
}

// Source serves the latest signed bundle (the cloud: GET /v1/rules).
type Source interface {
	// Rules returns the latest encoded bundle. ENOTFOUND: none published.
	Rules(ctx context.Context) ([]byte, error)
}

// Update downloads the latest bundle from src and installs it (Install).
func Update(ctx context.Context, stateDir string, src Source, now time.Time) (Result, error) {
	if _, err := PinnedCA(stateDir); err != nil {
		return Result{}, err
	}
	b, err := src.Rules(ctx)
	if err != nil {
		return Result{}, err
	}
	return Install(stateDir, b, now)
}
