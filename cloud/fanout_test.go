package cloud_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/httpapi"
)

// BenchmarkFanout measures how long one verdict change takes to reach 2,000
// agents following the verdict stream, all in this process.
func BenchmarkFanout(b *testing.B) {
	_, srv := cloud.MustOpenTest(b)
	const agents = 2000
	tr := &http.Transport{MaxIdleConnsPerHost: -1, ReadBufferSize: 4096, WriteBufferSize: 1024}
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithCancel(context.Background())
	var got atomic.Int64
	var ready sync.WaitGroup
	var wg sync.WaitGroup
	for range agents {
		ready.Add(1)
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/verdicts/stream", nil)
			resp, err := hc.Do(req)
			if err != nil {
				ready.Done()
				return
			}
			defer resp.Body.Close()
			br := bufio.NewReaderSize(resp.Body, 4096)
			once := sync.OnceFunc(ready.Done)
			defer once()
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if bytes.HasPrefix(line, []byte("event: caught-up")) {
					once()
				}
				if bytes.HasPrefix(line, []byte("data: {\"seq\"")) {
					got.Add(1)
				}
			}
		})
	}
	ready.Wait()
	admin, _ := httpapi.NewClient(srv.URL)
	admin.Token = cloud.TestToken
	b.ResetTimer()
	for i := range b.N {
		want := got.Load() + agents
		v := fmt.Sprintf("198.51.100.%d", i%250)
		if _, err := admin.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: herd.KindIP, Value: v, Verdict: herd.VerdictSuspicious, Threat: fmt.Sprint("t", i)}}); err != nil {
			b.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for got.Load() < want && time.Now().Before(deadline) {
			time.Sleep(100 * time.Microsecond)
		}
		if got.Load() < want {
			b.Fatalf("round %d: %d of %d deliveries", i, got.Load()-(want-agents), agents)
		}
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	tr.CloseIdleConnections()
}
