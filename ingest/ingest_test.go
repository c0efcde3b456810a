package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/ingest"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/pseudonym"
	"github.com/herdsec/herd/scrub"
)

type fixture struct {
	p    *ingest.Pipeline
	db   *jetstream.DB
	keys *pseudonym.Keyring
	reg  *prometheus.Registry
}

// MustOpenPipeline runs the pipeline on real parts: embedded JetStream,
// a key file, the real scrubbers.
func MustOpenPipeline(tb testing.TB) *fixture {
	tb.Helper()
	dir := tb.TempDir()
	db, err := jetstream.Open(context.Background(), jetstream.Config{Dir: filepath.Join(dir, "nats"), MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	keys, err := pseudonym.Open(pseudonym.Config{Path: filepath.Join(dir, "keys", "p.json"), Period: 7 * 24 * time.Hour, Keep: 5}, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	p := ingest.New(ingest.Pipeline{
		Sink: db.Telemetry(), Consents: db.Consent(), Keys: keys, Scrubber: scrub.Inventory{},
		Locate: func(netip.Addr) (string, uint32) { return "SE", 29518 },
	}, reg)
	return &fixture{p: p, db: db, keys: keys, reg: reg}
}

func (f *fixture) consent(tb testing.TB, device string, rec consent.Record) ingest.Receipt {
	tb.Helper()
	r, err := f.p.SetConsent(context.Background(), device, rec)
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (f *fixture) stored(tb testing.TB) []jetstream.Stored {
	tb.Helper()
	var out []jetstream.Stored
	if err := f.db.Telemetry().Each(context.Background(), func(s jetstream.Stored) error {
		out = append(out, s)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	return out
}

func ev(id, typ string, c herd.Category, payload string) herd.Event {
	return herd.Event{ID: id, Type: typ, Category: c, Time: time.Date(2026, 11, 25, 6, 31, 5, 0, time.UTC), Payload: json.RawMessage(payload)}
}

func full(tb testing.TB) consent.Record {
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	return rec
}

func TestIngestStoresDepersonalized(t *testing.T) {
	f := MustOpenPipeline(t)
	f.consent(t, "dev-1", full(t))
	res, err := f.p.Ingest(context.Background(), herd.TelemetryBatch{
		Device: "dev-1", Client: netip.MustParseAddr("89.160.20.130"),
		Events: []herd.Event{ev("e1", "url.check", herd.CategoryWeb, `{"url":"https://bob:pw@example.com/a?session=abcdef0123456789abcdef&page=2#x","verdict":"unknown","tracking":"u-123"}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || len(res.Dropped) != 1 || res.Dropped[0].Field != "tracking" || res.Dropped[0].Code != "undeclared" {
		t.Fatalf("result %+v: want 1 stored and the undeclared field dropped", res)
	}
	st := f.stored(t)
	if len(st) != 1 {
		t.Fatalf("%d stored", len(st))
	}
	s := st[0]
	if s.Device != f.keys.Pseudonym("dev-1") || s.Country != "SE" || s.ASN != 29518 || !s.Hour.Equal(time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)) {
		t.Fatalf("stored %+v", s)
	}
	for _, bad := range []string{"bob", "pw@", "session", "#x", "tracking", "u-123", "dev-1", "89.160"} {
		if strings.Contains(string(s.Payload), bad) || strings.Contains(s.Subject, bad) {
			t.Errorf("stored event holds %q: %s", bad, s.Payload)
		}
	}
	if got := total(t, f.reg, "herd_telemetry_fields_dropped_total"); got != 1 {
		t.Errorf("dropped-field metric = %v, want 1", got)
	}
}

func TestIngestRejectsWithoutConsent(t *testing.T) {
	f := MustOpenPipeline(t)
	threat := ev("t1", "threat.detected", herd.CategoryThreats, `{"sha256":"`+herd.EICARSHA256+`"}`)
	web := ev("w1", "url.check", herd.CategoryWeb, `{"url":"https://example.com/"}`)
	// No consent record at all: nothing is stored.
	res, err := f.p.Ingest(context.Background(), herd.TelemetryBatch{Device: "dev-2", Events: []herd.Event{threat}})
	if err != nil || res.Stored != 0 || len(res.Rejected) != 1 || res.Rejected[0].Code != herd.ECONSENT {
		t.Fatalf("without consent: %+v, %v", res, err)
	}
	// home-minimal allows threats, not web.
	rec, _ := consent.FromProfile(consent.ProfileHomeMinimal, time.Now())
	f.consent(t, "dev-2", rec)
	res, err = f.p.Ingest(context.Background(), herd.TelemetryBatch{Device: "dev-2", Events: []herd.Event{web, threat}})
	if err != nil || res.Stored != 1 || len(res.Rejected) != 1 || res.Rejected[0].Index != 0 || res.Rejected[0].Code != herd.ECONSENT {
		t.Fatalf("home-minimal: %+v, %v", res, err)
	}
	for _, s := range f.stored(t) {
		if s.Category == herd.CategoryWeb {
			t.Fatalf("a web event was stored without consent: %+v", s)
		}
	}
	if got := total(t, f.reg, "herd_telemetry_rejected_total"); got != 2 {
		t.Errorf("rejected metric = %v, want 2", got)
	}
}

func TestIngestRejectsUnknownAndMismatched(t *testing.T) {
	f := MustOpenPipeline(t)
	f.consent(t, "dev-3", full(t))
	res, err := f.p.Ingest(context.Background(), herd.TelemetryBatch{Device: "dev-3", Events: []herd.Event{
		ev("a", "keylogger.dump", herd.CategoryOSEvents, `{}`),
		ev("b", "url.check", herd.CategoryThreats, `{"url":"https://example.com/"}`),
		ev("c", "contact.info", herd.CategoryContact, `{"email":"a@example.com"}`),
		ev("d", "device.info", herd.CategoryDevice, `{"os_family":"plan9"}`),
	}})
	if err != nil || res.Stored != 0 || len(res.Rejected) != 4 {
		t.Fatalf("%+v, %v", res, err)
	}
	for i, want := range []string{"not in the data inventory", "belongs to category web", "identity store", "plan9"} {
		if r := res.Rejected[i]; r.Index != i || r.Code != herd.EINVALID || !strings.Contains(r.Message, want) {
			t.Errorf("rejection %d = %+v, want it to say %q", i, r, want)
		}
	}
}

func TestWithdrawalDeletesAndVerifies(t *testing.T) {
	f := MustOpenPipeline(t)
	ctx := context.Background()
	f.consent(t, "dev-4", full(t))
	f.consent(t, "dev-5", full(t))
	send := func(device string, ids ...string) {
		var evs []herd.Event
		for _, id := range ids {
			evs = append(evs, ev(id, "url.check", herd.CategoryWeb, `{"url":"https://example.com/`+id+`"}`),
				ev(id+"t", "threat.detected", herd.CategoryThreats, `{"sha256":"`+herd.EICARSHA256+`"}`))
		}
		if res, err := f.p.Ingest(ctx, herd.TelemetryBatch{Device: device, Events: evs}); err != nil || res.Stored != len(evs) {
			t.Fatalf("ingest: %+v, %v", res, err)
		}
	}
	send("dev-4", "1", "2")
	// Key rotation: data under the old and the new pseudonym.
	if rotated, err := f.keys.Rotate(time.Now().Add(8 * 24 * time.Hour)); err != nil || !rotated {
		t.Fatalf("rotate: %v, %v", rotated, err)
	}
	send("dev-4", "3")
	send("dev-5", "4")

	r := f.consent(t, "dev-4", full(t).With(herd.CategoryWeb, false, time.Now()))
	if len(r.Withdrawn) != 1 || r.Withdrawn[0] != herd.CategoryWeb || r.Deleted[herd.CategoryWeb] != 3 || r.Remaining != 0 || !r.Verified {
		t.Fatalf("receipt %+v: want web withdrawn, 3 deleted, verified", r)
	}
	left := map[string]int{}
	for _, s := range f.stored(t) {
		left[string(s.Category)+"/"+map[bool]string{true: "dev-4", false: "other"}[s.Device == f.keys.Pseudonym("dev-4") || s.Device == f.keys.All("dev-4")[1]]]++
	}
	if left["web/dev-4"] != 0 || left["threats/dev-4"] != 3 || left["web/other"] != 1 || left["threats/other"] != 1 {
		t.Fatalf("left after withdrawal: %v", left)
	}
	// New web events of dev-4 are refused from now on.
	res, _ := f.p.Ingest(ctx, herd.TelemetryBatch{Device: "dev-4", Events: []herd.Event{ev("9", "url.check", herd.CategoryWeb, `{"url":"https://example.com/"}`)}})
	if res.Stored != 0 || len(res.Rejected) != 1 {
		t.Fatalf("after withdrawal: %+v", res)
	}
}

// total sums a counter's values over all its labels.
func total(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// BenchmarkIngest100 measures the pipeline in-process (inventory, consent,
// second scrub pass, pseudonyms, JetStream append with acks) for batches of
// 100 events of a realistic mix, without HTTP.
func BenchmarkIngest100(b *testing.B) {
	f := MustOpenPipeline(b)
	f.consent(b, "dev-b", full(b))
	mix := []herd.Event{
		ev("", "process.start", herd.CategoryOSEvents, `{"image_sha256":"3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7","image_path":"/usr/bin/curl","parent_path":"/usr/bin/bash","command_line":"curl -s https://updates.example.com/v2/check?channel=stable -o /tmp/u.json"}`),
		ev("", "url.check", herd.CategoryWeb, `{"url":"https://shop.example.com/cart?item=42&utm_source=mail&session=9f8e7d6c5b4a39281706f5e4d3c2b1a0","verdict":"unknown"}`),
		ev("", "threat.detected", herd.CategoryThreats, `{"sha256":"`+herd.EICARSHA256+`","threat_name":"EICAR-Test-File","method":"signature","action":"reported","path":"/home/alice/Downloads/eicar.com"}`),
	}
	batch := make([]herd.Event, 100)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for i := range batch {
			batch[i] = mix[i%len(mix)]
			batch[i].ID = fmt.Sprintf("b%d", n)
			n++
		}
		res, err := f.p.Ingest(context.Background(), herd.TelemetryBatch{Device: "dev-b", Events: batch})
		if err != nil || res.Stored != len(batch) {
			b.Fatalf("%+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
