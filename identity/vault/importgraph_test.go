package vault_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestTelemetryCannotReachIdentityKeys: no package on the telemetry side
// (the agent's reporting, ingest, scrubbing, pseudonyms, the reputation
// engine, storage, the HTTP API) depends on the identity key material,
// directly or through another package. Only the identity service's
// assembly (package cloud, herdd) opens the vault.
func TestTelemetryCannotReachIdentityKeys(t *testing.T) {
	const keys = "github.com/herdsec/herd/identity/vault"
	telemetry := []string{
		"github.com/herdsec/herd/ingest",
		"github.com/herdsec/herd/scrub",
		"github.com/herdsec/herd/pseudonym",
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
			if d == keys {
				t.Errorf("%s reaches the identity key material (%s)", pkg, keys)
			}
		}
	}
	// The check can fail: the package that assembles the cloud does reach it.
	out, err := exec.Command("go", "list", "-deps", "github.com/herdsec/herd/cloud").CombinedOutput()
	if err != nil || !strings.Contains(string(out), keys+"\n") {
		t.Fatalf("package cloud should open the vault; go list -deps: %v\n%s", err, out)
	}
}
