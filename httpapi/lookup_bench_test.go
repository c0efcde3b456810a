package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/reputation"
)

func lookupBody(n int) []byte {
	req := LookupRequest{}
	for i := range n {
		req.Objects = append(req.Objects, herd.Object{Kind: herd.KindSHA256, Value: fmt.Sprintf("%064x", i)})
	}
	b, _ := json.Marshal(req)
	return b
}

// BenchmarkLookupHandler measures the lookup handler alone (decode, validate,
// index, encode) for a 1,000-object batch, without the network.
func BenchmarkLookupHandler(b *testing.B) {
	s := &Server{Reputation: reputation.NewIndex(), PositiveTTL: time.Hour, NegativeTTL: time.Minute}
	h := s.Handler()
	body := lookupBody(MaxLookupObjects)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/lookup", bytes.NewReader(body)))
		if w.Code != 200 {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	b.ReportMetric(float64(b.N*MaxLookupObjects)/b.Elapsed().Seconds(), "hashes/s")
}
