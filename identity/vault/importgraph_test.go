package vault_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTelemetryCannotReachIdentityKeys: no package on the telemetry side
// (the agent's reporting, ingest, scrubbing, the reputation engine,
// storage, the HTTP API, data subject requests) depends on the identity key
// material — the vault, and the pseudonym keys that link a pseudonym to a
// device — directly or through another package. Ingest makes pseudonyms
// through an interface; only the cloud's assembly (package cloud, herdd)
// opens the keys.
func TestTelemetryCannotReachIdentityKeys(t *testing.T) {
	keyPackages := []string{"github.com/herdsec/herd/identity/vault", "github.com/herdsec/herd/pseudonym"}
	telemetry := []string{
		"github.com/herdsec/herd/ingest",
		"github.com/herdsec/herd/scrub",
		"github.com/herdsec/herd/dsr",
		"github.com/herdsec/herd/inventory",
		"github.com/herdsec/herd/consent",
		"github.com/herdsec/herd/geoip",
		"github.com/herdsec/herd/reputation",
		"github.com/herdsec/herd/jetstream",
		"github.com/herdsec/herd/httpapi",
		"github.com/herdsec/herd/agent/report",
		"github.com/herdsec/herd/agent/state",
	}
	for _, pkg := range telemetry {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 5 {
			t.Fatalf("go list -deps %s listed %d packages: %q", pkg, len(deps), deps)
		}
		for _, d := range deps {
			for _, k := range keyPackages {
				if d == k {
					t.Errorf("%s reaches the identity key material (%s)", pkg, k)
				}
			}
		}
	}
	// The check can fail: the package that assembles the cloud does reach them.
	out, err := exec.Command("go", "list", "-deps", "github.com/herdsec/herd/cloud").CombinedOutput()
	for _, k := range keyPackages {
		if err != nil || !strings.Contains(string(out), k+"\n") {
			t.Fatalf("package cloud should open %s; go list -deps: %v\n%s", k, err, out)
		}
	}
}
