package filter

import (
	"fmt"
	"testing"
)

var benchSizes = []int{1_000_000, 10_000_000}

// BenchmarkBuild builds snapshots of 1e6 and 1e7 malicious hashes; ns/op is
// the build time, bits/hash the encoded size per hash (goal ≤ 10).
func BenchmarkBuild(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("hashes=%d", n), func(b *testing.B) {
			hashes := randomHashes(1, n)
			b.ReportAllocs()
			var s *Snapshot
			for b.Loop() {
				s = MustBuild(b, 1, hashes)
			}
			b.ReportMetric(float64(s.Size())*8/float64(n), "bits/hash")
			b.ReportMetric(float64(s.Size()), "bytes")
		})
	}
}

// BenchmarkDelta churns 1% of a snapshot (0.5% of its hashes removed, as
// many added) and builds the delta; delta-%-of-snapshot is the delta's size
// as a percentage of a fresh snapshot of the new set (goal ≤ 2%).
func BenchmarkDelta(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("hashes=%d", n), func(b *testing.B) {
			churn := n / 200
			old := randomHashes(1, n)
			added := randomHashes(2, churn)
			current := append(old[churn:n:n], added...)
			fresh := MustBuild(b, 2, current)
			b.ReportAllocs()
			var d *Delta
			for b.Loop() {
				d = MustBuildDelta(b, 1, 2, added)
			}
			b.ReportMetric(100*float64(d.Size())/float64(fresh.Size()), "delta-%-of-snapshot")
			b.ReportMetric(float64(d.Size()), "bytes")
		})
	}
}

// BenchmarkContains looks up hashes in a snapshot, and in a set of that
// snapshot plus a 1% delta, half of them members.
func BenchmarkContains(b *testing.B) {
	for _, n := range benchSizes {
		hashes := randomHashes(1, n)
		snap := MustBuild(b, 1, hashes)
		var set Set
		if err := set.Apply(snap); err != nil {
			b.Fatal(err)
		}
		if err := set.ApplyDelta(MustBuildDelta(b, 1, 2, randomHashes(3, n/200))); err != nil {
			b.Fatal(err)
		}
		// Probes: alternate members and non-members, spread over the filter
		// so lookups miss the CPU caches as an agent's would.
		const nprobes = 1 << 16
		probes := make([][32]byte, nprobes)
		others := randomHashes(4, nprobes/2)
		for i := range probes {
			if i%2 == 0 {
				probes[i] = hashes[(i*7919)%n]
			} else {
				probes[i] = others[i/2]
			}
		}
		for _, c := range []struct {
			name     string
			contains func([32]byte) bool
		}{{"snapshot", snap.Contains}, {"set", set.Contains}} {
			b.Run(fmt.Sprintf("hashes=%d/%s", n, c.name), func(b *testing.B) {
				hits, i := 0, 0
				for b.Loop() {
					if c.contains(probes[i&(nprobes-1)]) {
						hits++
					}
					i++
				}
				if hits < i/2 {
					b.Fatalf("%d hits in %d lookups of which half are members", hits, i)
				}
			})
		}
	}
}
