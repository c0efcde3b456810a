package jetstream_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/jetstream"
)

// backends runs a test against JetStream embedded in-process and against a
// separate NATS server on 127.0.0.1 reached by URL: the same code path.
func backends(t *testing.T, fn func(t *testing.T, cfg jetstream.Config)) {
	t.Run("embedded", func(t *testing.T) {
		fn(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20})
	})
	t.Run("external", func(t *testing.T) {
		fn(t, jetstream.Config{URL: MustStartNATS(t)})
	})
}

// MustStartNATS starts a standalone JetStream server listening on
// 127.0.0.1 and returns its client URL.
func MustStartNATS(tb testing.TB) string {
	tb.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: tb.TempDir(),
		JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20, NoSigs: true, NoLog: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		tb.Fatal("nats server not ready")
	}
	tb.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv.ClientURL()
}

// MustOpen opens a DB and closes it when the test ends.
func MustOpen(tb testing.TB, cfg jetstream.Config) *jetstream.DB {
	tb.Helper()
	db, err := jetstream.Open(context.Background(), cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

func sha(i int) herd.Object {
	return herd.Object{Kind: herd.KindSHA256, Value: fmt.Sprintf("%064x", i)}
}

func TestVerdictStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		db := MustOpen(t, cfg)
		vs := db.Verdicts()
		if _, err := vs.Get(ctx, sha(1)); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("Get of unknown: err = %v, want ENOTFOUND", err)
		}
		url := herd.Object{Kind: herd.KindURL, Value: "http://example.com/a b?x=1"}
		if _, err := vs.Put(ctx, herd.Record{Object: url, Verdict: herd.VerdictMalicious, Source: herd.SourceOperator}); herd.ErrorCode(err) != herd.EINVALID {
			t.Fatalf("Put of a URL with a space: err = %v, want EINVALID", err)
		}
		url.Value = "http://example.com/a/b?x=1"
		seq1, err := vs.Put(ctx, herd.Record{Object: url, Verdict: herd.VerdictMalicious, Threat: "Phish.A", Source: herd.SourceOperator})
		if err != nil {
			t.Fatal(err)
		}
		got, err := vs.Get(ctx, herd.Object{Kind: herd.KindURL, Value: "http://example.com/a/b?x=1"})
		if err != nil {
			t.Fatal(err)
		}
		if got.Threat != "Phish.A" || got.Verdict != herd.VerdictMalicious || got.Object.Value != "http://example.com/a/b?x=1" {
			t.Fatalf("Get = %+v", got)
		}
		seq2, err := vs.Put(ctx, herd.Record{Object: sha(1), Verdict: herd.VerdictSuspicious, Threat: "Odd", Source: herd.SourceOperator})
		if err != nil || seq2 <= seq1 {
			t.Fatalf("second Put: seq %d after %d, err %v", seq2, seq1, err)
		}
	})
}

// collect reads changes until the backlog is delivered and want more
// changes arrived, or the deadline passes.
func collect(t *testing.T, ch <-chan herd.VerdictChange, want int) []herd.VerdictChange {
	t.Helper()
	var got []herd.VerdictChange
	deadline := time.After(10 * time.Second)
	for len(got) < want {
		select {
		case c, ok := <-ch:
			if !ok {
				t.Fatalf("change feed closed after %d changes", len(got))
			}
			if !c.CaughtUp {
				got = append(got, c)
			}
		case <-deadline:
			t.Fatalf("got %d changes, want %d", len(got), want)
		}
	}
	return got
}

func TestVerdictChangesResume(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		vs := MustOpen(t, cfg).Verdicts()
		put := func(i int, threat string) uint64 {
			seq, err := vs.Put(ctx, herd.Record{Object: sha(i), Verdict: herd.VerdictMalicious, Threat: threat, Source: herd.SourceOperator})
			if err != nil {
				t.Fatal(err)
			}
			return seq
		}
		put(1, "A")
		last := put(2, "B")

		live, err := vs.Changes(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := collect(t, live, 2)
		if got[0].Record.Threat != "A" || got[1].Record.Threat != "B" || got[1].Seq != last {
			t.Fatalf("backlog = %+v", got)
		}
		// A client that saw up to `last` goes away; three changes happen,
		// one object twice.
		put(3, "C")
		put(1, "A2")
		final := put(4, "D")
		resumed, err := vs.Changes(ctx, last)
		if err != nil {
			t.Fatal(err)
		}
		got = collect(t, resumed, 3)
		threats := map[string]uint64{}
		for _, c := range got {
			if c.Seq <= last {
				t.Fatalf("resumed feed delivered seq %d <= %d", c.Seq, last)
			}
			threats[c.Record.Threat] = c.Seq
		}
		if len(threats) != 3 || threats["C"] == 0 || threats["A2"] == 0 || threats["D"] != final {
			t.Fatalf("resumed changes = %+v", got)
		}
		// The live feed saw every change too.
		if got := collect(t, live, 3); got[2].Seq != final {
			t.Fatalf("live feed = %+v", got)
		}
	})
}

var hour = time.Date(2026, 11, 25, 6, 0, 0, 0, time.UTC)

// events makes stored events of device "dev1", category threats, one per id.
func events(ids ...string) []herd.StoredEvent {
	return deviceEvents("dev1", herd.CategoryThreats, ids...)
}

func deviceEvents(device string, c herd.Category, ids ...string) []herd.StoredEvent {
	var evs []herd.StoredEvent
	for _, id := range ids {
		evs = append(evs, herd.StoredEvent{Type: "threat.detected", Category: c, Hour: hour, Country: "SE", Device: device,
			Payload: json.RawMessage(`{"n":"` + id + `"}`), DedupID: device + "-" + id})
	}
	return evs
}

func TestTelemetryDeduplication(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		tel := MustOpen(t, cfg).Telemetry()
		res, err := tel.Append(ctx, events("a", "b", "c"))
		if err != nil || res != (herd.AppendResult{Stored: 3}) {
			t.Fatalf("first Append = %+v, %v", res, err)
		}
		res, err = tel.Append(ctx, events("b", "c", "d"))
		if err != nil || res != (herd.AppendResult{Stored: 1, Duplicates: 2}) {
			t.Fatalf("re-send = %+v, %v; want 1 stored, 2 duplicates", res, err)
		}
		st, err := tel.Stats(ctx)
		if err != nil || st.Events != 4 {
			t.Fatalf("Stats = %+v, %v; want 4 events", st, err)
		}
		var ids []string
		err = tel.Each(ctx, func(e jetstream.Stored) error {
			if e.Category != herd.CategoryThreats || e.Subject != "herd.telemetry.threats.dev1" || !e.Hour.Equal(hour) || e.Country != "SE" {
				t.Errorf("stored event %+v", e)
			}
			ids = append(ids, string(e.Payload))
			return nil
		})
		if err != nil || fmt.Sprint(ids) != `[{"n":"a"} {"n":"b"} {"n":"c"} {"n":"d"}]` {
			t.Fatalf("stored = %v, %v", ids, err)
		}
		// An event given twice in one append is stored once.
		if res, err := tel.Append(ctx, events("e", "e")); err != nil || res != (herd.AppendResult{Stored: 1, Duplicates: 1}) {
			t.Fatalf("twice in one append = %+v, %v", res, err)
		}
	})
}

// An exact re-send reaching another sink (another herdd replica, or the
// same one after a restart) is recognised by JetStream, in any order.
func TestTelemetryResendToAnotherReplica(t *testing.T) {
	ctx := context.Background()
	srv := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20, Listen: "127.0.0.1:0"})
	a := MustOpen(t, jetstream.Config{URL: srv.ClientURL()}).Telemetry()
	b := MustOpen(t, jetstream.Config{URL: srv.ClientURL()}).Telemetry()
	batch := append(events("a", "b", "c"), deviceEvents("dev1", herd.CategoryWeb, "w")...)
	if res, err := a.Append(ctx, batch); err != nil || res != (herd.AppendResult{Stored: 4}) {
		t.Fatalf("first Append = %+v, %v", res, err)
	}
	resend := append(deviceEvents("dev1", herd.CategoryWeb, "w"), events("c", "a", "b")...)
	if res, err := b.Append(ctx, resend); err != nil || res != (herd.AppendResult{Duplicates: 4}) {
		t.Fatalf("re-send to the other replica = %+v, %v; want 4 duplicates", res, err)
	}
	if st, err := srv.Telemetry().Stats(ctx); err != nil || st.Events != 4 || st.Messages != 2 {
		t.Fatalf("Stats = %+v, %v; want 4 events in 2 messages", st, err)
	}
}

// Events go to JetStream in groups per category and device, large groups
// cut in several messages; every event is counted and read back.
func TestTelemetryGroups(t *testing.T) {
	ctx := context.Background()
	tel := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20}).Telemetry()
	var batch []herd.StoredEvent
	for i := range 100 {
		c := []herd.Category{herd.CategoryThreats, herd.CategoryWeb, herd.CategoryOSEvents}[i%3]
		batch = append(batch, deviceEvents("dev1", c, strconv.Itoa(i))...)
	}
	if res, err := tel.Append(ctx, batch); err != nil || res.Stored != 100 {
		t.Fatalf("Append = %+v, %v", res, err)
	}
	if st, err := tel.Stats(ctx); err != nil || st.Events != 100 || st.Messages != 3 {
		t.Fatalf("Stats = %+v, %v; want 100 events in 3 messages", st, err)
	}
	// 600 events of 1 KiB: more than one message's worth.
	big := deviceEvents("dev2", herd.CategoryWeb)
	pad := strings.Repeat("x", 1000)
	for i := range 600 {
		big = append(big, herd.StoredEvent{Type: "url.check", Category: herd.CategoryWeb, Hour: hour, Country: "SE", Device: "dev2",
			Payload: json.RawMessage(`{"n":"` + strconv.Itoa(i) + pad + `"}`), DedupID: "big-" + strconv.Itoa(i)})
	}
	if res, err := tel.Append(ctx, big); err != nil || res.Stored != 600 {
		t.Fatalf("Append big = %+v, %v", res, err)
	}
	st, err := tel.Stats(ctx)
	if err != nil || st.Events != 700 || st.Messages < 6 {
		t.Fatalf("Stats = %+v, %v; want 700 events in at least 6 messages", st, err)
	}
	n := 0
	if err := tel.Each(ctx, func(e jetstream.Stored) error { n++; return nil }); err != nil || n != 700 {
		t.Fatalf("Each read %d events, %v", n, err)
	}
	deleted, remaining, err := tel.Delete(ctx, herd.CategoryWeb, []string{"dev2"})
	if err != nil || deleted != 600 || remaining != 0 {
		t.Fatalf("Delete = %d, %d, %v; want 600, 0", deleted, remaining, err)
	}
}

// A sink remembers only the last DedupMemory events: an event re-sent in a
// different company is recognised while it is among them.
func TestTelemetryDedupMemory(t *testing.T) {
	ctx := context.Background()
	tel := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20, DedupMemory: 2}).Telemetry()
	if _, err := tel.Append(ctx, events("a", "b", "c")); err != nil {
		t.Fatal(err)
	}
	if res, err := tel.Append(ctx, events("c", "y")); err != nil || res != (herd.AppendResult{Stored: 1, Duplicates: 1}) {
		t.Fatalf("recent event re-sent = %+v, %v; want 1 stored, 1 duplicate", res, err)
	}
	if res, err := tel.Append(ctx, events("a", "z")); err != nil || res != (herd.AppendResult{Stored: 2}) {
		t.Fatalf("forgotten event re-sent = %+v, %v; want 2 stored", res, err)
	}
}

func TestTelemetryDelete(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		tel := MustOpen(t, cfg).Telemetry()
		var all []herd.StoredEvent
		all = append(all, deviceEvents("devA1", herd.CategoryWeb, "1", "2", "3")...)
		all = append(all, deviceEvents("devA2", herd.CategoryWeb, "4")...) // the same device after a key rotation
		all = append(all, deviceEvents("devA1", herd.CategoryThreats, "5")...)
		all = append(all, deviceEvents("devB", herd.CategoryWeb, "6")...)
		if _, err := tel.Append(ctx, all); err != nil {
			t.Fatal(err)
		}
		deleted, remaining, err := tel.Delete(ctx, herd.CategoryWeb, []string{"devA1", "devA2"})
		if err != nil || deleted != 4 || remaining != 0 {
			t.Fatalf("Delete = %d deleted, %d remaining, %v; want 4, 0", deleted, remaining, err)
		}
		var left []string
		tel.Each(ctx, func(e jetstream.Stored) error {
			left = append(left, e.Device+string(e.Payload))
			return nil
		})
		if fmt.Sprint(left) != `[devA1{"n":"5"} devB{"n":"6"}]` {
			t.Fatalf("left after delete: %v", left)
		}
		if _, _, err := tel.Delete(ctx, herd.CategoryWeb, []string{"dev.*"}); herd.ErrorCode(err) != herd.EINVALID {
			t.Fatalf("a wildcard pseudonym must be refused, got %v", err)
		}
	})
}

func TestConsentStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		cs := MustOpen(t, cfg).Consent()
		if _, err := cs.Consent(ctx, "abc"); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("missing record: %v", err)
		}
		for _, v := range []string{`{"v":1}`, `{"v":2}`} {
			if err := cs.SetConsent(ctx, "abc", json.RawMessage(v)); err != nil {
				t.Fatal(err)
			}
		}
		if got, err := cs.Consent(ctx, "abc"); err != nil || string(got) != `{"v":2}` {
			t.Fatalf("latest record = %s, %v", got, err)
		}
		if err := cs.SetConsent(ctx, "a.b", json.RawMessage(`{}`)); herd.ErrorCode(err) != herd.EINVALID {
			t.Fatalf("bad key: %v", err)
		}
	})
}

func TestPersistsAcrossRestart(t *testing.T) {
	ctx := context.Background()
	cfg := jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20}
	db, err := jetstream.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Verdicts().Put(ctx, herd.Record{Object: sha(7), Verdict: herd.VerdictClean, Source: herd.SourceOperator}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Telemetry().Append(ctx, events("x")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db = MustOpen(t, cfg)
	if r, err := db.Verdicts().Get(ctx, sha(7)); err != nil || r.Verdict != herd.VerdictClean {
		t.Fatalf("after restart: %+v, %v", r, err)
	}
	if st, err := db.Telemetry().Stats(ctx); err != nil || st.Events != 1 {
		t.Fatalf("after restart: %+v, %v", st, err)
	}
	// De-duplication survives the restart.
	if res, err := db.Telemetry().Append(ctx, events("x")); err != nil || res.Duplicates != 1 {
		t.Fatalf("re-send after restart = %+v, %v", res, err)
	}
}

func TestEmbeddedOpensNoPortByDefault(t *testing.T) {
	db := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20})
	if u := db.ClientURL(); u != "" {
		t.Fatalf("ClientURL = %q, want none", u)
	}
	db2 := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20, Listen: "127.0.0.1:0"})
	if u := db2.ClientURL(); u == "" {
		t.Fatal("Listen set but no client URL")
	}
}
