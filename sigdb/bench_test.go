package sigdb_test

import (
	"bytes"
	"runtime"
	"sync"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/sigdb"
)

var benchHSB = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.Grow(100 << 20)
	if err := sigdb.WriteBenchHSB(&b, 1_000_000); err != nil {
		panic(err)
	}
	return b.Bytes()
})

// BenchmarkLoad1M loads a 1,000,000-line .hsb of sha256 signatures from
// memory and reports the time and the heap retained per signature.
func BenchmarkLoad1M(b *testing.B) {
	data := benchHSB()
	const n = 1_000_000
	runtime.GC() // of the generator's garbage, which is not Load's
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		db := sigdb.New()
		if err := db.Load(bytes.NewReader(data), "bench.hsb"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sig")

	b.StopTimer()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	db := sigdb.New()
	if err := db.Load(bytes.NewReader(data), "bench.hsb"); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if db.Len() != n {
		b.Fatalf("Len = %d, want %d", db.Len(), n)
	}
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/sig")
	runtime.KeepAlive(db)
}

// BenchmarkMatch looks up files in a 1M-signature database. Misses are
// what a scanner sees almost always; a hit also decodes the name.
func BenchmarkMatch(b *testing.B) {
	db := sigdb.New()
	if err := db.Load(bytes.NewReader(benchHSB()), "bench.hsb"); err != nil {
		b.Fatal(err)
	}
	const m = 1024
	hits := make([]*herd.FileDigests, m)
	misses := make([]*herd.FileDigests, m)
	for i := range m {
		hits[i] = benchDigests(i*977%1_000_000 + 1)
		misses[i] = benchDigests(1_000_000 + i + 1)
	}
	for _, bb := range []struct {
		name string
		ds   []*herd.FileDigests
		hit  bool
	}{{"hit", hits, true}, {"miss", misses, false}} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, ok := db.Match(bb.ds[i%m]); ok != bb.hit {
					b.Fatalf("Match(%d) = %v, want %v", i%m, ok, bb.hit)
				}
				i++
			}
		})
	}
}
