package daemon_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/daemon"
	"github.com/herdsec/herd/agent/fswatch"
	"github.com/herdsec/herd/agent/quarantine"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/rules"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/scrub"
	"github.com/herdsec/herd/sigdb"
)

// withConsent creates a state folder whose consent record is the full profile.
func withConsent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&report.Reporter{State: st, Scrubber: scrub.Inventory{}}).SetConsent(rec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// queued returns the outbox's events by type.
func queued(t *testing.T, dir string) map[string][]map[string]any {
	t.Helper()
	st, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q, err := st.Pending(0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, e := range q {
		var f map[string]any
		if err := json.Unmarshal(e.Payload, &f); err != nil {
			t.Fatal(err)
		}
		out[e.Type] = append(out[e.Type], f)
	}
	return out
}

// eventually polls the outbox until ok accepts it, for up to 30 s, and
// returns the last contents seen.
func eventually(t *testing.T, dir string, ok func(map[string][]map[string]any) bool) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		q := queued(t, dir)
		if ok(q) || time.Now().After(deadline) {
			return q
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type alerts struct {
	mu  sync.Mutex
	got []daemon.Alert
	c   chan daemon.Alert
}

func (a *alerts) add(x daemon.Alert) {
	a.mu.Lock()
	a.got = append(a.got, x)
	a.mu.Unlock()
	a.c <- x
}

func (a *alerts) wait(t *testing.T, kind string) daemon.Alert {
	t.Helper()
	return a.waitFor(t, kind, func(daemon.Alert) bool { return true })
}

func (a *alerts) waitFor(t *testing.T, kind string, ok func(daemon.Alert) bool) daemon.Alert {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case x := <-a.c:
			if x.Kind == kind && ok(x) {
				return x
			}
		case <-deadline:
			a.mu.Lock()
			defer a.mu.Unlock()
			t.Fatalf("no such %s alert; alerts: %+v", kind, a.got)
		}
	}
}

func start(t *testing.T, cfg daemon.Config) (*daemon.Daemon, *alerts) {
	t.Helper()
	al := &alerts{c: make(chan daemon.Alert, 64)}
	cfg.Alert = al.add
	d, err := daemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(30 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	return d, al
}

// TestRealTimeQuarantine: a file written into a watched folder (by another
// process) is detected, quarantined, alerted and reported.
func TestRealTimeQuarantine(t *testing.T) {
	stateDir, watched := withConsent(t), t.TempDir()
	q, err := quarantine.Open(filepath.Join(stateDir, "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	d, al := start(t, daemon.Config{Folders: []string{watched}, StateDir: stateDir, Quarantine: q, Scan: scan.Options{DB: sigdb.Builtin()}})
	time.Sleep(200 * time.Millisecond) // the watcher is set up in Run
	clean := filepath.Join(watched, "notes.txt")
	bad := filepath.Join(watched, "sub", "dropper.com")
	script := `mkdir -p "$(dirname "$2")" && printf '%s' hello > "$1" && printf '%s' "$3" > "$2"`
	if out, err := exec.Command("/bin/sh", "-c", script, "sh", clean, bad, herd.EICAR).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	a := al.wait(t, "file")
	if a.Action != "quarantined" || a.Threat != herd.EICARThreat || !strings.HasSuffix(a.Path, "dropper.com") {
		t.Fatalf("alert %+v", a)
	}
	if _, err := os.Stat(bad); !os.IsNotExist(err) {
		t.Fatalf("detected file still in place: %v", err)
	}
	if _, err := os.Stat(clean); err != nil {
		t.Fatalf("clean file touched: %v", err)
	}
	items, err := q.List()
	if err != nil || len(items) != 1 || items[0].Threat != herd.EICARThreat {
		t.Fatalf("quarantine = %+v, %v", items, err)
	}
	ev := eventually(t, stateDir, func(q map[string][]map[string]any) bool {
		return len(q["threat.detected"]) > 0 && len(q["scan.finished"]) > 0
	})
	th := ev["threat.detected"]
	if len(th) != 1 || th[0]["action"] != "quarantined" || th[0]["method"] != "signature" || th[0]["sha256"] != herd.EICARSHA256 {
		t.Fatalf("threat reports %+v", th)
	}
	if len(ev["scan.finished"]) == 0 || ev["scan.finished"][0]["trigger"] != "realtime" {
		t.Fatalf("operation data %+v", ev["scan.finished"])
	}
	// A restored file is left alone from then on: the person decided.
	if _, err := q.Restore(items[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	// The copy is written before the marker and files are scanned in
	// order: once two more files were scanned, the copy was.
	scanned := d.Stats().FilesScanned
	marker := filepath.Join(watched, "marker")
	if out, err := exec.Command("/bin/sh", "-c", `printf '%s' "$3" > "$2"; echo x > "$1"`, "sh", marker, bad+".copy", herd.EICAR).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.Stats().FilesScanned < scanned+2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	a = al.waitFor(t, "file", func(a daemon.Alert) bool { return a.Path == bad+".copy" })
	if a.Action != "allowed" {
		t.Fatalf("a restored content found again: %+v, want an alert that it was allowed", a)
	}
	for _, p := range []string{bad, bad + ".copy"} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s taken again after a restore: %v", p, err)
		}
	}
	if items, _ := q.List(); len(items) != 0 {
		t.Fatalf("quarantine after restore = %+v", items)
	}
}

// has reports whether one of evs has every key and value of kv.
func has(evs []map[string]any, kv ...string) bool {
	for _, e := range evs {
		ok := true
		for i := 0; i < len(kv); i += 2 {
			ok = ok && e[kv[i]] == kv[i+1]
		}
		if ok {
			return true
		}
	}
	return false
}

// events replays recorded process starts.
type events []rules.Event

func (e events) Run(ctx context.Context, emit func(rules.Event)) error {
	for _, ev := range e {
		emit(ev)
	}
	<-ctx.Done()
	return nil
}

// TestBehaviourRuleAlertsAndReports: a process start matching a shipped
// rule is a local alert and, with consent, a threat report with the rule id
// and a process.start event with the command line scrubbed.
func TestBehaviourRuleAlertsAndReports(t *testing.T) {
	stateDir := withConsent(t)
	set, err := rules.Shipped()
	if err != nil {
		t.Fatal(err)
	}
	sh, _ := exec.LookPath("sh")
	ev := rules.Event{Fields: map[string]any{"Image": sh, "ParentImage": "/usr/bin/python3", "CommandLine": "sh -c echo ZWNobyBoaQ== | base64 -d | bash /home/alice/x", "ProcessId": 0}}
	ev.Logsource.Product, ev.Logsource.Category = "linux", "process_creation"
	benign := rules.Event{Fields: map[string]any{"Image": "/usr/bin/ls", "CommandLine": "ls -l"}}
	benign.Logsource = ev.Logsource
	d, al := start(t, daemon.Config{StateDir: stateDir, Rules: set, Processes: events{benign, ev}})
	const base64ToShell = "ba592c6d-6888-43c3-b8c6-689b8fe47337"
	a := al.waitFor(t, "process", func(a daemon.Alert) bool { return a.RuleID == base64ToShell })
	q := eventually(t, stateDir, func(q map[string][]map[string]any) bool {
		return d.Stats().ProcessEvents == 2 && has(q["threat.detected"], "rule_id", a.RuleID) && has(q["process.start"], "rule_id", a.RuleID)
	})
	th, ps := q["threat.detected"], q["process.start"]
	if !has(th, "method", "behaviour", "rule_id", a.RuleID) {
		t.Fatalf("threat reports %+v", th)
	}
	if !has(ps, "rule_id", a.RuleID) || ps[0]["image_sha256"] == "" {
		t.Fatalf("process.start %+v", ps)
	}
	if cl, _ := ps[0]["command_line"].(string); strings.Contains(cl, "alice") {
		t.Fatalf("command line not scrubbed: %q", cl)
	}
	for _, e := range ps {
		if e["image_path"] == "/usr/bin/ls" {
			t.Fatalf("a process no rule matched was reported: %+v", e)
		}
	}
}

// TestArchiveFindTakesTheArchive: a threat inside a zip written into a
// watched folder sends the zip itself to the quarantine, once.
func TestArchiveFindTakesTheArchive(t *testing.T) {
	stateDir, watched := withConsent(t), t.TempDir()
	q, err := quarantine.Open(filepath.Join(stateDir, "quarantine"))
	if err != nil {
		t.Fatal(err)
	}
	_, al := start(t, daemon.Config{Folders: []string{watched}, StateDir: stateDir, Quarantine: q, Scan: scan.Options{DB: sigdb.Builtin()}})
	time.Sleep(200 * time.Millisecond)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"a/eicar.com", "b/eicar.txt"} {
		w, _ := zw.Create(name)
		w.Write([]byte(herd.EICAR))
	}
	zw.Close()
	src := filepath.Join(t.TempDir(), "tools.zip")
	os.WriteFile(src, buf.Bytes(), 0o600)
	zipPath := filepath.Join(watched, "tools.zip")
	if out, err := exec.Command("cp", src, zipPath).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for range 2 {
		a := al.wait(t, "file")
		if a.Action != "quarantined" || !strings.HasPrefix(a.Path, zipPath+"//") {
			t.Fatalf("alert %+v", a)
		}
	}
	if _, err := os.Stat(zipPath); !os.IsNotExist(err) {
		t.Fatalf("archive still in place: %v", err)
	}
	if items, _ := q.List(); len(items) != 1 || items[0].Path != zipPath {
		t.Fatalf("quarantine = %+v, want the zip once", items)
	}
}

// overflowing is a watcher whose kernel queue overflowed at once.
type overflowing struct {
	events chan fswatch.Event
	errs   chan error
}

func (w *overflowing) Events() <-chan fswatch.Event { return w.events }
func (w *overflowing) Errors() <-chan error         { return w.errs }
func (w *overflowing) Kind() string                 { return "test" }
func (w *overflowing) Close() error                 { return nil }

// TestOverflowRescansFolders: when the watcher lost events, the folders are
// scanned again, so a file written meanwhile is still found.
func TestOverflowRescansFolders(t *testing.T) {
	stateDir, watched := withConsent(t), t.TempDir()
	missed := filepath.Join(watched, "deep", "missed.com")
	os.MkdirAll(filepath.Dir(missed), 0o700)
	os.WriteFile(missed, []byte(herd.EICAR), 0o600)
	q, _ := quarantine.Open(filepath.Join(stateDir, "quarantine"))
	w := &overflowing{events: make(chan fswatch.Event), errs: make(chan error, 1)}
	w.errs <- fswatch.ErrOverflow
	_, al := start(t, daemon.Config{Folders: []string{watched}, Watcher: w, StateDir: stateDir, Quarantine: q, Scan: scan.Options{DB: sigdb.Builtin()}})
	if a := al.wait(t, "file"); a.Path != missed || a.Action != "quarantined" {
		t.Fatalf("alert %+v", a)
	}
}

// TestFlushesToTheCloud: the daemon sends the outbox to a real cloud, a
// batch per opening of the state, until it is empty.
func TestFlushesToTheCloud(t *testing.T) {
	c, srv := cloud.MustOpenTest(t)
	client, err := httpapi.NewClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := withConsent(t)
	st, _ := state.Open(stateDir)
	rep := &report.Reporter{State: st, Scrubber: scrub.Inventory{}}
	for i := range 250 {
		if ok, _, err := rep.Report("scan.finished", map[string]any{"files": i, "trigger": "scheduled"}); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	st.Close()
	d, _ := start(t, daemon.Config{StateDir: stateDir, Cloud: client, CloudURL: srv.URL, Flush: 50 * time.Millisecond})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s, _ := c.DB.Telemetry().Stats(context.Background()); s.Events == 250 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if s, _ := c.DB.Telemetry().Stats(context.Background()); s.Events != 250 {
		t.Fatalf("cloud holds %d events, want 250 (%+v)", s.Events, d.Stats())
	}
	if q := queued(t, stateDir); len(q) != 0 {
		t.Fatalf("outbox not empty: %v", q)
	}
}
