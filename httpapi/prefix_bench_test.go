package httpapi

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation"
)

// BenchmarkPrefixBytes measures what a private lookup costs: the bytes of
// the padded answer for one prefix, and the entries in it, by prefix length,
// with 1,000,000 and 10,000,000 malicious hashes known.
func BenchmarkPrefixBytes(b *testing.B) {
	for _, n := range []int{1_000_000, 10_000_000} {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		x := reputation.NewIndex()
		r := rand.New(rand.NewPCG(1, uint64(n)))
		var h [32]byte
		for i := range n {
			for j := 0; j < 32; j += 8 {
				v := r.Uint64()
				for k := range 8 {
					h[j+k] = byte(v >> (8 * k))
				}
			}
			x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])},
				Verdict: herd.VerdictMalicious, Threat: fmt.Sprintf("Trojan.Family%03d", i%300), Source: herd.SourceImport}})
		}
		for _, bits := range []int{16, 20, 24, 28, 32} {
			b.Run(fmt.Sprintf("hashes=%d/bits=%d", n, bits), func(b *testing.B) {
				var bytes, entries int
				q := 0
				for b.Loop() {
					var p [4]byte
					v := r.Uint32()
					p[0], p[1], p[2], p[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
					req := PrefixQuery{Kind: herd.KindSHA256}
					pq, _ := PrefixOf(herd.KindSHA256, hex.EncodeToString(p[:])+fmt.Sprintf("%056x", 0), bits)
					req.Prefix = pq.Prefix
					raw, _ := hex.DecodeString(req.Prefix)
					res := PrefixResult{Kind: req.Kind, Prefix: req.Prefix, Entries: []PrefixEntry{}}
					for _, rec := range x.Prefix(herd.KindSHA256, raw, bits) {
						res.Entries = append(res.Entries, PrefixEntry{Value: rec.Object.Value, Verdict: rec.Verdict, Threat: rec.Threat, Source: rec.Source})
					}
					body, err := padded(PrefixResponse{Bits: bits, Results: []PrefixResult{res}, TTL: 900})
					if err != nil {
						b.Fatal(err)
					}
					bytes += len(body)
					entries += len(res.Entries)
					q++
				}
				b.ReportMetric(float64(bytes)/float64(q), "bytes/lookup")
				b.ReportMetric(float64(entries)/float64(q), "entries/lookup")
			})
		}
	}
}
