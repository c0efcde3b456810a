package cache_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
)

// batch returns n objects named from start, as a scan's lookup batch
// (333 files × 3 hashes).
func batch(start, n int) ([]herd.Object, []cache.Answer) {
	objs := make([]herd.Object, n)
	ans := make([]cache.Answer, n)
	for i := range objs {
		objs[i] = obj(fmt.Sprint(start + i))
		ans[i] = cache.Answer{Record: herd.Record{Object: objs[i], Verdict: herd.VerdictUnknown}, TTL: time.Hour}
	}
	return objs, ans
}

// BenchmarkGet reads one scan batch (999 objects, all cached) from a cache
// of 100,000 entries: one transaction, the file kept open (as a scan does)
// or opened for each batch (as herd follow does).
func BenchmarkGet(b *testing.B) {
	for _, keep := range []time.Duration{time.Minute, 0} {
		b.Run(fmt.Sprintf("keep-open=%v", keep), func(b *testing.B) { benchmarkGet(b, keep) })
	}
}

func benchmarkGet(b *testing.B, keep time.Duration) {
	c := MustOpen(b, b.TempDir(), cache.Options{KeepOpen: keep})
	b.Cleanup(func() { c.Close() })
	for i := 0; i < 100_000; i += 1000 {
		_, ans := batch(i, 1000)
		if err := c.Put(ans, 0); err != nil {
			b.Fatal(err)
		}
	}
	objs, _ := batch(5000, 999)
	b.ReportAllocs()
	for b.Loop() {
		if _, found, _, err := c.Get(objs); err != nil || !found[998] {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/999, "ns/object")
}

// BenchmarkPut writes one scan batch of new answers (999 objects) into a
// cache bounded at 100,000 entries, so that each batch also evicts: one
// transaction, synced to disk.
func BenchmarkPut(b *testing.B) {
	c := MustOpen(b, b.TempDir(), cache.Options{MaxEntries: 100_000, KeepOpen: time.Minute})
	b.Cleanup(func() { c.Close() })
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, ans := batch(i, 999)
		if err := c.Put(ans, 0); err != nil {
			b.Fatal(err)
		}
		i += 999
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/999, "ns/object")
}
