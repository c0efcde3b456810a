package cloud_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
)

// agent is a simulated agent talking real HTTP to a real cloud.
type agent struct {
	device, licence string
	api             *httpapi.Client
}

func newAgent(t *testing.T, url, device, licence string) *agent {
	t.Helper()
	api, err := httpapi.NewClient(url)
	if err != nil {
		t.Fatal(err)
	}
	a := &agent{device: device, licence: licence, api: api}
	rec, _ := consent.FromProfile(consent.ProfileFull, time.Now())
	if _, err := api.SetConsent(context.Background(), device, rec); err != nil {
		t.Fatal(err)
	}
	return a
}

// report sends the agent's licence and n detections of hash.
func (a *agent) report(t *testing.T, hash string, n int) {
	t.Helper()
	now := time.Now().UTC()
	evs := []herd.Event{{ID: a.device + "-lic", Type: "license.info", Category: herd.CategoryLicense, Time: now,
		Payload: json.RawMessage(`{"product_version":"1.0.0","license_id":"` + a.licence + `"}`)}}
	for i := range n {
		evs = append(evs, herd.Event{ID: fmt.Sprintf("%s-%s-%d", a.device, hash[:8], i), Type: "threat.detected", Category: herd.CategoryThreats, Time: now,
			Payload: json.RawMessage(`{"sha256":"` + hash + `","threat_name":"Trojan.Fleet.Test","method":"signature","action":"quarantined"}`)})
	}
	res, err := a.api.SendTelemetry(context.Background(), a.device, evs)
	if err != nil || len(res.Rejected) > 0 {
		t.Fatalf("agent %s: telemetry %+v, %v", a.device, res, err)
	}
}

// watch follows the verdict stream from after and sends each record of
// hash to got, until ctx ends.
func (a *agent) watch(ctx context.Context, after uint64, hash string, got chan<- herd.Record, caughtUp chan<- uint64) {
	a.api.Stream(ctx, after, func(c herd.VerdictChange) error {
		if c.CaughtUp && caughtUp != nil {
			caughtUp <- after
			caughtUp = nil
		}
		if c.Record.Object.Value == hash {
			got <- c.Record
		}
		after = max(after, c.Seq)
		return nil
	})
}

func licence(n int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "licence %d", n))
	return hex.EncodeToString(sum[:16])
}

func hashOf(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// TestFleetVerdictReachesEveryAgent: agents on distinct licences report a
// new hash; once the rule's threshold (3 sources) is crossed, every
// connected agent has the malicious verdict, and an agent that was offline
// gets it when it reconnects.
func TestFleetVerdictReachesEveryAgent(t *testing.T) {
	_, srv := cloud.MustOpenTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	hash := hashOf("fleet sample")
	const connected = 8
	var agents []*agent
	for i := range connected + 1 {
		agents = append(agents, newAgent(t, srv.URL, fmt.Sprintf("fleet-device-%02d", i), licence(i)))
	}
	// Every agent connects; the last one then goes offline.
	got := make(chan herd.Record, 64)
	var wg sync.WaitGroup
	ready := make(chan uint64, connected+1)
	for _, a := range agents[:connected] {
		wg.Go(func() { a.watch(ctx, 0, hash, got, ready) })
	}
	offCtx, offline := context.WithCancel(ctx)
	offGot := make(chan herd.Record, 8)
	offReady := make(chan uint64, 1)
	go agents[connected].watch(offCtx, 0, hash, offGot, offReady)
	for range connected {
		<-ready
	}
	lastSeen := <-offReady
	offline()

	// Two sources: suspicious, pushed at once.
	agents[0].report(t, hash, 1)
	agents[1].report(t, hash, 5) // repeats count once
	want := map[herd.Verdict]int{}
	deadline := time.After(30 * time.Second)
	for want[herd.VerdictSuspicious] < connected {
		select {
		case r := <-got:
			want[r.Verdict]++
		case <-deadline:
			t.Fatalf("after 2 sources: %v of %d agents have a verdict", want, connected)
		}
	}
	// The third source makes it malicious, on every connected agent.
	agents[2].report(t, hash, 1)
	for want[herd.VerdictMalicious] < connected {
		select {
		case r := <-got:
			if r.Source != herd.SourceRules || r.Threat != "Trojan.Fleet.Test" {
				t.Fatalf("pushed record %+v", r)
			}
			want[r.Verdict]++
		case <-deadline:
			t.Fatalf("after 3 sources: %v of %d agents have the malicious verdict", want, connected)
		}
	}
	// The offline agent reconnects from where it was and catches up.
	go agents[connected].watch(ctx, lastSeen, hash, offGot, nil)
	select {
	case r := <-offGot:
		if r.Verdict != herd.VerdictMalicious {
			t.Fatalf("reconnected agent got %+v, want the latest (malicious)", r)
		}
	case <-deadline:
		t.Fatal("the reconnected agent did not get the verdict")
	}
	// Lookups agree, and the history explains it.
	recs, err := agents[0].api.Lookup(ctx, []herd.Object{{Kind: herd.KindSHA256, Value: hash}})
	if err != nil || recs[0].Verdict != herd.VerdictMalicious {
		t.Fatalf("lookup: %+v, %v", recs, err)
	}
	cancel()
	wg.Wait()
}

// waitEvidence waits until the engine has counted devices reporting obj.
func waitEvidence(t *testing.T, c *cloud.Cloud, obj herd.Object, devices int) herd.Evidence {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev, err := c.DB.Evidence().Evidence(context.Background(), obj)
		if err == nil && len(ev.Devices) >= devices {
			return ev
		}
		if time.Now().After(deadline) {
			t.Fatalf("evidence of %s: %+v, %v; want %d devices", obj, ev, err, devices)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPoisoningOneLicenceMakesNoVerdict: 1,000 reports from 100 devices
// under one licence are one independent source: no verdict.
func TestPoisoningOneLicenceMakesNoVerdict(t *testing.T) {
	c, srv := cloud.MustOpenTest(t)
	hash := hashOf("poison")
	for i := range 100 {
		newAgent(t, srv.URL, fmt.Sprintf("poison-device-%03d", i), licence(666)).report(t, hash, 10)
	}
	obj := herd.Object{Kind: herd.KindSHA256, Value: hash}
	ev := waitEvidence(t, c, obj, 100)
	if src := ev.DetectionSources(); len(src) != 1 {
		t.Fatalf("detection sources %v, want the one licence", src)
	}
	if _, err := c.DB.Verdicts().Get(context.Background(), obj); herd.ErrorCode(err) != herd.ENOTFOUND {
		t.Fatalf("a verdict was stored: %v", err)
	}
	if h, _ := c.DB.History().History(context.Background(), obj); len(h) != 0 {
		t.Fatalf("history %+v, want none", h)
	}
}

// TestPoisoningRulesKeepOperatorVerdict: an operator's clean verdict stands
// against detections from three licences; the history says why.
func TestPoisoningRulesKeepOperatorVerdict(t *testing.T) {
	c, srv := cloud.MustOpenTest(t)
	hash := hashOf("operator says clean")
	obj := herd.Object{Kind: herd.KindSHA256, Value: hash}
	admin, _ := httpapi.NewClient(srv.URL)
	admin.Token = cloud.TestToken
	if _, err := admin.SetVerdicts(context.Background(), []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: herd.VerdictClean}}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		newAgent(t, srv.URL, fmt.Sprintf("op-device-%d", i), licence(100+i)).report(t, hash, 1)
	}
	waitEvidence(t, c, obj, 3)
	deadline := time.Now().Add(30 * time.Second)
	var h []herd.HistoryEntry
	for {
		h, _ = c.DB.History().History(context.Background(), obj)
		if len(h) > 0 && h[len(h)-1].Verdict == herd.VerdictMalicious || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(h); n == 0 || h[n-1].Applied || h[n-1].Verdict != herd.VerdictMalicious {
		t.Fatalf("history %+v: want the malicious rule decision, not applied", h)
	}
	r, err := c.DB.Verdicts().Get(context.Background(), obj)
	if err != nil || r.Verdict != herd.VerdictClean || r.Source != herd.SourceOperator {
		t.Fatalf("stored verdict %+v, %v; want the operator's clean", r, err)
	}
}
