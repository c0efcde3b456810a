// Package daemon is the agent's resident part (herd watch): real-time
// protection of folders (scan each file written, quarantine what is
// malicious), behaviour rules on process starts, periodic checks
// (installed applications, Wi-Fi), and the outbox sent with back-off.
//
// Every finding is a local alert first; what leaves the device goes through
// the reporter, so consent and the data inventory decide as for every other
// event. The daemon opens the agent's state only for each operation, so
// the herd commands (consent, quarantine, my-data) work while it runs.
package daemon

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/fswatch"
	"github.com/herdsec/herd/agent/quarantine"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/scrub"
)

// Alert is a local alert: what the agent found and did.
type Alert struct {
	Time   time.Time `json:"time"`
	Kind   string    `json:"kind"` // "file", "process" or "wifi"
	Path   string    `json:"path,omitempty"`
	Threat string    `json:"threat,omitempty"`
	RuleID string    `json:"rule_id,omitempty"`
	Action string    `json:"action"` // quarantined, reported, warned, failed
	Detail string    `json:"detail,omitempty"`
}

// Processes is a source of process-start events (agent/procevents).
type Processes interface {
	// Run calls emit for each process start until ctx is done.
	Run(ctx context.Context, emit func(rules.Event)) error
}

// Task is a periodic check (installed applications, Wi-Fi): it returns
// the events to report, as inventory type and fields, and alerts to raise.
type Task struct {
	Name     string
	Every    time.Duration
	Run      func(ctx context.Context) ([]Report, []Alert, error)
	RunFirst bool // run once at start, then every Every
}

// Report is one event to queue: an inventory type and its fields.
type Report struct {
	Type   string
	Fields map[string]any
}

// Config configures the daemon. Zero values are sensible defaults.
type Config struct {
	// Folders are watched in real time; none: no file protection.
	Folders []string
	// Scan decides each written file (DB, Cloud, Filter, Engines).
	Scan scan.Options
	// Quarantine, if set, takes malicious files; else they are only reported.
	Quarantine *quarantine.Quarantine
	// Rules are evaluated on each process start from Processes
	// (SetRules replaces them while the daemon runs).
	Rules     *rules.Set
	Processes Processes
	// OfferSample, if set, is called with the program a behaviour rule
	// flagged (its path and SHA-256): it may upload it as a suspicious
	// file, if consent allows and the cloud does not know it.
	OfferSample func(ctx context.Context, path, sha256 string)
	// StateDir is the agent's state (consent, outbox).
	StateDir string
	// Cloud receives the outbox; nil: events stay queued.
	Cloud    report.Cloud
	CloudURL string
	// Flush is the outbox's sending period (default 30 s); after a failure
	// the period doubles up to MaxBackoff (default 15 min), with jitter.
	Flush, MaxBackoff time.Duration
	Tasks             []Task
	// Alert receives every local alert (default: the log).
	Alert func(Alert)
	Log   *slog.Logger
	// Watcher overrides the file watcher (tests); nil: fswatch.New.
	Watcher fswatch.Watcher
	// MaxHash bounds the bytes read to hash a process image (default 256 MiB).
	MaxHash int64
}

// Daemon is a running agent.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	mu     sync.Mutex // serialises state access within the daemon
	wakeup chan struct{}

	statsMu sync.Mutex
	stats   Stats
	rules   atomic.Pointer[rules.Set]

	offers    chan offer
	offeredMu sync.Mutex
	offered   map[string]bool // programs offered since the start (bounded)
}

// offer is a program to offer as a sample.
type offer struct{ path, sha256 string }

// maxOffered bounds the memory of programs already offered.
const maxOffered = 10_000

// firstOffer reports whether sha256 was not offered yet, and remembers it.
func (d *Daemon) firstOffer(sha256 string) bool {
	d.offeredMu.Lock()
	defer d.offeredMu.Unlock()
	if d.offered[sha256] {
		return false
	}
	if len(d.offered) >= maxOffered {
		clear(d.offered)
	}
	d.offered[sha256] = true
	return true
}

// SetRules replaces the behaviour rules (a new signed set from the cloud).
func (d *Daemon) SetRules(s *rules.Set) { d.rules.Store(s) }

// Stats counts what the daemon did since it started.
type Stats struct {
	FilesScanned  int64
	Detections    int64
	Quarantined   int64
	ProcessEvents int64
	RuleMatches   int64
	Flushes       int64
	FlushFailures int64
}

// New checks the configuration and returns a daemon.
func New(cfg Config) (*Daemon, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("daemon: no state folder")
	}
	if cfg.Flush <= 0 {
		cfg.Flush = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 15 * time.Minute
	}
	if cfg.MaxHash <= 0 {
		cfg.MaxHash = 256 << 20
	}
	if cfg.Scan.Workers <= 0 {
		cfg.Scan.Workers = 1
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Daemon{cfg: cfg, log: log, wakeup: make(chan struct{}, 1), offers: make(chan offer, 16), offered: map[string]bool{}}
	d.rules.Store(cfg.Rules)
	if d.cfg.Alert == nil {
		d.cfg.Alert = func(a Alert) {
			log.Warn("ALERT", "kind", a.Kind, "path", a.Path, "threat", a.Threat, "rule", a.RuleID, "action", a.Action, "detail", a.Detail)
		}
	}
	return d, nil
}

// Stats returns the counters so far.
func (d *Daemon) Stats() Stats {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	return d.stats
}

func (d *Daemon) count(f func(*Stats)) {
	d.statsMu.Lock()
	f(&d.stats)
	d.statsMu.Unlock()
}

// Run runs until ctx is done; it returns an error only if it cannot start.
func (d *Daemon) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if len(d.cfg.Folders) > 0 || d.cfg.Watcher != nil {
		w := d.cfg.Watcher
		if w == nil {
			var fallback, err error
			w, fallback, err = fswatch.New(d.cfg.Folders)
			if err != nil {
				return fmt.Errorf("real-time protection: %w", err)
			}
			if fallback != nil {
				d.log.Info("real-time protection on inotify", "fanotify", fallback)
			}
		}
		d.log.Info("real-time protection", "folders", d.cfg.Folders, "watcher", w.Kind())
		wg.Go(func() { d.watch(ctx, w) })
		d.report(Report{"feature.used", map[string]any{"feature": "realtime", "used": true}})
	}
	if d.cfg.Processes != nil && d.cfg.Rules != nil {
		wg.Go(func() {
			err := d.cfg.Processes.Run(ctx, func(ev rules.Event) { d.process(ctx, ev) })
			if err != nil && ctx.Err() == nil {
				d.fail("rules", "procevents.stopped", err)
			}
		})
		d.report(Report{"feature.used", map[string]any{"feature": "rules", "used": true}})
	}
	if d.cfg.OfferSample != nil {
		// Uploads (a lookup, then up to the size cap) run apart from the
		// process events, one at a time.
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case o := <-d.offers:
					d.cfg.OfferSample(ctx, o.path, o.sha256)
				}
			}
		})
	}
	for _, t := range d.cfg.Tasks {
		wg.Go(func() { d.periodic(ctx, t) })
	}
	wg.Go(func() { d.flushLoop(ctx) })
	wg.Wait()
	return nil
}

// watch scans each file the watcher reports, one at a time; a file written
// again while queued is scanned once.
func (d *Daemon) watch(ctx context.Context, w fswatch.Watcher) {
	defer w.Close()
	pending := map[string]bool{}
	var queue []string
	for {
		if len(queue) == 0 {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Events():
				if !ok {
					return
				}
				queue, pending[e.Path] = append(queue, e.Path), true
			case err := <-w.Errors():
				d.watchError(ctx, err)
			}
			continue
		}
		// Take what else has arrived, then scan the oldest.
		for drained := false; !drained; {
			select {
			case e, ok := <-w.Events():
				if !ok {
					drained = true
					break
				}
				if !pending[e.Path] {
					queue, pending[e.Path] = append(queue, e.Path), true
				}
			case err := <-w.Errors():
				d.watchError(ctx, err)
			default:
				drained = true
			}
		}
		path := queue[0]
		queue = queue[1:]
		delete(pending, path)
		d.scanFiles(ctx, []string{path}, "realtime")
		if ctx.Err() != nil {
			return
		}
	}
}

// watchError handles a watcher's failure: lost events mean files written
// meanwhile were not seen, so the folders are scanned again.
func (d *Daemon) watchError(ctx context.Context, err error) {
	d.fail("watch", "watch.error", err)
	if errors.Is(err, fswatch.ErrOverflow) && len(d.cfg.Folders) > 0 {
		d.log.Warn("events were lost: scanning the watched folders again", "folders", d.cfg.Folders)
		d.scanFiles(ctx, d.cfg.Folders, "scheduled")
	}
}

// scanFiles scans files or folders and acts on what it finds.
func (d *Daemon) scanFiles(ctx context.Context, paths []string, trigger string) {
	var found []scan.Result
	sum, err := scan.Scan(ctx, paths, d.cfg.Scan, func(r scan.Result) { found = append(found, r) })
	if err != nil {
		return // stopping
	}
	d.count(func(s *Stats) { s.FilesScanned += sum.Files })
	taken := map[string]bool{} // files quarantined in this pass (an archive with several finds)
	for _, r := range found {
		if r.Err != "" {
			continue // gone already, or unreadable: nothing to act on
		}
		d.count(func(s *Stats) { s.Detections++ })
		a := Alert{Time: time.Now().UTC(), Kind: "file", Path: r.Path, Threat: r.Threat, Action: "reported"}
		method := "signature"
		switch r.Where {
		case "cloud":
			method = "cloud"
		case "filter":
			// A possible match of the offline filter: alert, keep the file,
			// report nothing (unconfirmed; the cloud would count it as evidence).
			a.Detail = "possible match of the offline filter: confirm with herd scan when the cloud is reachable"
			d.cfg.Alert(a)
			continue
		}
		// A find inside an archive ("a.zip//m") takes the archive itself.
		file, wantSHA := r.Path, r.SHA256
		if outer, _, inside := strings.Cut(r.Path, "//"); inside {
			file, wantSHA = outer, ""
		}
		switch {
		case d.cfg.Quarantine == nil || r.Verdict != herd.VerdictMalicious:
		case d.cfg.Quarantine.Allowed(r.SHA256):
			// The person restored this content from the quarantine before:
			// it stays, and every find of it is still told.
			a.Action, a.Detail = "allowed", "restored from quarantine before: left in place"
		case taken[file]:
			a.Action = "quarantined"
		default:
			if _, err := d.cfg.Quarantine.Add(file, r.Threat, wantSHA); err != nil {
				a.Action, a.Detail = "failed", "quarantine: "+err.Error()
				d.fail("watch", "quarantine.failed", err)
			} else {
				a.Action, taken[file] = "quarantined", true
				d.count(func(s *Stats) { s.Quarantined++ })
			}
		}
		d.cfg.Alert(a)
		fields := map[string]any{"sha256": r.SHA256, "threat_name": r.Threat, "method": method, "action": a.Action, "path": r.Path}
		if a.Action == "failed" || a.Action == "allowed" {
			fields["action"] = "none"
		}
		d.report(Report{"threat.detected", fields})
		if a.Action == "quarantined" {
			d.report(Report{"feature.used", map[string]any{"feature": "quarantine", "used": true}})
		}
	}
	if len(found) > 0 || sum.Errors > 0 {
		d.report(Report{"scan.finished", map[string]any{
			"duration_ms": sum.Duration.Milliseconds(), "files": sum.Files, "bytes": sum.Bytes,
			"detections": sum.Detections, "errors": sum.Errors, "trigger": trigger,
		}})
	}
}

// process evaluates one process start against the behaviour rules.
func (d *Daemon) process(ctx context.Context, ev rules.Event) {
	d.count(func(s *Stats) { s.ProcessEvents++ })
	ms, err := d.rules.Load().Evaluate(ctx, ev)
	if err != nil {
		d.fail("rules", "rules.evaluate", err)
		return
	}
	if len(ms) == 0 {
		return
	}
	image, _ := ev.Fields["Image"].(string)
	sum := d.hashImage(ev)
	for _, m := range ms {
		d.count(func(s *Stats) { s.RuleMatches++ })
		d.cfg.Alert(Alert{Time: time.Now().UTC(), Kind: "process", Path: image, Threat: m.Title, RuleID: m.RuleID, Action: "reported", Detail: "level " + m.Level})
		if sum == "" {
			continue // the program is gone or unreadable: nothing to identify it by
		}
		d.report(Report{"threat.detected", map[string]any{
			"sha256": sum, "threat_name": m.Title, "method": "behaviour", "action": "reported", "path": image, "rule_id": m.RuleID,
		}})
		fields := map[string]any{"image_sha256": sum, "image_path": image, "rule_id": m.RuleID}
		if p, ok := ev.Fields["ParentImage"].(string); ok {
			fields["parent_path"] = p
		}
		if c, ok := ev.Fields["CommandLine"].(string); ok {
			fields["command_line"] = c
		}
		d.report(Report{"process.start", fields})
	}
	if sum != "" && d.cfg.OfferSample != nil && image != "" && d.firstOffer(sum) {
		select {
		case d.offers <- offer{image, sum}:
		default:
			d.log.Warn("sample not offered: the upload queue is full", "path", image)
		}
	}
}

// hashImage returns the hex SHA-256 of the event's program, read through
// /proc/PID/exe when the process still runs (the path may have been
// replaced), else by its path; "" if neither can be read.
func (d *Daemon) hashImage(ev rules.Event) string {
	var paths []string
	if pid := fmt.Sprint(ev.Fields["ProcessId"]); pid != "" && pid != "<nil>" {
		paths = append(paths, "/proc/"+pid+"/exe")
	}
	if image, ok := ev.Fields["Image"].(string); ok && image != "" {
		paths = append(paths, image)
	}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		h := sha256.New()
		_, err = io.Copy(h, io.LimitReader(f, d.cfg.MaxHash))
		f.Close()
		if err == nil {
			return hex.EncodeToString(h.Sum(nil))
		}
	}
	return ""
}

func (d *Daemon) periodic(ctx context.Context, t Task) {
	every := t.Every
	if every <= 0 {
		every = time.Hour
	}
	timer := time.NewTimer(every)
	if t.RunFirst {
		timer.Reset(0)
	}
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		reps, alerts, err := t.Run(ctx)
		if err != nil && ctx.Err() == nil {
			d.fail("watch", "task."+t.Name, err)
		}
		for _, a := range alerts {
			d.cfg.Alert(a)
		}
		for _, r := range reps {
			d.report(r)
		}
		// A check (an inventory hashing programs) goes through memory the
		// resident daemon does not keep: give it back now rather than
		// minutes later.
		debug.FreeOSMemory()
		timer.Reset(every)
	}
}

// fail logs an error and reports it as product operation data.
func (d *Daemon) fail(component, code string, err error) {
	d.log.Error(code, "err", err)
	d.report(Report{"agent.error", map[string]any{"component": component, "code": code, "message": err.Error()}})
}

// report queues one event, if consent allows it, and asks for a flush.
func (d *Daemon) report(r Report) {
	err := d.withReporter(func(rep *report.Reporter) error {
		_, _, err := rep.Report(r.Type, r.Fields)
		return err
	})
	if err != nil {
		d.log.Error("report", "type", r.Type, "err", err)
		return
	}
	select {
	case d.wakeup <- struct{}{}:
	default:
	}
}

// withReporter opens the state for one operation.
func (d *Daemon) withReporter(fn func(*report.Reporter) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	st, err := state.Open(d.cfg.StateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(&report.Reporter{State: st, Scrubber: scrub.Inventory{}})
}

// flushLoop sends the outbox every Flush period, soon after new events,
// and backs off exponentially (with jitter) while the cloud fails.
func (d *Daemon) flushLoop(ctx context.Context) {
	if d.cfg.Cloud == nil {
		return
	}
	wait := d.cfg.Flush
	timer := time.NewTimer(0)
	defer timer.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.wakeup:
			if failing {
				continue // backing off: new events wait for the timer
			}
			// Let a burst of findings gather into one batch.
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
		}
		// One batch per opening of the state: between batches the state is
		// free for the agent's commands and the daemon's other work.
		var err error
		for more := true; more && err == nil && ctx.Err() == nil; {
			err = d.withReporter(func(rep *report.Reporter) error {
				rep.MaxBatches = 1
				res, err := rep.Flush(ctx, d.cfg.Cloud, d.cfg.CloudURL)
				more = res.More
				return err
			})
		}
		if err != nil && ctx.Err() == nil {
			d.count(func(s *Stats) { s.FlushFailures++ })
			failing = true
			wait = min(wait*2, d.cfg.MaxBackoff)
			d.log.Warn("telemetry stays queued", "err", err, "retry_in", wait)
		} else {
			d.count(func(s *Stats) { s.Flushes++ })
			failing, wait = false, d.cfg.Flush
		}
		timer.Reset(jitter(wait))
	}
}

// jitter spreads retries of many agents: d ± 20 %.
func jitter(d time.Duration) time.Duration {
	n := time.Now().UnixNano() % 41 // -20 .. +20 percent
	return d + d*time.Duration(n-20)/100
}
