package reputation_test

import (
	"context"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation"
)

var eicar = herd.Object{Kind: herd.KindSHA256, Value: herd.EICARSHA256}

func TestIndexLayers(t *testing.T) {
	x := reputation.NewIndex()
	ctx := context.Background()
	other := herd.Object{Kind: herd.KindDomain, Value: "example.com"}
	got, _ := x.Lookup(ctx, []herd.Object{eicar, other})
	if got[0].Verdict != herd.VerdictMalicious || !got[0].Test || got[0].Source != herd.SourceBuiltin {
		t.Fatalf("EICAR = %+v, want the built-in test verdict", got[0])
	}
	if got[1].Verdict != herd.VerdictUnknown || got[1].Object != other {
		t.Fatalf("unknown = %+v", got[1])
	}
	// A stored verdict overrides the built-in one; deleting it brings it back.
	x.Apply(herd.VerdictChange{Seq: 1, Record: herd.Record{Object: eicar, Verdict: herd.VerdictClean, Source: herd.SourceOperator}})
	if got, _ := x.Lookup(ctx, []herd.Object{eicar}); got[0].Verdict != herd.VerdictClean {
		t.Fatalf("after override: %+v", got[0])
	}
	x.Apply(herd.VerdictChange{Seq: 2, Deleted: true, Record: herd.Record{Object: eicar}})
	if got, _ := x.Lookup(ctx, []herd.Object{eicar}); got[0].Source != herd.SourceBuiltin {
		t.Fatalf("after delete: %+v", got[0])
	}
	if x.Seq() != 2 || x.Len() != 0 {
		t.Fatalf("Seq %d Len %d, want 2 and 0", x.Seq(), x.Len())
	}
}

func TestIndexWaitFor(t *testing.T) {
	x := reputation.NewIndex()
	done := make(chan error, 1)
	go func() { done <- x.WaitFor(context.Background(), 3) }()
	for seq := uint64(1); seq <= 3; seq++ {
		select {
		case err := <-done:
			t.Fatalf("WaitFor(3) returned %v before change %d", err, seq)
		default:
		}
		x.Apply(herd.VerdictChange{Seq: seq, Record: herd.Record{Object: eicar, Verdict: herd.VerdictMalicious}})
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("WaitFor(3) did not return after change 3")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := x.WaitFor(ctx, 10); err != context.Canceled {
		t.Fatalf("WaitFor with a cancelled context = %v", err)
	}
}

func TestIndexReady(t *testing.T) {
	x := reputation.NewIndex()
	select {
	case <-x.Ready():
		t.Fatal("ready before the backlog was delivered")
	default:
	}
	x.Apply(herd.VerdictChange{CaughtUp: true})
	x.Apply(herd.VerdictChange{CaughtUp: true}) // a second marker (after a resume) is harmless
	select {
	case <-x.Ready():
	default:
		t.Fatal("not ready after the caught-up marker")
	}
}

func BenchmarkLookup1000(b *testing.B) {
	x := reputation.NewIndex()
	objs := make([]herd.Object, 1000)
	for i := range objs {
		objs[i] = herd.Object{Kind: herd.KindSHA256, Value: string(rune('a'+i%26)) + herd.EICARSHA256[1:]}
		x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: herd.Record{Object: objs[i], Verdict: herd.VerdictMalicious}})
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.Lookup(context.Background(), objs); err != nil {
			b.Fatal(err)
		}
	}
}
