package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/inventory"
)

// recorder is a test server in front of a real cloud that keeps every
// byte the agent sends.
type recorder struct {
	URL    string
	mu     sync.Mutex
	bodies map[string][][]byte // by path
}

func MustStartRecorder(tb testing.TB) *recorder {
	tb.Helper()
	_, srv := cloud.MustOpenTest(tb)
	target, _ := url.Parse(srv.URL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	r := &recorder{bodies: map[string][][]byte{}}
	rec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.bodies[req.URL.Path] = append(r.bodies[req.URL.Path], append(append([]byte(req.URL.RawQuery), '\n'), b...))
		r.mu.Unlock()
		req.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, req)
	}))
	tb.Cleanup(rec.Close)
	r.URL = rec.URL
	return r
}

// all returns every recorded byte, and the telemetry events sent.
func (r *recorder) all(t *testing.T) ([]byte, []herd.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var raw []byte
	var events []herd.Event
	for path, bodies := range r.bodies {
		for _, b := range bodies {
			raw = append(raw, b...)
			if path == "/v1/telemetry" {
				var req struct {
					Events []herd.Event `json:"events"`
				}
				_, body, _ := bytes.Cut(b, []byte("\n"))
				if err := json.Unmarshal(body, &req); err != nil {
					t.Fatalf("telemetry body: %v", err)
				}
				events = append(events, req.Events...)
			}
		}
	}
	return raw, events
}

// canaryEvents is one event of every telemetry type; each carries a value
// unique to its category in a free-form field where it has one.
const canaryEvents = `{"type":"license.info","fields":{"product_version":"1.0.0-cnrylicense"}}
{"type":"scan.finished","fields":{"duration_ms":777123,"files":3,"trigger":"manual"}}
{"type":"agent.error","fields":{"component":"scan","code":"scan.read","message":"cnryoperation failed"}}
{"type":"device.info","fields":{"os_family":"linux","os_version":"cnrydevice-12"}}
{"type":"threat.detected","fields":{"sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f","threat_name":"cnrythreats","method":"signature","action":"reported"}}
{"type":"app.installed","fields":{"name":"cnryapps","source":"dpkg"}}
{"type":"process.start","fields":{"image_sha256":"3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7","command_line":"run cnryosevents"}}
{"type":"sample.offered","fields":{"sha256":"3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7","size":4242421,"file_type":"elf"}}
{"type":"wifi.seen","fields":{"bssid":"c0ffee00c0ffee00c0ffee00c0ffee00","security":"open"}}
{"type":"url.check","fields":{"url":"https://cnryweb.example.com/","verdict":"unknown"}}
`

// markers are what betrays each category in the bytes sent.
var markers = map[herd.Category][]string{
	herd.CategoryLicense:    {"cnrylicense", `"license.info"`},
	herd.CategoryOperation:  {"777123", "cnryoperation", `"scan.finished"`, `"agent.error"`},
	herd.CategoryDevice:     {"cnrydevice", `"device.info"`},
	herd.CategoryThreats:    {"cnrythreats", `"threat.detected"`},
	herd.CategoryApps:       {"cnryapps", `"app.installed"`},
	herd.CategoryOSEvents:   {"cnryosevents", `"process.start"`},
	herd.CategorySuspicious: {"4242421", `"sample.offered"`},
	herd.CategoryWiFi:       {"c0ffee00c0ffee00", `"wifi.seen"`},
	herd.CategoryWeb:        {"cnryweb", `"url.check"`},
}

// TestCategoryOffSendsZeroBytes switches each category off in turn, has the
// real agent report one event of every type and send, records every byte
// that reaches the (real) cloud, and finds nothing of that category — while
// every other category's events did arrive.
func TestCategoryOffSendsZeroBytes(t *testing.T) {
	events := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(events, []byte(canaryEvents), 0o600); err != nil {
		t.Fatal(err)
	}
	for off := range markers {
		t.Run(string(off), func(t *testing.T) {
			rec := MustStartRecorder(t)
			g := []string{"--cloud", rec.URL, "--state", t.TempDir()}
			for _, args := range [][]string{{"consent", "set", "full"}, {"consent", "set", string(off), "off"}, {"report", events}} {
				if r := run(t, nil, append(g, args...)...); r.code != ExitClean {
					t.Fatalf("herd %v:\n%v", args, r)
				}
			}
			raw, sent := rec.all(t)
			for _, m := range markers[off] {
				if bytes.Contains(raw, []byte(m)) {
					t.Errorf("category %s is off, but %q was sent", off, m)
				}
			}
			got := map[herd.Category]int{}
			for _, ev := range sent {
				got[ev.Category]++
				if et, _ := inventory.Get(ev.Type); et == nil || et.Category == off {
					t.Errorf("sent an event of type %q", ev.Type)
				}
			}
			for c := range markers {
				if c != off && got[c] == 0 {
					t.Errorf("category %s is on, but none of its events arrived (sent: %v)", c, got)
				}
			}
			if got[off] != 0 {
				t.Errorf("%d events of category %s sent", got[off], off)
			}
		})
	}
}

// TestConsentOffPurgesOutbox: events queued while the cloud is away are
// removed from the outbox when their category is switched off, and never
// sent.
func TestConsentOffPurgesOutbox(t *testing.T) {
	rec := MustStartRecorder(t)
	state := t.TempDir()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(canaryEvents), 0o600)
	dead := "http://127.0.0.1:1"
	if r := run(t, nil, "--cloud", dead, "--state", state, "consent", "set", "full"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	// The cloud is unreachable: the events stay queued.
	if r := run(t, nil, "--cloud", dead, "--state", state, "report", events); r.code != ExitError || !strings.Contains(r.stderr, "telemetry stays queued") {
		t.Fatalf("report with no cloud:\n%v", r)
	}
	r := run(t, nil, "--cloud", dead, "--state", state, "consent", "set", "web", "off")
	if r.code != ExitClean || !strings.Contains(r.stdout, "removed 1 queued events") {
		t.Fatalf("switching web off:\n%v", r)
	}
	if r := run(t, nil, "--state", state, "privacy", "last"); !strings.Contains(r.stdout, "Waiting to be sent: 9 events") || strings.Contains(r.stdout, "cnryweb") {
		t.Fatalf("outbox after web off:\n%v", r)
	}
	if r := run(t, nil, "--cloud", rec.URL, "--state", state, "flush"); r.code != ExitClean || !strings.Contains(r.stdout, "sent 9 events") {
		t.Fatalf("flush:\n%v", r)
	}
	raw, _ := rec.all(t)
	if bytes.Contains(raw, []byte("cnryweb")) || bytes.Contains(raw, []byte("url.check")) {
		t.Fatal("a purged web event reached the cloud")
	}
}

// Switching a category off with the cloud reachable prints what the cloud
// erased of it and that it verified the erasure.
func TestConsentOffPrintsCloudReceipt(t *testing.T) {
	rec := MustStartRecorder(t)
	state := t.TempDir()
	events := filepath.Join(t.TempDir(), "events.jsonl")
	os.WriteFile(events, []byte(canaryEvents), 0o600)
	if r := run(t, nil, "--cloud", rec.URL, "--state", state, "consent", "set", "full"); r.code != ExitClean {
		t.Fatalf("consent:\n%v", r)
	}
	if r := run(t, nil, "--cloud", rec.URL, "--state", state, "report", events); r.code != ExitClean {
		t.Fatalf("report:\n%v", r)
	}
	r := run(t, nil, "--cloud", rec.URL, "--state", state, "consent", "set", "web", "off")
	if r.code != ExitClean || !strings.Contains(r.stdout, "the cloud erased 1 web events of this device") || !strings.Contains(r.stdout, "verified: the cloud counted again") {
		t.Fatalf("switching web off:\n%v", r)
	}
}
