package reputation

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/jetstream"
)

// A replica deciding from evidence that another replica has since moved on
// must not leave its older verdict in place.
func TestEngineStaleDecisionIsDecidedAgain(t *testing.T) {
	ctx := context.Background()
	db, err := jetstream.Open(ctx, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	e := &Engine{Rules: DefaultRules(), Evidence: db.Evidence(), History: db.History(), Verdicts: db.Verdicts(), Licences: db.Licences()}
	obj := herd.Object{Kind: herd.KindSHA256, Value: strings.Repeat("ab", 32)}
	hour := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	add := func(n int) herd.Evidence {
		ev, _, err := db.Evidence().UpdateEvidence(ctx, obj, func(x *herd.Evidence) bool {
			x.AddDevice(strings.Repeat("d", n))
			x.AddDetection("signature", strings.Repeat("l", n))
			x.Seen(hour)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	add(1)
	stale := add(2) // two sources: suspicious, decided late
	fresh := add(3) // three: malicious, decided first
	if err := e.decide(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if err := e.decide(ctx, stale); err != nil {
		t.Fatal(err)
	}
	r, err := db.Verdicts().Get(ctx, obj)
	if err != nil || r.Verdict != herd.VerdictMalicious || r.Source != herd.SourceRules {
		t.Fatalf("after a late decision from older evidence: %+v, %v; want malicious", r, err)
	}
}
