package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/inventory"
)

// TestRetentionPerEventType: an event is removed when its type's retention
// ends (a per-message TTL), while events kept longer stay; every stored
// group carries its type's retention from the data inventory.
func TestRetentionPerEventType(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := mustOpen(t, t.TempDir())
	sink := db.Telemetry()
	ev := func(typ string, c herd.Category, i int, keep time.Duration) herd.StoredEvent {
		return herd.StoredEvent{Type: typ, Category: c, Hour: time.Now().UTC().Truncate(time.Hour), Country: "ZZ", Device: "dev1",
			Payload: json.RawMessage(`{}`), DedupID: fmt.Sprint(typ, i), Retention: keep}
	}
	var evs []herd.StoredEvent
	for i := range 3 {
		evs = append(evs, ev("wifi.seen", herd.CategoryWiFi, i, 2*time.Second), ev("scan.finished", herd.CategoryOperation, i, time.Hour))
	}
	if _, err := sink.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	count := func(c herd.Category) uint64 {
		n, err := sink.count(ctx, subject(c, "dev1"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count(herd.CategoryWiFi) != 1 || count(herd.CategoryOperation) != 1 {
		t.Fatalf("stored %d wifi and %d operation groups, want 1 each", count(herd.CategoryWiFi), count(herd.CategoryOperation))
	}
	m, err := sink.stream.GetLastMsgForSubject(ctx, subject(herd.CategoryOperation, "dev1"))
	if err != nil || m.Header.Get("Nats-TTL") != "1h0m0s" {
		t.Fatalf("operation group's TTL header %q (%v), want 1h0m0s", m.Header.Get("Nats-TTL"), err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for count(herd.CategoryWiFi) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("wifi events still stored 20 s after their 2 s retention ended")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if count(herd.CategoryOperation) != 1 {
		t.Fatal("events kept for an hour went with the 2-second ones")
	}

	// The inventory gives every telemetry event type a retention within
	// the store's maximum, so none outlives what the documentation says.
	for _, et := range inventory.Types() {
		if et.Destination != inventory.DestinationTelemetry {
			continue
		}
		if et.Retention <= 0 || et.Retention > Defaults().TelemetryMaxAge {
			t.Errorf("%s: retention %v, want within (0, %v]", et.Name, et.Retention, Defaults().TelemetryMaxAge)
		}
	}
}
