package cloud

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkPersonRequests answers a data subject's access and deletion
// requests, over HTTPS as a privacy officer, for a person with one device
// and 10,000 stored telemetry events (planted before each request, timer
// stopped): the export reads them all back; the deletion overwrites them,
// erases consent and identity records and the data key, and counts again.
func BenchmarkPersonRequests(b *testing.B) {
	const events = 10_000
	for _, op := range []string{"export", "delete"} {
		b.Run(op, func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			c, srv, ca := MustOpenTLSTest(b)
			admin := adminClient(b, srv.URL, ca)
			var total time.Duration
			for i := 0; b.Loop(); i++ {
				b.StopTimer()
				p := plant(ctx, b, srv.URL, admin, c, fmt.Sprint(op, i), 1, events, i*events)
				b.StartTimer()
				t0 := time.Now()
				switch op {
				case "export":
					ex, err := admin.ExportPerson(ctx, p.licence.ID)
					if err != nil || len(ex.Devices) != 1 || len(ex.Devices[0].Data.Telemetry) != events {
						b.Fatalf("export: %v", err)
					}
				case "delete":
					res, err := admin.DeletePerson(ctx, p.licence.ID)
					if err != nil || !res.Verified {
						b.Fatalf("delete: %+v %v", res, err)
					}
				}
				total += time.Since(t0)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/person")
		})
	}
}
