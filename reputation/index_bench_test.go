package reputation_test

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation"
)

// The benchmarks below hold an index of realistic sha256 verdicts: random
// hashes, nine in ten malicious under one of 300 threat names, the rest
// suspicious or clean, from imports or the rules, stored at any nanosecond
// of a year (as the verdict store's records carry them).
//
//	go test -run '^$' -bench 'BenchmarkIndex(Memory|Lookup|Prefix)' -count 5 ./reputation
//
// Add -short to leave out the 10,000,000-entry index. The machines they run
// on are often shared: compare the best of several counts, and the cpu-ns
// metrics, which leave out the time other processes held the core.

var benchSizes = []int{1e5, 1e6, 1e7}

var benchThreats = func() []string {
	families := []string{"Trojan.Win32.Agent", "Ransom.Lockbit", "PUA.Adware.Bundler", "Backdoor.Linux.Mirai", "Worm.Script.VBS", "Exploit.PDF.CVE"}
	var names []string
	for i := range 300 {
		names = append(names, fmt.Sprintf("%s.%c%d", families[i%len(families)], 'a'+i%26, i))
	}
	return names
}()

// benchHash returns hash i of the set seed: a pure function, so that a
// benchmark can name stored hashes without keeping them.
func benchHash(seed uint64, i int) [32]byte {
	var h [32]byte
	s := seed<<40 ^ uint64(i)
	for j := 0; j < 32; j += 8 {
		binary.BigEndian.PutUint64(h[j:], splitmix64(&s))
	}
	return h
}

func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

const (
	storedSeed = 1
	absentSeed = 2
)

var benchYear = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

func benchRecord(i int) herd.Record {
	h := benchHash(storedSeed, i)
	r := binary.LittleEndian.Uint64(h[24:]) // more randomness, independent of the hash's leading bits
	rec := herd.Record{
		Object:  herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])},
		Verdict: herd.VerdictMalicious,
		Threat:  benchThreats[r%uint64(len(benchThreats))],
		Source:  herd.SourceImport,
		Updated: benchYear.Add(time.Duration(r>>16) % (365 * 24 * time.Hour)),
	}
	switch r >> 8 % 100 {
	case 0, 1, 2:
		rec.Verdict, rec.Threat = herd.VerdictClean, ""
	case 3, 4, 5, 6, 7, 8, 9:
		rec.Verdict = herd.VerdictSuspicious
	}
	if r>>12%10 < 3 {
		rec.Source = herd.SourceRules
	}
	return rec
}

func buildIndex(n int) *reputation.Index {
	x := reputation.NewIndex()
	for i := range n {
		x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: benchRecord(i)})
	}
	return x
}

var (
	benchMu      sync.Mutex
	benchIndexes = make(map[int]*reputation.Index)
)

// benchIndex returns the shared index of n entries, building it once.
func benchIndex(b *testing.B, n int) *reputation.Index {
	b.Helper()
	if n >= 1e7 && testing.Short() {
		b.Skip("-short: no 10,000,000-entry index")
	}
	benchMu.Lock()
	defer benchMu.Unlock()
	x, ok := benchIndexes[n]
	if !ok {
		x = buildIndex(n)
		benchIndexes[n] = x
	}
	return x
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkIndexMemory builds an index by applying n changes and reports
// the heap it holds per entry, and the time per applied change.
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			if n >= 1e7 && testing.Short() {
				b.Skip("-short: no 10,000,000-entry index")
			}
			var perEntry float64
			for b.Loop() {
				b.StopTimer()
				before := heapAlloc()
				b.StartTimer()
				x := buildIndex(n)
				b.StopTimer()
				after := heapAlloc()
				if x.Len() != n {
					b.Fatalf("Len = %d, want %d", x.Len(), n)
				}
				runtime.KeepAlive(x)
				perEntry = float64(after-before) / float64(n)
				b.StartTimer()
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/apply")
		})
	}
}

// lookupQueries returns 1<<20 objects, half stored in an index of n
// entries and half not, in random order: more than the caches hold, so
// that lookups meet the index as cold as a server's would.
func lookupQueries(n int) []herd.Object {
	r := rand.New(rand.NewPCG(uint64(n), 7))
	qs := make([]herd.Object, 1<<20)
	for i := range qs {
		var h [32]byte
		if r.IntN(2) == 0 {
			h = benchHash(storedSeed, r.IntN(n))
		} else {
			h = benchHash(absentSeed, i)
		}
		qs[i] = herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])}
	}
	return qs
}

// A lookupClock measures the wall and CPU time of the queries of a
// benchmark, leaving out the time it spends warming them.
type lookupClock struct {
	b        *testing.B
	perOp    int    // queries per b.N
	unit     string // what a query is called in the metrics
	cpu0     time.Duration
	cpuOK    bool
	warmWall time.Duration
	warmCPU  time.Duration
	warmSink byte
}

func startLookupClock(b *testing.B, perOp int, unit string) *lookupClock {
	runtime.LockOSThread() // threadCPU measures this thread
	c := &lookupClock{b: b, perOp: perOp, unit: unit}
	c.cpu0, c.cpuOK = threadCPU()
	return c
}

// warm reads the objects of the next request: a server looks up objects
// it has just decoded, which are in its caches. Left cold, the queries'
// own cache misses would be measured as the index's.
func (c *lookupClock) warm(qs []herd.Object) {
	t0 := time.Now()
	cpu0, _ := threadCPU()
	for _, q := range qs {
		c.warmSink += q.Value[0] + q.Value[len(q.Value)-1]
	}
	cpu1, _ := threadCPU()
	c.warmCPU += cpu1 - cpu0
	c.warmWall += time.Since(t0)
}

// stop reports the wall and CPU time per query, warming left out.
func (c *lookupClock) stop() {
	cpu1, ok := threadCPU()
	runtime.UnlockOSThread()
	n := float64(c.b.N * c.perOp)
	c.b.ReportMetric(float64((c.b.Elapsed()-c.warmWall).Nanoseconds())/n, "ns/"+c.unit)
	if c.cpuOK && ok {
		c.b.ReportMetric(float64((cpu1-c.cpu0-c.warmCPU).Nanoseconds())/n, "cpu-ns/"+c.unit)
	}
}

// BenchmarkIndexLookup looks up random hashes, half of them stored, one at
// a time and in batches of 1,000 (the most a lookup request may hold).
// Its ns/lookup leaves out the warming of the queries; ns/op does not.
func BenchmarkIndexLookup(b *testing.B) {
	ctx := context.Background()
	const batch = 1000
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := benchIndex(b, n)
			qs := lookupQueries(n)
			qs = qs[:len(qs)/batch*batch]
			b.Run("one", func(b *testing.B) {
				b.ReportAllocs()
				i, found := 0, 0
				c := startLookupClock(b, 1, "lookup")
				for b.Loop() {
					if i%batch == 0 {
						c.warm(qs[i : i+batch])
					}
					rs, _ := x.Lookup(ctx, qs[i:i+1])
					if rs[0].Verdict != herd.VerdictUnknown {
						found++
					}
					i = (i + 1) % len(qs)
				}
				c.stop()
				if found == 0 || found == b.N && b.N > 100 {
					b.Fatalf("%d of %d lookups found: want about half", found, b.N)
				}
			})
			b.Run(fmt.Sprint("batch", batch), func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				c := startLookupClock(b, batch, "lookup")
				for b.Loop() {
					c.warm(qs[i : i+batch])
					rs, _ := x.Lookup(ctx, qs[i:i+batch])
					if len(rs) != batch {
						b.Fatal(len(rs))
					}
					i = (i + batch) % len(qs)
				}
				c.stop()
			})
		})
	}
}

// BenchmarkIndexPrefix answers prefix queries of 16, 20, 24 and 32 bits,
// half for the prefix of a stored hash, half for a random one.
func BenchmarkIndexPrefix(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			x := benchIndex(b, n)
			for _, bits := range []int{16, 20, 24, 32} {
				b.Run(fmt.Sprintf("bits=%d", bits), func(b *testing.B) {
					b.ReportAllocs()
					r := rand.New(rand.NewPCG(uint64(n), uint64(bits)))
					var prefix [4]byte
					results := 0
					c := startLookupClock(b, 1, "query")
					for b.Loop() {
						if r.IntN(2) == 0 { // half the time, a prefix that a stored hash has
							h := benchHash(storedSeed, r.IntN(n))
							copy(prefix[:], h[:])
						} else {
							binary.BigEndian.PutUint32(prefix[:], r.Uint32())
						}
						results += len(x.Prefix(herd.KindSHA256, prefix[:], bits))
					}
					c.stop()
					b.ReportMetric(float64(results)/float64(b.N), "records/op")
				})
			}
		})
	}
}
