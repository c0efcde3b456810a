package httpapi

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation"
)

// BenchmarkLookupHTTPBySize measures lookups as agents see them, through
// the real handler over loopback, with 10^5, 10^6 and 10^7 verdicts in the
// index: one object per request, and 1,000 per request. Half the objects
// asked for are known.
func BenchmarkLookupHTTPBySize(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000, 10_000_000} {
		if testing.Short() && n > 1_000_000 {
			continue
		}
		x := reputation.NewIndex()
		r := rand.New(rand.NewPCG(7, uint64(n)))
		known := make([]string, 0, 4096)
		var h [32]byte
		for i := range n {
			for j := 0; j < 32; j += 8 {
				v := r.Uint64()
				for k := range 8 {
					h[j+k] = byte(v >> (8 * k))
				}
			}
			v := hex.EncodeToString(h[:])
			if len(known) < cap(known) {
				known = append(known, v)
			}
			x.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: v},
				Verdict: herd.VerdictMalicious, Threat: fmt.Sprintf("Trojan.Family%03d", i%300), Source: herd.SourceImport, Updated: time.Unix(1_700_000_000+int64(i), 0).UTC()}})
		}
		srv := httptest.NewServer((&Server{Reputation: x, PositiveTTL: time.Hour, NegativeTTL: 15 * time.Minute}).Handler())
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
		body := func(objects int) []byte {
			var buf bytes.Buffer
			buf.WriteString(`{"objects":[`)
			for i := range objects {
				if i > 0 {
					buf.WriteByte(',')
				}
				v := known[r.IntN(len(known))]
				if i%2 == 1 {
					var u [32]byte
					for j := range u {
						u[j] = byte(r.Uint32())
					}
					v = hex.EncodeToString(u[:]) // unknown
				}
				fmt.Fprintf(&buf, `{"kind":"sha256","value":"%s"}`, v)
			}
			buf.WriteString(`]}`)
			return buf.Bytes()
		}
		for _, objects := range []int{1, 1000} {
			bodies := make([][]byte, 64)
			for i := range bodies {
				bodies[i] = body(objects)
			}
			b.Run(fmt.Sprintf("verdicts=%d/objects=%d", n, objects), func(b *testing.B) {
				i := 0
				for b.Loop() {
					resp, err := client.Post(srv.URL+"/v1/lookup", "application/json", bytes.NewReader(bodies[i%len(bodies)]))
					if err != nil {
						b.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
					i++
				}
			})
		}
		srv.Close()
		client.CloseIdleConnections()
	}
}
