package reputation

import (
	"sync"

	"github.com/herdsec/herd"
)

// Hub fans the verdict changes one replica applies out to every agent
// connected to it, so that ten thousand connected agents cost one watch of
// the verdict store, not ten thousand. A subscriber that falls behind by
// more than its buffer is dropped (its channel closed): it reconnects and
// catches up from the store, so a slow agent never holds up the others.
type Hub struct {
	mu   sync.Mutex
	seq  uint64
	subs map[*subscriber]struct{}
}

type subscriber struct {
	ch chan herd.VerdictChange
}

// NewHub returns a hub with no subscribers.
func NewHub() *Hub {
	return &Hub{subs: map[*subscriber]struct{}{}}
}

// Publish delivers c to every subscriber. Changes must come in order.
func (h *Hub) Publish(c herd.VerdictChange) {
	if c.CaughtUp {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq = max(h.seq, c.Seq)
	for s := range h.subs {
		select {
		case s.ch <- c:
		default: // too far behind: let it catch up from the store
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// Subscribe returns a channel receiving every change published from now
// on, buffered for buf changes, and the sequence number of the last change
// published before it. cancel ends the subscription.
func (h *Hub) Subscribe(buf int) (changes <-chan herd.VerdictChange, seq uint64, cancel func()) {
	s := &subscriber{ch: make(chan herd.VerdictChange, buf)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	seq = h.seq
	h.mu.Unlock()
	return s.ch, seq, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[s]; ok {
			delete(h.subs, s)
			close(s.ch)
		}
	}
}

// Len returns the number of subscribers.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}
