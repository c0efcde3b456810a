package jetstream_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/transparency"
)

// TestTransparencyStore: requests round-trip, ids are checked, and a move
// stored over a stale revision is refused, so two replicas cannot both
// move one request.
func TestTransparencyStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		s, err := MustOpen(t, cfg).Transparency(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if l, err := s.List(ctx); err != nil || len(l) != 0 {
			t.Fatalf("empty register: %v %v", l, err)
		}
		now := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
		r, err := transparency.Register(transparency.New{Type: transparency.TypeAccess, Requester: transparency.RequesterPerson, Country: "AT", Received: now.Add(-48 * time.Hour)},
			"tr-00000000000000aa", "pia", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, r); herd.ErrorCode(err) != herd.ECONFLICT {
			t.Fatalf("second create: %v, want conflict", err)
		}
		bad := r
		bad.ID = "tr-x.>"
		if err := s.Create(ctx, bad); herd.ErrorCode(err) != herd.EINVALID {
			t.Fatalf("create with a bad id: %v, want invalid", err)
		}
		if _, _, err := s.Get(ctx, "../etc"); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("get of a bad id: %v, want not found", err)
		}
		got, rev, err := s.Get(ctx, r.ID)
		if err != nil || got.Country != "AT" || got.State != transparency.StateReceived || !got.Received.Equal(r.Received) {
			t.Fatalf("get: %+v %v", got, err)
		}
		a, _ := got.StartReview("pia", now)
		b, _ := got.StartReview("ola", now)
		if err := s.Update(ctx, a, rev); err != nil {
			t.Fatal(err)
		}
		if err := s.Update(ctx, b, rev); herd.ErrorCode(err) != herd.ECONFLICT || !strings.Contains(err.Error(), "changed meanwhile") {
			t.Fatalf("update over a stale revision: %v, want conflict", err)
		}
		got, _, err = s.Get(ctx, r.ID)
		if err != nil || got.State != transparency.StateInReview || got.History[1].Operator != "pia" {
			t.Fatalf("after the race: %+v %v", got, err)
		}
		// Listed oldest first: a later request with a smaller id comes second.
		later, err := transparency.Register(transparency.New{Type: transparency.TypeDeletion, Requester: transparency.RequesterPerson, Country: "DE", Received: now.Add(-24 * time.Hour)},
			"tr-0000000000000001", "pia", now)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Create(ctx, later); err != nil {
			t.Fatal(err)
		}
		l, err := s.List(ctx)
		if err != nil || len(l) != 2 || l[0].ID != r.ID || l[1].ID != later.ID {
			t.Fatalf("list: %+v %v; want %s then %s", l, err, r.ID, later.ID)
		}
	})
}
