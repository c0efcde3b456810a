package state_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

// sized returns an event whose stored form takes about n bytes.
func sized(id string, c herd.Category, n int) herd.Event {
	pad, _ := json.Marshal(map[string]string{"pad": strings.Repeat("x", n)})
	return herd.Event{ID: id, Type: "x", Category: c, Time: time.Unix(0, 0).UTC(), Payload: pad}
}

func TestOutboxBoundDropsLowPriorityFirstNeverThreats(t *testing.T) {
	s := MustOpen(t, t.TempDir())
	const each = 1000
	s.SetOutboxLimit(10 * 1200) // room for about ten events
	var batch []herd.Event
	for i := range 4 {
		batch = append(batch, sized(fmt.Sprint("op", i), herd.CategoryOperation, each))
		batch = append(batch, sized(fmt.Sprint("apps", i), herd.CategoryApps, each))
	}
	if n, err := s.Enqueue(batch); err != nil || n != 0 {
		t.Fatalf("Enqueue under the bound dropped %d, %v", n, err)
	}
	// Four threat reports need room: operation data goes first, oldest first.
	var threats []herd.Event
	for i := range 4 {
		threats = append(threats, sized(fmt.Sprint("threat", i), herd.CategoryThreats, each))
	}
	if _, err := s.Enqueue(threats); err != nil {
		t.Fatal(err)
	}
	// Eight more threat reports: over the bound, all kept, the rest dropped.
	threats = threats[:0]
	for i := 4; i < 12; i++ {
		threats = append(threats, sized(fmt.Sprint("threat", i), herd.CategoryThreats, each))
	}
	if _, err := s.Enqueue(threats); err != nil {
		t.Fatal(err)
	}
	// An operation event no longer fits and there is nothing below it: dropped.
	if n, err := s.Enqueue([]herd.Event{sized("op-late", herd.CategoryOperation, each)}); err != nil || n == 0 {
		t.Fatalf("Enqueue into a full outbox dropped %d, %v; want the new low-priority event dropped", n, err)
	}
	q, err := s.Pending(0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	count := map[herd.Category]int{}
	for _, e := range q {
		got = append(got, e.ID)
		count[e.Category]++
	}
	if count[herd.CategoryThreats] != 12 {
		t.Fatalf("threat reports kept = %d, want all 12 (outbox %v)", count[herd.CategoryThreats], got)
	}
	if count[herd.CategoryOperation] != 0 || count[herd.CategoryApps] != 0 {
		t.Fatalf("outbox %v: low-priority events kept while over the bound", got)
	}
	dropped, err := s.Dropped()
	if err != nil {
		t.Fatal(err)
	}
	if dropped[herd.CategoryOperation] != 5 || dropped[herd.CategoryApps] != 4 || dropped[herd.CategoryThreats] != 0 {
		t.Fatalf("Dropped = %v, want operation 5, apps 4, threats 0", dropped)
	}
}

func TestOutboxBoundOrder(t *testing.T) {
	s := MustOpen(t, t.TempDir())
	const each = 1000
	s.SetOutboxLimit(3 * 1100)
	mustEnqueue := func(evs ...herd.Event) int {
		t.Helper()
		n, err := s.Enqueue(evs)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	mustEnqueue(sized("apps", herd.CategoryApps, each), sized("op", herd.CategoryOperation, each), sized("sus", herd.CategorySuspicious, each))
	// An OS event makes room by dropping operation data (lowest), not apps.
	if n := mustEnqueue(sized("os", herd.CategoryOSEvents, each)); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	// Another: apps goes next.
	if n := mustEnqueue(sized("os2", herd.CategoryOSEvents, each)); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	// A Wi-Fi event ranks below everything left: it is the one dropped.
	if n := mustEnqueue(sized("wifi", herd.CategoryWiFi, each)); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	// A third OS event replaces the oldest OS event (its own category), not
	// the suspicious-file report that ranks above it.
	mustEnqueue(sized("os3", herd.CategoryOSEvents, each))
	q, _ := s.Pending(0)
	var got []string
	for _, e := range q {
		got = append(got, e.ID)
	}
	if strings.Join(got, ",") != "sus,os2,os3" {
		t.Fatalf("outbox = %v, want [sus os2 os3]", got)
	}
	// Removing and purging keep the byte count true: an empty outbox is 0.
	var seqs []uint64
	for _, e := range q[:1] {
		seqs = append(seqs, e.Seq)
	}
	if err := s.Remove(seqs); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(func(herd.Category) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.OutboxBytes(); err != nil || n != 0 {
		t.Fatalf("OutboxBytes after emptying = %d, %v", n, err)
	}
}

// TestOutboxDropsNothingInVain: when dropping everything below a new event
// would still not make room for it, nothing is dropped but the new event.
func TestOutboxDropsNothingInVain(t *testing.T) {
	s := MustOpen(t, t.TempDir())
	s.SetOutboxLimit(3 * 1100)
	if _, err := s.Enqueue([]herd.Event{sized("apps", herd.CategoryApps, 1000), sized("sus1", herd.CategorySuspicious, 1000), sized("sus2", herd.CategorySuspicious, 1000)}); err != nil {
		t.Fatal(err)
	}
	// An OS event of 2,500 bytes: apps (1,000) is all that ranks below it.
	if n, err := s.Enqueue([]herd.Event{sized("big-os", herd.CategoryOSEvents, 2500)}); err != nil || n != 1 {
		t.Fatalf("dropped %d, %v; want only the new event", n, err)
	}
	q, _ := s.Pending(0)
	if len(q) != 3 || q[0].ID != "apps" {
		t.Fatalf("outbox %+v: the apps event was dropped for nothing", q)
	}
	if d, _ := s.Dropped(); d[herd.CategoryApps] != 0 || d[herd.CategoryOSEvents] != 1 {
		t.Fatalf("Dropped = %v", d)
	}
}
