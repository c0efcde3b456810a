package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/scrub"
)

// IngestResults are the figures of telemetry ingest: end to end over HTTP
// into herdd, the JetStream publish ceiling of the same events, and the
// cloud's scrubbing of the mix on one core.
type IngestResults struct {
	Devices   int    `json:"devices"`
	BatchSize int    `json:"events_per_batch"`
	Templates int    `json:"distinct_batches"`
	Mix       string `json:"mix"`
	// Sizes, averaged over the mix: the JSON body of one POST, one event's
	// payload as sent, the payload after the cloud's cleaning (what is stored)
	// and one stored event's JSON as published to JetStream.
	BodyBytes          float64 `json:"body_bytes_per_batch"`
	PayloadBytes       float64 `json:"payload_bytes_per_event"`
	StoredPayloadBytes float64 `json:"stored_payload_bytes_per_event"`
	StoredEventBytes   float64 `json:"stored_event_bytes"`

	// HTTP: closed-loop POST /v1/telemetry against herdd, per worker count.
	HTTP []IngestRun `json:"http"`
	// HTTPStore is herdd's telemetry stream afterwards, warmups included:
	// its event count must equal what the answers reported stored.
	HTTPStore      herd.TelemetryStats `json:"http_store"`
	HTTPAnswered   int64               `json:"http_stored_answered"` // sum of the answers' stored counts, warmups included
	HTTPStoreOK    bool                `json:"http_store_matches"`
	JetStream      []IngestRun         `json:"jetstream"`
	JetStreamStore herd.TelemetryStats `json:"jetstream_store"`
	// Ratio is the best HTTP rate over the best JetStream rate.
	Ratio float64  `json:"http_over_jetstream"`
	Scrub ScrubRun `json:"scrub"`
}

// IngestRun is one closed-loop run of telemetry batches.
type IngestRun struct {
	Target     string  `json:"target"`
	Test       string  `json:"test"`
	Workers    int     `json:"workers"`
	Seconds    float64 `json:"seconds"`
	Batches    int64   `json:"batches"` // answered without error
	Events     int64   `json:"events_stored"`
	Duplicates int64   `json:"duplicates"`
	Rejected   int64   `json:"rejected"` // events the answers listed as rejected
	Dropped    int64   `json:"dropped"`  // fields the answers listed as dropped
	Errors     int64   `json:"errors"`   // batches that failed outright
	FirstError string  `json:"first_error,omitempty"`

	BatchesPerSec float64 `json:"batches_per_s"`
	EventsPerSec  float64 `json:"events_per_s"`
	// BytesPerSec: request bodies for HTTP, stored-event JSON for JetStream.
	BytesPerSec float64 `json:"bytes_per_s"`
	Latency     Latency `json:"batch_latency_ms"`
	// CPU µs per stored event. HTTP: herdd's, and herdbench's as the
	// generator. JetStream: the whole herdbench process (server, client and
	// generator share it), in ServerCPU.
	ServerCPU    float64 `json:"server_cpu_us_per_event"`
	GeneratorCPU float64 `json:"generator_cpu_us_per_event,omitempty"`
}

// ScrubRun is the cloud's cleaning of the mix on one goroutine, in-process.
type ScrubRun struct {
	Seconds      float64 `json:"seconds"`
	Events       int64   `json:"events"`
	EventsPerSec float64 `json:"events_per_s"` // wall clock, one goroutine
	MicrosPerEv  float64 `json:"us_per_event"`
	// CPUSeconds is the process's CPU time over the run (GC included), and
	// EventsPerCPU the events per CPU second: the rate per core, whatever
	// else the machine runs.
	CPUSeconds   float64 `json:"cpu_s"`
	EventsPerCPU float64 `json:"events_per_cpu_s"`
	HitsPerEvent float64 `json:"hits_per_event"` // things the scrubbers removed or replaced
	Errors       int64   `json:"errors"`
	// ByType splits the run by event type, in the order of the mix.
	ByType []ScrubType `json:"by_type"`
}

// ScrubType is the share of one event type in the scrub run.
type ScrubType struct {
	Type         string  `json:"type"`
	Events       int64   `json:"events"`
	MicrosPerEv  float64 `json:"us_per_event"`
	HitsPerEvent float64 `json:"hits_per_event"`
	TimeShare    float64 `json:"time_share"` // of the run's time in Clean
}

const ingestMix = "40% process.start (command lines, some with tokens, passwords, e-mail addresses, IPs, home folders), " +
	"30% url.check (tracking parameters, session tokens, e-mail addresses, user info), " +
	"30% threat.detected (paths under /home/<user>)"

// runIngest measures ingest over HTTP against a herdd child, then the
// JetStream ceiling in-process, then the scrub mix on one goroutine.
func runIngest(ctx context.Context, p Plan, out string, bin Binaries, logf func(string, ...any)) (*IngestResults, error) {
	ip := p.Ingest
	base := time.Now().UTC().Truncate(time.Second)
	batches, err := mixBatches(ip.Templates, ip.BatchSize, ip.Devices, base)
	if err != nil {
		return nil, err
	}
	mix, err := decodeMix(batches, base)
	if err != nil {
		return nil, err
	}
	res := &IngestResults{Devices: ip.Devices, BatchSize: ip.BatchSize, Templates: ip.Templates, Mix: ingestMix}
	mix.sizes(res)

	if err := measureIngestHTTP(ctx, p, out, bin, batches, res, logf); err != nil {
		return nil, err
	}
	if err := measureJetStream(ctx, p, out, mix, res, logf); err != nil {
		return nil, fmt.Errorf("jetstream ceiling: %w", err)
	}
	best := func(rs []IngestRun) float64 {
		var b float64
		for _, r := range rs {
			b = max(b, r.EventsPerSec)
		}
		return b
	}
	if j := best(res.JetStream); j > 0 {
		res.Ratio = best(res.HTTP) / j
	}
	logf("scrub: the mix on 1 goroutine, %v", ip.ScrubTime)
	res.Scrub = measureScrub(ctx, mix, ip.ScrubTime, ip.ScrubMax)
	return res, nil
}

// decodedMix is the mix as the cloud sees it after decoding the bodies:
// the payload bytes of every event, and the events herdd would store.
type decodedMix struct {
	events []herd.Event           // every template's events, in order
	types  []*inventory.EventType // events[i]'s type
	stored [][]herd.StoredEvent   // per template, cleaned, DedupID to be set per send
	bodies []int                  // per template, body bytes
	pubs   []int                  // per template, bytes of the stored events' JSON
}

// decodeMix decodes each template as herdd does and cleans every event with
// the cloud's scrubber once, to build the stored events of the JetStream
// ceiling: exactly the payloads herdd stores, so the same bytes.
func decodeMix(batches []mixBatch, now time.Time) (*decodedMix, error) {
	m := &decodedMix{}
	for t, b := range batches {
		req, err := httpapi.DecodeTelemetry(bytes.NewReader(b.body(0)), now)
		if err != nil {
			return nil, fmt.Errorf("mix template %d: %w", t, err)
		}
		dev := benchHash("device "+b.Device, 0)[:32] // one per device, as long as herdd's keyed pseudonyms
		var stored []herd.StoredEvent
		pub := 0
		for k, ev := range req.Events {
			et, ok := inventory.Get(ev.Type)
			if !ok {
				return nil, fmt.Errorf("mix template %d event %d: type %q not in the inventory", t, k, ev.Type)
			}
			clean, err := et.Clean(ev.Payload, scrub.Inventory{})
			if err != nil {
				return nil, fmt.Errorf("mix template %d event %d: %w", t, k, err)
			}
			se := herd.StoredEvent{Type: et.Name, Category: et.Category, Hour: ev.Time.UTC().Truncate(time.Hour), Country: "ZZ", Device: dev, Payload: clean.Payload}
			enc, err := json.Marshal(se)
			if err != nil {
				return nil, err
			}
			pub += len(enc)
			stored = append(stored, se)
			m.events = append(m.events, ev)
			m.types = append(m.types, et)
		}
		m.stored = append(m.stored, stored)
		m.bodies = append(m.bodies, len(b.Body))
		m.pubs = append(m.pubs, pub)
	}
	return m, nil
}

func (m *decodedMix) sizes(res *IngestResults) {
	var body, pub, in, cleaned int
	for t := range m.stored {
		body += m.bodies[t]
		pub += m.pubs[t]
		for _, se := range m.stored[t] {
			cleaned += len(se.Payload)
		}
	}
	for _, ev := range m.events {
		in += len(ev.Payload)
	}
	n := float64(len(m.events))
	res.BodyBytes = float64(body) / float64(len(m.stored))
	res.PayloadBytes = float64(in) / n
	res.StoredPayloadBytes = float64(cleaned) / n
	res.StoredEventBytes = float64(pub) / n
}

// tally is what one closed-loop run counted.
type tally struct {
	lats                          []time.Duration
	events, dups, rejected, dropd int64
	errs, bytes                   int64
	firstErr                      string
	elapsed                       time.Duration
}

// closedBatches runs workers that each send the next batch as soon as the
// last is answered, for d, and at most limit batches in all. send returns
// the answer and the bytes it sent.
func closedBatches(ctx context.Context, workers int, d time.Duration, limit int64, send func(ctx context.Context) (herd.IngestResult, int, error)) tally {
	ctx, cancel := context.WithTimeout(ctx, d+15*time.Second) // bounds a hung server
	defer cancel()
	var issued atomic.Int64
	per := make([]tally, workers)
	var errOnce sync.Once
	var firstErr string
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			t := &per[w]
			for issued.Add(1) <= limit && time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				r, n, err := send(ctx)
				lat := time.Since(t0)
				if err != nil {
					t.errs++
					errOnce.Do(func() { firstErr = err.Error() })
					continue
				}
				t.lats = append(t.lats, lat)
				t.events += int64(r.Stored)
				t.dups += int64(r.Duplicates)
				t.rejected += int64(len(r.Rejected))
				t.dropd += int64(len(r.Dropped))
				t.bytes += int64(n)
				if len(r.Rejected) > 0 {
					errOnce.Do(func() { firstErr = fmt.Sprintf("rejected: %+v", r.Rejected[0]) })
				}
			}
		})
	}
	wg.Wait()
	all := tally{elapsed: time.Since(start), firstErr: firstErr}
	for _, t := range per {
		all.lats = append(all.lats, t.lats...)
		all.events += t.events
		all.dups += t.dups
		all.rejected += t.rejected
		all.dropd += t.dropd
		all.errs += t.errs
		all.bytes += t.bytes
	}
	return all
}

func (t tally) run(target, test string, workers int) IngestRun {
	r := IngestRun{Target: target, Test: test, Workers: workers, Seconds: t.elapsed.Seconds(), Batches: int64(len(t.lats)),
		Events: t.events, Duplicates: t.dups, Rejected: t.rejected, Dropped: t.dropd, Errors: t.errs, FirstError: t.firstErr}
	if r.Seconds > 0 {
		r.BatchesPerSec = float64(r.Batches) / r.Seconds
		r.EventsPerSec = float64(r.Events) / r.Seconds
		r.BytesPerSec = float64(t.bytes) / r.Seconds
	}
	r.Latency = latencyOf(t.lats)
	return r
}

func measureIngestHTTP(ctx context.Context, p Plan, out string, bin Binaries, batches []mixBatch, res *IngestResults, logf func(string, ...any)) error {
	ip := p.Ingest
	h, token, err := startHerdd(ctx, bin.Herdd, out, "herdd-ingest-data", logf)
	if err != nil {
		return err
	}
	// The stream grows by hundreds of MB a run: nothing of it is kept.
	defer os.RemoveAll(filepath.Join(out, "herdd-ingest-data"))
	defer h.Stop()
	api, err := httpapi.NewClient(h.URL)
	if err != nil {
		return err
	}
	api.Token = token
	logf("sending consent \"full\" for %d devices", ip.Devices)
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		return err
	}
	for d := range ip.Devices {
		if _, err := api.SetConsent(ctx, mixDevice(d), rec); err != nil {
			return fmt.Errorf("consent of %s: %w", mixDevice(d), err)
		}
	}

	var seq atomic.Int64 // batches sent so far: every event id of the run is distinct
	c := newClient(slices.Max(ip.Workers))
	defer c.CloseIdleConnections()
	url := h.URL + "/v1/telemetry"
	send := func(ctx context.Context) (herd.IngestResult, int, error) {
		s := seq.Add(1) - 1
		b := &batches[s%int64(len(batches))]
		body := b.body(s)
		r, err := postTelemetry(ctx, c, url, body)
		if err == nil && r.Stored+r.Duplicates+len(r.Rejected) != ip.BatchSize {
			err = fmt.Errorf("answer accounts for %d of %d events", r.Stored+r.Duplicates+len(r.Rejected), ip.BatchSize)
		}
		return r, len(body), err
	}
	// One batch first, checked strictly, so that the runs measure storing.
	r, _, err := send(ctx)
	if err != nil {
		return fmt.Errorf("check batch: %w", err)
	}
	if r.Stored != ip.BatchSize || len(r.Rejected) > 0 || len(r.Dropped) > 0 {
		return fmt.Errorf("check batch: stored %d of %d, rejected %v, dropped %v", r.Stored, ip.BatchSize, r.Rejected, r.Dropped)
	}
	answered := int64(r.Stored)
	pid := h.cmd.Process.Pid
	for _, w := range ip.Workers {
		logf("herdd: telemetry batches of %d, %d workers, %v", ip.BatchSize, w, p.Duration)
		warm := closedBatches(ctx, w, p.Warmup, ip.MaxBatches, send)
		cpu := startCPU(pid)
		t := closedBatches(ctx, w, p.Duration, ip.MaxBatches, send)
		run := t.run("herdd", fmt.Sprintf("POST /v1/telemetry, %d events", ip.BatchSize), w)
		run.ServerCPU, run.GeneratorCPU = cpu.perRequest(run.Events)
		res.HTTP = append(res.HTTP, run)
		answered += warm.events + t.events
		if run.Errors > 0 || run.Rejected > 0 {
			logf("herdd: %d failed batches, %d rejected events: %s", run.Errors, run.Rejected, run.FirstError)
		}
	}
	// Every event the answers call stored must be in the stream.
	res.HTTPAnswered = answered
	if res.HTTPStore, err = api.TelemetryStats(ctx); err != nil {
		return fmt.Errorf("telemetry stats: %w", err)
	}
	res.HTTPStoreOK = res.HTTPStore.Events == uint64(answered)
	if err := h.Stop(); err != nil {
		return fmt.Errorf("herdd: %w", err)
	}
	return nil
}

// postTelemetry posts one encoded batch and decodes the answer.
func postTelemetry(ctx context.Context, c *http.Client, url string, body []byte) (herd.IngestResult, error) {
	var r herd.IngestResult
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return r, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return r, err
	}
	if resp.StatusCode != http.StatusOK {
		return r, fmt.Errorf("status %s: %.200s", resp.Status, b)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("answer: %w", err)
	}
	return r, nil
}

// measureJetStream appends the stored events of the mix straight to an
// embedded JetStream with herdd's default limits, in-process: the ceiling
// of what ingest can reach on this machine.
func measureJetStream(ctx context.Context, p Plan, out string, mix *decodedMix, res *IngestResults, logf func(string, ...any)) error {
	ip := p.Ingest
	dir := filepath.Join(out, "jetstream-ceiling")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := jetstream.Defaults() // MaxMemory 256 MiB, MaxStore 10 GiB, fsync every 1 s: herdd's defaults
	cfg.Dir = dir
	logf("opening an embedded JetStream in %s", dir)
	db, err := jetstream.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	sink := db.Telemetry()

	var seq atomic.Int64
	send := func(ctx context.Context) (herd.IngestResult, int, error) {
		s := seq.Add(1) - 1
		t := s % int64(len(mix.stored))
		evs := slices.Clone(mix.stored[t])
		n := s * int64(len(evs))
		for k := range evs {
			evs[k].DedupID = fmt.Sprintf("%032x", n+int64(k)) // as long as herdd's keyed hashes
		}
		ar, err := sink.Append(ctx, evs)
		return herd.IngestResult{Stored: ar.Stored, Duplicates: ar.Duplicates}, mix.pubs[t], err
	}
	for _, w := range ip.Workers {
		logf("jetstream: Append of %d events, %d workers, %v", ip.BatchSize, w, p.Duration)
		closedBatches(ctx, w, p.Warmup, ip.MaxBatches, send)
		cpu := startCPU(os.Getpid())
		t := closedBatches(ctx, w, p.Duration, ip.MaxBatches, send)
		run := t.run("jetstream", fmt.Sprintf("TelemetrySink.Append, %d events", ip.BatchSize), w)
		// In-process: server, client and generator are one process.
		run.ServerCPU, _ = cpu.perRequest(run.Events)
		res.JetStream = append(res.JetStream, run)
	}
	if res.JetStreamStore, err = sink.Stats(ctx); err != nil {
		return err
	}
	return db.Close()
}

// measureScrub cleans the mix's payloads with the cloud's scrubber on this
// goroutine, for d or at most limit events. Each call is timed on its own
// for the split by type; two clock reads cost little next to one Clean.
func measureScrub(ctx context.Context, mix *decodedMix, d time.Duration, limit int64) ScrubRun {
	var r ScrubRun
	type acc struct {
		n, hits int64
		took    time.Duration
	}
	byType := map[string]*acc{}
	var order []string
	for _, et := range mix.types {
		if byType[et.Name] == nil {
			byType[et.Name] = &acc{}
			order = append(order, et.Name)
		}
	}
	var hits int64
	var inClean time.Duration
	cpu0, _ := procCPU("self")
	start := time.Now()
	deadline := start.Add(d)
	n := len(mix.events)
	var i int64
	for ; i < limit; i++ {
		if i%100 == 0 && (time.Now().After(deadline) || ctx.Err() != nil) {
			break
		}
		k := int(i % int64(n))
		et := mix.types[k]
		t0 := time.Now()
		c, err := et.Clean(mix.events[k].Payload, scrub.Inventory{})
		took := time.Since(t0)
		a := byType[et.Name]
		a.n++
		a.took += took
		inClean += took
		if err != nil {
			r.Errors++
			continue
		}
		a.hits += int64(c.Hits)
		hits += int64(c.Hits)
	}
	elapsed := time.Since(start)
	cpu1, _ := procCPU("self")
	r.Seconds, r.Events = elapsed.Seconds(), i
	r.CPUSeconds = (cpu1 - cpu0).Seconds()
	if i > 0 {
		r.EventsPerSec = float64(i) / r.Seconds
		r.MicrosPerEv = float64(elapsed) / float64(time.Microsecond) / float64(i)
		r.HitsPerEvent = float64(hits) / float64(i)
	}
	if r.CPUSeconds > 0 {
		r.EventsPerCPU = float64(i) / r.CPUSeconds
	}
	for _, name := range order {
		a := byType[name]
		st := ScrubType{Type: name, Events: a.n}
		if a.n > 0 {
			st.MicrosPerEv = float64(a.took) / float64(time.Microsecond) / float64(a.n)
			st.HitsPerEvent = float64(a.hits) / float64(a.n)
		}
		if inClean > 0 {
			st.TimeShare = float64(a.took) / float64(inClean)
		}
		r.ByType = append(r.ByType, st)
	}
	return r
}
