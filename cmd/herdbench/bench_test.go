package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/scrub"
	"github.com/herdsec/herd/sigdb"
)

// mustGenerate writes the quick plan's corpus into a new temp dir.
func mustGenerate(tb testing.TB) (string, Manifest) {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "corpus")
	m, err := generateCorpus(dir, quickPlan().Corpus)
	if err != nil {
		tb.Fatal(err)
	}
	return dir, m
}

// TestCorpus generates the quick corpus twice and checks what a scan
// benchmark relies on: the same bytes every time, the planned totals, the
// EICAR files, and one file that the bench database detects.
func TestCorpus(t *testing.T) {
	dir, m := mustGenerate(t)
	_, m2 := mustGenerate(t)
	t.Run("deterministic", func(t *testing.T) {
		if !reflect.DeepEqual(m, m2) {
			t.Fatal("two generations of the same spec differ")
		}
	})
	t.Run("on disk", func(t *testing.T) { testCorpusOnDisk(t, dir, m) })
	t.Run("EICAR", func(t *testing.T) { testCorpusEICAR(t, dir, m) })
	t.Run("DB match", func(t *testing.T) { testBenchDBMatch(t, dir, m) })
}

// testCorpusOnDisk checks that the files are what the manifest says, to the
// byte, and add up to the spec.
func testCorpusOnDisk(t *testing.T, dir string, m Manifest) {
	spec := quickPlan().Corpus
	if len(m.Files) != spec.Files || m.Bytes() != spec.Bytes {
		t.Fatalf("corpus has %d files, %d bytes; want %d, %d", len(m.Files), m.Bytes(), spec.Files, spec.Bytes)
	}
	var onDisk int64
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		if int64(len(b)) != f.Size || hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Fatalf("%s: %d bytes, sha256 %x; manifest says %d, %s", f.Path, len(b), sum, f.Size, f.SHA256)
		}
		onDisk += int64(len(b))
	}
	if onDisk != spec.Bytes {
		t.Fatalf("%d bytes on disk, want %d", onDisk, spec.Bytes)
	}
}

func testCorpusEICAR(t *testing.T, dir string, m Manifest) {
	n := 0
	for _, f := range m.Files {
		if !f.EICAR {
			continue
		}
		n++
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != herd.EICAR || f.SHA256 != herd.EICARSHA256 {
			t.Errorf("%s: not the EICAR test file", f.Path)
		}
	}
	if n != eicarFiles {
		t.Errorf("%d EICAR files, want %d", n, eicarFiles)
	}
}

// testBenchDBMatch checks that the bench database detects its one corpus
// file and nothing else, so that scan detections are real.
func testBenchDBMatch(t *testing.T, dir string, m Manifest) {
	hsb := filepath.Join(t.TempDir(), "bench.hsb")
	info, err := writeBenchDB(hsb, 1000, m.Files[m.Match])
	if err != nil {
		t.Fatal(err)
	}
	db := sigdb.New()
	if err := db.LoadFile(hsb); err != nil {
		t.Fatal(err)
	}
	if db.Len() != 1001 || info.Signatures != 1001 {
		t.Fatalf("DB holds %d signatures, info says %d; want 1001", db.Len(), info.Signatures)
	}
	var hits []string
	for _, f := range m.Files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		if err != nil {
			t.Fatal(err)
		}
		d := herd.FileDigests{Size: int64(len(b)), SHA256: sha256.Sum256(b)}
		if name, ok := db.Match(&d); ok {
			hits = append(hits, f.Path+" "+name)
		}
	}
	want := []string{m.Files[m.Match].Path + " Herd.Bench.CorpusMatch"}
	if !reflect.DeepEqual(hits, want) {
		t.Fatalf("DB matches %q, want %q", hits, want)
	}
}

func TestCorpusMix(t *testing.T) {
	for _, spec := range []CorpusSpec{quickPlan().Corpus, fullPlan().Corpus} {
		m, err := planCorpus(spec)
		if err != nil {
			t.Fatal(err)
		}
		var eicar, small, big, deep int
		var total int64
		for _, f := range m.Files {
			total += f.Size
			switch {
			case f.EICAR:
				eicar++
			case f.Size <= 16<<10:
				small++
			case f.Size >= 5<<20:
				big++
			}
			if strings.Count(f.Path, "/") == 3 {
				deep++
			}
		}
		if total != spec.Bytes || len(m.Files) != spec.Files {
			t.Errorf("%d files: planned %d files, %d bytes; want %d bytes", spec.Files, len(m.Files), total, spec.Bytes)
		}
		if eicar != eicarFiles {
			t.Errorf("%d files: %d EICAR files, want %d", spec.Files, eicar, eicarFiles)
		}
		if small < spec.Files*95/100 || big < spec.Files/1000 || deep == 0 {
			t.Errorf("%d files: %d small, %d of 5 MiB or more, %d three folders deep: not the intended mix", spec.Files, small, big, deep)
		}
		if f := m.Files[m.Match]; f.EICAR || f.Size < 100<<10 {
			t.Errorf("%d files: the DB match is %+v, want a large non-EICAR file", spec.Files, f)
		}
	}
}

func TestEnsureCorpusReuses(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "corpus")
	manifest := dir + ".manifest.json"
	spec := CorpusSpec{Files: 200, Bytes: 12_000_000, Seed: 1} // the smallest the mix allows
	m1, reused, err := ensureCorpus(dir, manifest, spec)
	if err != nil || reused {
		t.Fatalf("first ensureCorpus: reused %v, err %v; want a new corpus", reused, err)
	}
	m2, reused, err := ensureCorpus(dir, manifest, spec)
	if err != nil || !reused || !reflect.DeepEqual(m1, m2) {
		t.Fatalf("second ensureCorpus: reused %v, err %v; want the same corpus reused", reused, err)
	}
	// A damaged corpus is generated again, not reused.
	victim := filepath.Join(dir, filepath.FromSlash(m1.Files[7].Path))
	if err := os.Truncate(victim, 1); err != nil {
		t.Fatal(err)
	}
	if _, reused, err := ensureCorpus(dir, manifest, spec); err != nil || reused {
		t.Fatalf("after damage: reused %v, err %v; want a new corpus", reused, err)
	}
	if st, err := os.Stat(victim); err != nil || st.Size() != m1.Files[7].Size {
		t.Fatalf("damaged file not restored: %v", err)
	}
}

func TestLatencyOf(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 200; i++ {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	got := latencyOf(ds)
	want := Latency{P50: 100, P90: 180, P99: 198, Max: 200}
	if got != want {
		t.Fatalf("latencyOf(1..200 ms) = %+v, want %+v", got, want)
	}
	if got := latencyOf(nil); got != (Latency{}) {
		t.Fatalf("latencyOf(nil) = %+v, want zero", got)
	}
}

func TestLogValue(t *testing.T) {
	line := `time=2026-01-02T03:04:05Z level=INFO msg="herdd ready" url=http://127.0.0.1:40123 store="embedded JetStream in /x y" verdicts=3`
	if u, ok := logValue(line, "url"); !ok || u != "http://127.0.0.1:40123" {
		t.Errorf("url = %q, %v", u, ok)
	}
	if s, ok := logValue(line, "store"); !ok || s != "embedded JetStream in /x y" {
		t.Errorf("store = %q, %v", s, ok)
	}
	if _, ok := logValue(line, "nope"); ok {
		t.Error("found a missing key")
	}
}

func TestThousands(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1234567.4: "1,234,567", -12345: "-12,345"} {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	before, ok := procCPU("self")
	if !ok {
		t.Fatal("procCPU(self): cannot parse /proc/self/stat")
	}
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; { // burn CPU for a few ticks
	}
	if after, _ := procCPU("self"); after <= before {
		t.Fatalf("CPU time did not grow: %v then %v", before, after)
	}
}

// TestTelemetryMix checks the ingest benchmark's batches: the same bytes on
// every generation, accepted by the cloud's real decoding, every event id
// distinct across sends, the intended mix of types, and every event
// storable by the cloud's cleaning with the personal data the mix plants
// removed, so that the load runs measure storing and not rejections.
func TestTelemetryMix(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ip := fullPlan().Ingest
	a, err := mixBatches(ip.Templates, ip.BatchSize, ip.Devices, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mixBatches(ip.Templates, ip.BatchSize, ip.Devices, now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two generations of the mix differ")
	}
	// Planted by the generator; the cloud's second pass must remove them.
	// (AWS access key ids are not listed: gitleaks skips those of low
	// entropy, as some random ones are.)
	planted := []string{"ghp_", "hunter2", "s3cr3t", "S3cretPass", "Winter2026", "/home/", "%40",
		"@example.com", "@contoso.com", "@gmail.com", "@acme-corp.example", "@mail.example.org",
		"10.1.", "192.168.", "203.0.113.", "utm_", "fbclid", "gclid", "sessionid", "session=", "token=", "state=", "login_hint", "authuser", "#"}
	planted = append(planted, mixUsers...)
	ids := map[string]bool{}
	var hits int
	for seq := int64(0); seq < int64(2*len(a)); seq++ {
		tmpl := &a[seq%int64(len(a))]
		body := tmpl.body(seq)
		req, err := httpapi.DecodeTelemetry(bytes.NewReader(body), now)
		if err != nil {
			t.Fatalf("batch %d: DecodeTelemetry: %v", seq, err)
		}
		if req.Device != tmpl.Device || len(req.Events) != ip.BatchSize {
			t.Fatalf("batch %d: device %q, %d events; want %q, %d", seq, req.Device, len(req.Events), tmpl.Device, ip.BatchSize)
		}
		types := map[string]int{}
		for k, ev := range req.Events {
			if want := fmt.Sprintf("%s%0*d", mixEventIDPrefix, mixEventIDDigits, seq*int64(ip.BatchSize)+int64(k)); ev.ID != want {
				t.Fatalf("batch %d event %d: id %q, want %q", seq, k, ev.ID, want)
			}
			if ids[ev.ID] {
				t.Fatalf("batch %d event %d: id %q repeats", seq, k, ev.ID)
			}
			ids[ev.ID] = true
			types[ev.Type]++
			if seq >= int64(len(a)) {
				continue // the second round repeats the payloads of the first
			}
			et, ok := inventory.Get(ev.Type)
			if !ok || et.Category != ev.Category {
				t.Fatalf("batch %d event %d: type %q category %q not in the inventory", seq, k, ev.Type, ev.Category)
			}
			c, err := et.Clean(ev.Payload, scrub.Inventory{})
			if err != nil || len(c.Dropped) > 0 {
				t.Fatalf("batch %d event %d: Clean: %v, dropped %v\n%s", seq, k, err, c.Dropped, ev.Payload)
			}
			hits += c.Hits
			for _, p := range planted {
				if bytes.Contains(c.Payload, []byte(p)) {
					t.Errorf("batch %d event %d: %q survives cleaning: %s", seq, k, p, c.Payload)
				}
			}
		}
		if want := map[string]int{"process.start": 40, "url.check": 30, "threat.detected": 30}; !reflect.DeepEqual(types, want) {
			t.Fatalf("batch %d: types %v, want %v", seq, types, want)
		}
	}
	if hits < len(a)*ip.BatchSize {
		t.Errorf("%d scrubber hits in %d events: the mix plants too little for the second pass", hits, len(a)*ip.BatchSize)
	}
	// Sending must not change the template.
	if !reflect.DeepEqual(a, b) {
		t.Fatal("body changed its template")
	}
}

// BenchmarkCleanMix runs the telemetry mix through inventory.Clean with the
// cloud's scrubber on one goroutine: the per-core scrubbing figure.
func BenchmarkCleanMix(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	ip := fullPlan().Ingest
	batches, err := mixBatches(ip.Templates, ip.BatchSize, ip.Devices, now)
	if err != nil {
		b.Fatal(err)
	}
	mix, err := decodeMix(batches, now)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		k := n % len(mix.events)
		if _, err := mix.types[k].Clean(mix.events[k].Payload, scrub.Inventory{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkIngestHTTP posts the telemetry mix to a cloud in this process
// from 4 goroutines: the server's cost per event, for profiling.
func BenchmarkIngestHTTP(b *testing.B) {
	now := time.Now().UTC()
	ip := fullPlan().Ingest
	batches, err := mixBatches(ip.Templates, ip.BatchSize, ip.Devices, now)
	if err != nil {
		b.Fatal(err)
	}
	_, srv := cloud.MustOpenTest(b)
	api, _ := httpapi.NewClient(srv.URL)
	rec, _ := consent.FromProfile(consent.ProfileFull, now)
	for d := range ip.Devices {
		if _, err := api.SetConsent(context.Background(), mixDevice(d), rec); err != nil {
			b.Fatal(err)
		}
	}
	var seq atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s := seq.Add(1)
			t := &batches[s%int64(len(batches))]
			res, err := postTelemetry(context.Background(), http.DefaultClient, srv.URL+"/v1/telemetry", t.body(s))
			if err != nil || res.Stored != ip.BatchSize {
				b.Fatalf("%+v, %v", res, err)
			}
		}
	})
	b.ReportMetric(float64(b.N*ip.BatchSize)/b.Elapsed().Seconds(), "events/s")
}
