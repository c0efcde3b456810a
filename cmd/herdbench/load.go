package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is what a load run sends: pre-encoded bodies, used in turn, so
// that the generator spends its time on HTTP and not on encoding.
type target struct {
	server  string // for the report: herdd, or the net/http ceiling
	test    string // for the report: what the requests are
	pid     int    // the server's process, for its CPU time
	url     string
	bodies  [][]byte
	objects int // objects per request, for hashes/s
}

// LoadRun is the outcome of one load run.
type LoadRun struct {
	Server    string  `json:"server"`
	Test      string  `json:"test"`
	Mode      string  `json:"mode"`    // "closed" (workers send back to back) or "open" (paced)
	Workers   int     `json:"workers"` // closed: concurrent workers; open: connections
	Objects   int     `json:"objects_per_request"`
	TargetRPS float64 `json:"target_rps,omitempty"`
	Seconds   float64 `json:"seconds"`
	Requests  int64   `json:"requests"` // answered with 2xx
	Errors    int64   `json:"errors"`
	// NotSent counts paced requests still queued at the hard deadline.
	NotSent      int64   `json:"not_sent,omitempty"`
	RPS          float64 `json:"rps"`
	HashesPerSec float64 `json:"hashes_per_s"`
	// Latency is from the scheduled send time for paced runs (so that a
	// stalled server is not hidden by a generator that waits for it), and
	// from the send for closed-loop runs.
	Latency Latency `json:"latency_ms"`
	// Service is a paced run's latency from the actual send, and SendLag
	// how late sends left against the schedule: the generator's own share.
	Service *Latency `json:"service_ms,omitempty"`
	SendLag *Latency `json:"send_lag_ms,omitempty"`
	// CPU time per answered request, in µs, of the server and of the
	// generator: together they bound the rate this machine can reach.
	ServerCPU    float64 `json:"server_cpu_us_per_req"`
	GeneratorCPU float64 `json:"generator_cpu_us_per_req"`
}

// Latency holds percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// newClient returns a client for conns concurrent requests on kept-alive
// connections: one idle connection per worker, so that none is closed and
// redialled between requests.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy:               nil, // loopback: never through a proxy from the environment
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     time.Minute,
			DisableCompression:  true,
		},
	}
}

// send posts one body and reads the whole answer, which lets the
// connection be reused.
func (t *target) send(ctx context.Context, c *http.Client, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := c.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("status %s", res.Status)
	}
	return err
}

// closedLoop runs workers that each send the next request as soon as the
// last is answered, for d after a warmup, and at most limit requests.
// It measures throughput; its latencies hide queueing by design.
func closedLoop(ctx context.Context, t *target, workers int, warmup, d time.Duration, limit int64) LoadRun {
	c := newClient(workers)
	defer c.CloseIdleConnections()
	runClosed(ctx, c, t, workers, warmup, limit) // opens the connections
	cpu := startCPU(t.pid)
	lats, errs, elapsed := runClosed(ctx, c, t, workers, d, limit)
	r := LoadRun{Server: t.server, Test: t.test, Mode: "closed", Workers: workers, Objects: t.objects, Errors: errs}
	r.setThroughput(int64(len(lats)), elapsed)
	r.ServerCPU, r.GeneratorCPU = cpu.perRequest(r.Requests)
	r.Latency = latencyOf(lats)
	return r
}

func runClosed(ctx context.Context, c *http.Client, t *target, workers int, d time.Duration, limit int64) (lats []time.Duration, errs int64, elapsed time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, d+10*time.Second) // bounds a hung server
	defer cancel()
	var issued, failed atomic.Int64
	per := make([][]time.Duration, workers)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for k := w; issued.Add(1) <= limit && time.Now().Before(deadline) && ctx.Err() == nil; k += workers {
				t0 := time.Now()
				if err := t.send(ctx, c, t.bodies[k%len(t.bodies)]); err != nil {
					failed.Add(1)
					continue
				}
				per[w] = append(per[w], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed = time.Since(start)
	return slices.Concat(per...), failed.Load(), elapsed
}

// openLoop sends requests at a fixed rate on a time grid for d, after a
// warmup at the same rate, whether or not earlier ones were answered, as
// independent agents would. Latency counts from each request's scheduled
// time, so time spent queued behind a slow answer is measured, not
// omitted.
func openLoop(ctx context.Context, t *target, rate float64, conns int, warmup, d time.Duration) LoadRun {
	c := newClient(conns)
	defer c.CloseIdleConnections()
	runOpen(ctx, c, t, rate, conns, warmup)
	cpu := startCPU(t.pid)
	p := runOpen(ctx, c, t, rate, conns, d)
	r := LoadRun{Server: t.server, Test: t.test, Mode: "open", Workers: conns, Objects: t.objects, TargetRPS: rate, Errors: p.errs, NotSent: p.notSent}
	var lats, service, lags []time.Duration
	for i, l := range p.lat {
		if p.done[i] {
			lats = append(lats, l)
			service = append(service, l-p.lag[i])
			lags = append(lags, p.lag[i])
		}
	}
	r.setThroughput(int64(len(lats)), p.elapsed)
	r.ServerCPU, r.GeneratorCPU = cpu.perRequest(r.Requests)
	r.Latency = latencyOf(lats)
	sl, lg := latencyOf(service), latencyOf(lags)
	r.Service, r.SendLag = &sl, &lg
	return r
}

type paced struct {
	lat, lag      []time.Duration // per request: from schedule to answer, from schedule to send
	done          []bool          // answered with 2xx
	errs, notSent int64
	elapsed       time.Duration // from the first scheduled send to the last answer
}

func runOpen(ctx context.Context, c *http.Client, t *target, rate float64, conns int, d time.Duration) paced {
	n := max(1, int(rate*d.Seconds()))
	interval := time.Duration(float64(time.Second) / rate)
	p := paced{lat: make([]time.Duration, n), lag: make([]time.Duration, n), done: make([]bool, n)}
	hardStop := time.Now().Add(d + 5*time.Second) // queued requests get 5 s to drain
	ctx, cancel := context.WithDeadline(ctx, hardStop)
	defer cancel()

	// The queue holds every request, so the dispatcher never waits for a
	// worker and the schedule never slips behind a slow answer.
	queue := make(chan int, n)
	start := time.Now()
	go func() {
		defer close(queue)
		for i := range n {
			if ctx.Err() != nil {
				return
			}
			sleepUntil(start.Add(time.Duration(i) * interval))
			queue <- i
		}
	}()
	var errs atomic.Int64
	var last atomic.Int64 // the latest answer, in ns since start
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			for i := range queue {
				due := start.Add(time.Duration(i) * interval)
				if ctx.Err() != nil {
					continue // past the hard stop: counted as not sent
				}
				sent := time.Now()
				err := t.send(ctx, c, t.bodies[i%len(t.bodies)])
				now := time.Now()
				if err != nil {
					errs.Add(1)
					continue
				}
				p.lat[i], p.lag[i], p.done[i] = now.Sub(due), sent.Sub(due), true
				storeMax(&last, int64(now.Sub(start)))
			}
		})
	}
	wg.Wait()
	var answered int64
	for _, ok := range p.done {
		if ok {
			answered++
		}
	}
	// Whatever was neither answered nor failed was never sent: still
	// queued, or never queued, when the hard stop came.
	p.errs = errs.Load()
	p.notSent = int64(n) - answered - p.errs
	p.elapsed = time.Duration(last.Load())
	return p
}

// sleepUntil sleeps until t. When it wakes late, the requests that fell
// due meanwhile go out at once and keep their scheduled times, so the
// lateness shows in SendLag and in the latency.
func sleepUntil(t time.Time) {
	for d := time.Until(t); d > 0; d = time.Until(t) {
		sleep(d) // may return early, when interrupted
	}
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}

func (r *LoadRun) setThroughput(ok int64, elapsed time.Duration) {
	r.Requests = ok
	r.Seconds = elapsed.Seconds()
	if r.Seconds > 0 {
		r.RPS = float64(ok) / r.Seconds
		r.HashesPerSec = r.RPS * float64(r.Objects)
	}
}

// latencyOf returns nearest-rank percentiles of ds, in milliseconds.
func latencyOf(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return ms(s[min(max(i, 0), len(s)-1)])
	}
	return Latency{P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
