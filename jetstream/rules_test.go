package jetstream_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/jetstream"
)

func TestRuleStore(t *testing.T) {
	backends(t, func(t *testing.T, cfg jetstream.Config) {
		ctx := context.Background()
		db := MustOpen(t, cfg)
		rs, err := db.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := rs.Latest(ctx); herd.ErrorCode(err) != herd.ENOTFOUND {
			t.Fatalf("Latest before any: %v, want ENOTFOUND", err)
		}
		// Bundles larger than one message.
		big := bytes.Repeat([]byte("r"), 3<<20)
		for gen := uint64(1); gen <= 6; gen++ {
			g, rev, err := rs.Generation(ctx)
			if err != nil || g != gen-1 {
				t.Fatalf("generation %d, %v; want %d", g, err, gen-1)
			}
			body := append(fmt.Appendf(nil, "bundle %d ", gen), big...)
			if err := rs.Publish(ctx, gen, rev, body); err != nil {
				t.Fatal(err)
			}
			// A publish from the same head again loses.
			if err := rs.Publish(ctx, gen, rev, []byte("late")); herd.ErrorCode(err) != herd.ECONFLICT {
				t.Fatalf("a second publish on revision %d: %v, want ECONFLICT", rev, err)
			}
			b, g2, err := rs.Latest(ctx)
			if err != nil || g2 != gen || !bytes.Equal(b, body) {
				t.Fatalf("Latest: generation %d, %d bytes, %v; want generation %d", g2, len(b), err, gen)
			}
		}
		// The four newest generations are kept; losing attempts leave nothing.
		names, err := rs.Bundles(ctx)
		if err != nil || len(names) != 4 {
			t.Fatalf("stored bundles %v, %v; want generations 3 to 6", names, err)
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "generation-3-") && !strings.HasPrefix(n, "generation-4-") && !strings.HasPrefix(n, "generation-5-") && !strings.HasPrefix(n, "generation-6-") {
				t.Errorf("bundle %s kept", n)
			}
		}
		// Reopened, the same.
		rs2, err := db.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, g, err := rs2.Latest(ctx); err != nil || g != 6 {
			t.Fatalf("reopened: generation %d, %v", g, err)
		}
	})
}

// Publishers racing for one generation: exactly one wins.
func TestRuleStoreRace(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t, jetstream.Config{Dir: t.TempDir(), MaxMemory: 64 << 20, MaxStore: 256 << 20})
	rs, err := db.Rules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = rs.Publish(ctx, 1, 0, fmt.Appendf(nil, "from %d", i)) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch herd.ErrorCode(err) {
		case "":
			won++
		case herd.ECONFLICT:
		default:
			t.Fatal(err)
		}
	}
	if won != 1 {
		t.Fatalf("%d publishers took generation 1", won)
	}
	b, _, err := rs.Latest(ctx)
	if err != nil || !bytes.HasPrefix(b, []byte("from ")) {
		t.Fatalf("Latest after the race: %q %v", b, err)
	}
	if names, err := rs.Bundles(ctx); err != nil || len(names) != 1 {
		t.Fatalf("after the race, bundles %v %v: the losers' should be gone", names, err)
	}
}
