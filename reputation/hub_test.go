package reputation

import (
	"testing"

	"github.com/herdsec/herd"
)

func TestHub(t *testing.T) {
	h := NewHub()
	fast, seq0, cancelFast := h.Subscribe(8)
	slow, _, _ := h.Subscribe(1)
	if seq0 != 0 || h.Len() != 2 {
		t.Fatalf("seq %d, %d subscribers", seq0, h.Len())
	}
	for seq := uint64(1); seq <= 3; seq++ {
		h.Publish(herd.VerdictChange{Seq: seq})
	}
	h.Publish(herd.VerdictChange{CaughtUp: true}) // not a change: not published
	for want := uint64(1); want <= 3; want++ {
		if c := <-fast; c.Seq != want {
			t.Fatalf("fast subscriber got %d, want %d", c.Seq, want)
		}
	}
	// The slow one fell more than its buffer behind: dropped, channel closed
	// after what it had buffered.
	if c, ok := <-slow; !ok || c.Seq != 1 {
		t.Fatalf("slow subscriber: %v %v", c, ok)
	}
	if _, ok := <-slow; ok {
		t.Fatal("slow subscriber not dropped")
	}
	if h.Len() != 1 {
		t.Fatalf("%d subscribers, want 1", h.Len())
	}
	// A new subscriber learns where the hub is.
	_, seq, cancel := h.Subscribe(1)
	cancel()
	cancel() // twice is harmless
	if seq != 3 {
		t.Fatalf("subscribe at seq %d, want 3", seq)
	}
	cancelFast()
	if _, ok := <-fast; ok || h.Len() != 0 {
		t.Fatalf("cancelled subscriber still open, %d left", h.Len())
	}
}
