package cloud

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdsec/herd/agent/hardware"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
)

// BenchmarkEnroll enrolls new machines over HTTPS against a real cloud,
// each on a new TLS connection (a device enrolls once), 8 at a time: the
// licence check, the seat taken with compare-and-set, the hardware binding,
// the device record (each sealed), and the CA signing the certificate. The
// devices' key pairs are made beforehand (a device makes its own).
// "one-licence" puts every machine on one licence (the seat counter is
// contended); "spread" over 64 licences.
func BenchmarkEnroll(b *testing.B) {
	for _, licences := range []int{1, 64} {
		name := "one-licence"
		if licences > 1 {
			name = "spread"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			_, srv, ca := MustOpenTLSTest(b)
			admin := adminClient(b, srv.URL, ca)
			keys := make([]string, licences)
			for i := range keys {
				keys[i] = mustLicence(ctx, b, admin, identity.MaxSeats, "", "").Key
			}
			csrs := make([]string, 64)
			for i := range csrs {
				_, csr, err := pki.NewKey()
				if err != nil {
					b.Fatal(err)
				}
				csrs[i] = string(csr)
			}
			cfg, err := pki.ClientConfig(ca.CertPEM, nil)
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.SetParallelism(4) // 8 enrolling at once on 2 cores
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					c, _ := httpapi.NewClient(srv.URL)
					tr := http.DefaultTransport.(*http.Transport).Clone()
					tr.TLSClientConfig = cfg
					c.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
					_, err := c.Enroll(ctx, identity.EnrollRequest{
						LicenceKey: keys[int(i)%len(keys)], CSR: csrs[int(i)%len(csrs)],
						Hardware: hardware.Of(fmt.Sprint("bench machine ", i)),
					})
					tr.CloseIdleConnections()
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "devices/s")
		})
	}
}
