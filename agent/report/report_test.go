package report_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/scrub"
)

func MustReporter(tb testing.TB) *report.Reporter {
	tb.Helper()
	st, err := state.Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return &report.Reporter{State: st, Scrubber: scrub.Inventory{}}
}

var threat = map[string]any{"sha256": herd.EICARSHA256, "threat_name": "EICAR-Test-File", "path": "/home/alice/eicar.com", "colour": "red"}

func TestReportNeedsConsent(t *testing.T) {
	r := MustReporter(t)
	if ok, _, err := r.Report("threat.detected", threat); ok || err != nil {
		t.Fatalf("without consent: queued %v, %v", ok, err)
	}
	rec, _ := consent.FromProfile(consent.ProfileHomeMinimal, time.Now())
	if _, err := r.SetConsent(rec); err != nil {
		t.Fatal(err)
	}
	ok, dropped, err := r.Report("threat.detected", threat)
	if !ok || err != nil || len(dropped) != 1 || dropped[0] != "colour" {
		t.Fatalf("home-minimal threat: queued %v, dropped %v, %v", ok, dropped, err)
	}
	if ok, _, _ := r.Report("url.check", map[string]any{"url": "https://example.com/"}); ok {
		t.Fatal("home-minimal queued a web event")
	}
	if _, _, err := r.Report("no.such.type", nil); herd.ErrorCode(err) != herd.EINVALID {
		t.Fatalf("unknown type: %v", err)
	}
	q, _ := r.State.Pending(0)
	if len(q) != 1 || strings.Contains(string(q[0].Payload), "alice") || strings.Contains(string(q[0].Payload), "colour") {
		t.Fatalf("outbox %+v: want one scrubbed threat", q)
	}
}

func TestFlushSendsConsentThenEvents(t *testing.T) {
	c, srv := cloud.MustOpenTest(t)
	client, _ := httpapi.NewClient(srv.URL)
	r := MustReporter(t)
	rec, _ := consent.FromProfile(consent.ProfileFull, time.Now())
	r.SetConsent(rec)
	for range 150 {
		if ok, _, err := r.Report("threat.detected", threat); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	res, err := r.Flush(context.Background(), client, srv.URL)
	if err != nil || res.Sent != 150 || res.Batches != 2 || !res.ConsentOut || res.Rejected != 0 {
		t.Fatalf("flush: %+v, %v", res, err)
	}
	if q, _ := r.State.Pending(0); len(q) != 0 {
		t.Fatalf("%d events left in the outbox", len(q))
	}
	if st, _ := c.DB.Telemetry().Stats(context.Background()); st.Events != 150 {
		t.Fatalf("cloud stored %d events", st.Events)
	}
	sent, _ := r.State.LastSent()
	if len(sent) != 2 || !strings.Contains(string(sent[0].Body), `"threat.detected"`) {
		t.Fatalf("sent log %d batches", len(sent))
	}
	// The same record is not sent twice.
	if res, _ := r.Flush(context.Background(), client, srv.URL); res.ConsentOut || res.Batches != 0 {
		t.Fatalf("second flush: %+v", res)
	}
}

// lostAnswer delivers the first telemetry request and then reports a
// failure, as when the connection drops before the answer arrives.
type lostAnswer struct {
	report.Cloud
	lost bool
}

func (c *lostAnswer) SendTelemetryBody(ctx context.Context, body []byte) (herd.IngestResult, error) {
	res, err := c.Cloud.SendTelemetryBody(ctx, body)
	if err == nil && !c.lost {
		c.lost = true
		return herd.IngestResult{}, errors.New("connection reset before the answer")
	}
	return res, err
}

// A batch whose answer was lost is sent again as it was, not topped up with
// newer events, so the cloud recognises it whole; nothing is stored twice.
func TestFlushResendsLostBatchAsItWas(t *testing.T) {
	c, srv := cloud.MustOpenTest(t)
	client, _ := httpapi.NewClient(srv.URL)
	r := MustReporter(t)
	rec, _ := consent.FromProfile(consent.ProfileFull, time.Now())
	r.SetConsent(rec)
	for range 30 {
		r.Report("threat.detected", threat)
	}
	if _, err := r.Flush(context.Background(), &lostAnswer{Cloud: client}, srv.URL); err == nil {
		t.Fatal("flush with a lost answer reported no error")
	}
	for range 20 {
		r.Report("threat.detected", threat)
	}
	res, err := r.Flush(context.Background(), client, srv.URL)
	if err != nil || res.Batches != 2 || res.Sent != 50 {
		t.Fatalf("second flush: %+v, %v; want the 30 again, then the 20 new", res, err)
	}
	sent, _ := r.State.LastSent()
	if len(sent) != 3 || !bytes.Equal(sent[0].Body, sent[1].Body) {
		t.Fatalf("sent log: %d batches; want the first sent twice, byte for byte", len(sent))
	}
	st, err := c.DB.Telemetry().Stats(context.Background())
	if err != nil || st.Events != 50 {
		t.Fatalf("cloud stats %+v, %v; want 50 events", st, err)
	}
	if q, _ := r.State.Pending(0); len(q) != 0 {
		t.Fatalf("%d events left in the outbox", len(q))
	}
}
