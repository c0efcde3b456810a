package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
	"github.com/herdsec/herd/agent/offline"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/sigdb"
)

// Exit statuses, as ClamAV's: 0 nothing found, 1 something found, 2 an error.
const (
	ExitClean = 0
	ExitFound = 1
	ExitError = 2
)

// Main is the agent CLI. Tests run it with their own writers.
type Main struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// IsTerminal says whether a writer is a terminal (for the progress bar).
	IsTerminal func(w io.Writer) bool
	// Hardware returns the machine's hardware fingerprint (enrollment);
	// nil: hardware.Fingerprint.
	Hardware func() (string, error)
}

// NewMain returns a Main on the process's standard streams.
func NewMain() *Main {
	return &Main{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, IsTerminal: isTerminal}
}

const usage = `Usage: herd [--cloud URL] [--state DIR] [--ca FILE] COMMAND [ARGS]

Commands:
  enroll --license KEY (--ca-fingerprint SHA256 | --ca FILE) [--name NAME]
                                                   enroll this device with the cloud (a device certificate)
  scan [--db FILE]... [--clamd ADDR] [--yara PATH]... [--no-archives] [--json] [--no-cloud|--offline] [--no-cache]
       [--private [--prefix-bits N]] PATH...       scan files and folders, archives inside
  watch [--path DIR]... [--db FILE]... [--clamd ADDR] [--yara PATH]... [--no-quarantine] [--no-cloud] [--no-rules]
                                                   the agent daemon: real-time protection of the folders, behaviour
                                                   rules on process starts, inventory and Wi-Fi checks, telemetry
  quarantine list [--json] | restore ID [--to PATH] | delete ID
                                                   files real-time protection took
  follow                                              keep cached verdicts current (runs until interrupted)
  update                                              download the offline filter of known malware
  consent show                                        what this device may send
  consent set full|home-minimal|business-off [--own-cloud URL]
  consent set CATEGORY on|off                         one category (herd privacy inventory lists them)
  privacy inventory                                   every field that may leave this device
  privacy last                                        the outbox, and the last batches sent, byte for byte
  report FILE.jsonl                                   queue events ({"type":..., "fields":{...}} per line), then send
  flush                                               send the outbox
  my-data export [--out FILE]                         everything the cloud keeps about this device (JSON)
  my-data delete                                      erase it all in the cloud (this device is then no longer enrolled)
  rules test EVENTS.jsonl [--rules DIR]               evaluate recorded OS events against the shipped Linux Sigma rules and the cloud's installed ones (or only DIR's)
  rules update                                        download the cloud's signed rules; install them once verified (unsigned, altered, wrongly signed or older sets are refused)
  rules list                                          every rule evaluated: shipped, and from the cloud

The cloud defaults to $HERD_CLOUD, else the cloud enrolled with, else
` + cli.DefaultCloud + `; the CA its certificate must chain to, to $HERD_CA, else
the one enrolled with, else the system's; the state folder
(consent, outbox, verdict cache, offline filter) to $HERD_STATE, else herd in
the user's config folder. When it exists, scan keeps the cloud's answers
there, and without the cloud answers from them and from the offline filter.
Exit status: 0 nothing found, 1 something found, 2 an error.
`

// globals are the flags before the command.
type globals struct {
	cloud string
	state string
	ca    string // CA file the cloud's certificate must chain to
}

// Run runs one command and returns the exit status.
func (m *Main) Run(ctx context.Context, args []string) int {
	fl := flag.NewFlagSet("herd", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	fl.Usage = func() { fmt.Fprint(m.Stderr, usage) }
	cloud := fl.String("cloud", "", "cloud `URL`")
	stateFlag := fl.String("state", "", "state `folder`")
	caFlag := fl.String("ca", "", "CA `file` the cloud's certificate must chain to")
	if err := fl.Parse(args); err != nil {
		return ExitError
	}
	if fl.NArg() == 0 {
		fl.Usage()
		return ExitError
	}
	// Without a state folder a scan still runs (it only reads the state if
	// there is one); commands that keep state report the error.
	dir, dirErr := m.stateDir(*stateFlag)
	g := globals{cloud: *cloud, state: dir, ca: *caFlag}
	if cmd := fl.Arg(0); dirErr != nil && cmd != "scan" && cmd != "help" && cmd != "rules" && !(cmd == "privacy" && fl.Arg(1) == "inventory") {
		fmt.Fprintln(m.Stderr, "herd:", dirErr)
		return ExitError
	}
	switch cmd, rest := fl.Arg(0), fl.Args()[1:]; cmd {
	case "scan":
		return m.scan(ctx, g, rest)
	case "enroll":
		return m.enrollCmd(ctx, g, rest)
	case "my-data":
		return m.myDataCmd(ctx, g, rest)
	case "rules":
		return m.rulesWith(ctx, g, rest)
	case "watch":
		return m.watchCmd(ctx, g, rest)
	case "quarantine":
		return m.quarantineCmd(g, rest)
	case "consent":
		return m.consentCmd(ctx, g, rest)
	case "privacy":
		return m.privacyCmd(g, rest)
	case "report":
		return m.reportCmd(ctx, g, rest)
	case "flush":
		return m.flushCmd(ctx, g)
	case "follow":
		return m.followCmd(ctx, g, rest)
	case "update":
		return m.updateCmd(ctx, g, rest)
	case "help":
		fmt.Fprint(m.Stdout, usage)
		return ExitClean
	default:
		fmt.Fprintf(m.Stderr, "herd: unknown command %q\n\n%s", cmd, usage)
		return ExitError
	}
}

type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func (m *Main) scan(ctx context.Context, g globals, args []string) int {
	cloudFlag := g.cloud
	fl := flag.NewFlagSet("herd scan", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	var dbs stringList
	fl.Var(&dbs, "db", "ClamAV hash signature `file` (.hdb/.hsb) to load; repeatable")
	asJSON := fl.Bool("json", false, "print JSON lines instead of text")
	noCloud := fl.Bool("no-cloud", false, "do not ask the cloud; local database only")
	offlineFlag := fl.Bool("offline", false, "do not ask the cloud; local database, cached verdicts and the offline filter (herd update)")
	noCache := fl.Bool("no-cache", false, "neither read nor keep cached verdicts")
	workers := fl.Int("workers", 0, "files hashed in parallel (0: one per CPU)")
	private := fl.Bool("private", false, "ask the cloud with hash prefixes only: it never learns which files are here")
	prefixBits := fl.Int("prefix-bits", httpapi.DefaultPrefixBits, "with --private: leading `bits` of each SHA-256 sent (16-32; fewer hide more and cost more bytes)")
	fl.StringVar(&cloudFlag, "cloud", cloudFlag, "cloud `URL`")
	var engines engineFlags
	engines.register(fl)
	paths, err := cli.Parse(fl, args)
	if err != nil {
		return ExitError
	}
	if len(paths) == 0 {
		fmt.Fprintln(m.Stderr, "herd scan: no path given")
		return ExitError
	}
	if *prefixBits < httpapi.MinPrefixBits || *prefixBits > httpapi.MaxPrefixBits {
		fmt.Fprintf(m.Stderr, "herd scan: --prefix-bits %d: want %d to %d\n", *prefixBits, httpapi.MinPrefixBits, httpapi.MaxPrefixBits)
		return ExitError
	}
	db := sigdb.Builtin()
	for _, f := range dbs {
		if err := db.LoadFile(f); err != nil {
			fmt.Fprintln(m.Stderr, "herd scan:", err)
			return ExitError
		}
	}
	opt := scan.Options{DB: db, Workers: *workers}
	closeEngines, err := engines.open(ctx, &opt)
	defer closeEngines()
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd scan:", herd.ErrorMessage(err))
		return ExitError
	}
	cloudURL := m.cloudURL(g, cloudFlag)
	// The state is read if it exists (a scan never creates it): consent
	// decides where lookups may go and whether findings are reported.
	rep, err := m.openReporter(g.state, true)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd scan:", err)
		return ExitError
	}
	var rec consent.Record
	if rep != nil {
		defer rep.State.Close()
		if rec, _, err = rep.Consent(); err != nil {
			fmt.Fprintln(m.Stderr, "herd scan:", err)
			return ExitError
		}
		if rec.Profile == consent.ProfileBusinessOff && !rec.LookupsAllowed(cloudURL) && !*noCloud {
			fmt.Fprintf(m.Stderr, "herd scan: consent (business-off) allows no lookups at %s; scanning with the local database only\n", cloudURL)
			*noCloud = true
		}
	}
	var using fallbacks
	if !*noCloud {
		var inner herd.ReputationService
		if !*offlineFlag {
			c, err := m.client(g, cloudURL)
			if err != nil {
				fmt.Fprintln(m.Stderr, "herd scan:", err)
				return ExitError
			}
			inner = c
			if *private {
				inner = &httpapi.Private{Client: c, Bits: *prefixBits}
			}
		}
		opt.Cloud = inner
		if dirExists(g.state) {
			if !*noCache {
				if svc := m.scanCache(g.state, cloudURL, inner); svc != nil {
					opt.Cloud, using.cache = svc, true
					defer svc.Cache.Close()
				}
			}
			set, info, err := offline.Load(g.state)
			switch {
			case err != nil:
				fmt.Fprintf(m.Stderr, "herd scan: offline filter not used: %v (herd update replaces it)\n", err)
			case info.HasSnapshot:
				opt.Filter, using.filter = set, &info
				if info.Ignored != nil {
					fmt.Fprintf(m.Stderr, "herd scan: offline filter: %v; using the snapshot alone (herd update repairs it)\n", info.Ignored)
				}
			}
		}
		if *offlineFlag && !using.cache && using.filter == nil {
			fmt.Fprintln(m.Stderr, "herd scan: --offline: no cached verdicts or offline filter in the state folder (herd update downloads the filter); local database only")
		}
	}
	using.noCloud, using.offline = *noCloud, *offlineFlag && !*noCloud
	out := newPrinter(m.Stdout, *asJSON)
	if !*asJSON && m.IsTerminal(m.Stderr) {
		bar := progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(m.Stderr),
			progressbar.OptionSetDescription("scanning"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		opt.Progress = func(files, bytes int64) {
			bar.Describe(fmt.Sprintf("scanning: %d files", files))
			_ = bar.Set64(bytes)
		}
		out.before = func() { _ = bar.Clear() }
		defer func() { _ = bar.Finish() }()
	}
	sum, err := scan.Scan(ctx, paths, opt, out.result)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd scan:", err)
		return ExitError
	}
	out.summary(sum, cloudURL, using)
	if rep != nil && !*noCloud && !*offlineFlag {
		m.reportScan(ctx, g, rep, out.found, sum, cloudURL)
	}
	if sum.CloudFailed && !using.offline {
		fmt.Fprintf(m.Stderr, "herd scan: WARNING: cloud verdicts were unavailable (%s); files were checked against the %s\n", sum.CloudError, using.text())
	}
	if sum.FilterHits > 0 {
		fmt.Fprintf(m.Stderr, "herd scan: %d possible matches of the offline filter: scan again with the cloud reachable to confirm them\n", sum.FilterHits)
	}
	switch {
	case sum.Detections > 0:
		return ExitFound
	case sum.Errors > 0:
		return ExitError
	}
	return ExitClean
}

type printer struct {
	w      io.Writer
	json   *json.Encoder
	before func()
	found  []scan.Result
}

func newPrinter(w io.Writer, asJSON bool) *printer {
	p := &printer{w: w, before: func() {}}
	if asJSON {
		p.json = json.NewEncoder(w)
	}
	return p
}

func (p *printer) result(r scan.Result) {
	p.before()
	if r.Err == "" {
		p.found = append(p.found, r)
	}
	if p.json != nil {
		typ := "detection"
		if r.Err != "" {
			typ = "error"
		}
		_ = p.json.Encode(struct {
			Type string `json:"type"`
			scan.Result
		}{typ, r})
		return
	}
	if r.Err != "" {
		what := "ERROR"
		if r.Refused {
			what = "REFUSED"
		}
		fmt.Fprintf(p.w, "%s: %s %s\n", r.Path, what, r.Err)
		return
	}
	from := "local database"
	if r.Source != "" && r.Source != herd.SourceLocalDB && r.Where == "local" {
		from = r.Source // an engine: clamd, yara
	}
	switch r.Where {
	case "cloud":
		from = "cloud, " + r.Source
	case "filter":
		from = "offline filter: a possible match, to be confirmed online"
	}
	test := ""
	if r.Test {
		test = ", test verdict"
	}
	fmt.Fprintf(p.w, "%s: %s FOUND (%s, %s%s)\n", r.Path, r.Threat, r.Verdict, from, test)
}

// fallbacks says what a scan had besides the cloud.
type fallbacks struct {
	noCloud, offline bool
	cache            bool
	filter           *offline.Info // nil: none
}

// text lists what answers without the cloud.
func (f fallbacks) text() string {
	if !f.cache && f.filter == nil {
		return "local database only"
	}
	parts := []string{"local database"}
	if f.cache {
		parts = append(parts, "cached verdicts")
	}
	if f.filter != nil {
		parts = append(parts, fmt.Sprintf("offline filter (generation %d, %s)", f.filter.Generation, f.filter.Updated.Format(time.DateTime)))
	}
	if len(parts) == 2 {
		return parts[0] + " and " + parts[1]
	}
	return parts[0] + ", " + parts[1] + " and " + parts[2]
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return dir != "" && err == nil && fi.IsDir()
}

// scanCache returns the verdict cache in front of inner (nil: offline),
// or nil, after saying why, if the cache cannot be opened: the scan then
// goes on without it.
func (m *Main) scanCache(dir, cloudURL string, inner herd.ReputationService) *cache.Service {
	if inner == nil {
		cloudURL = "" // offline: whichever cloud the answers came from
	}
	// The scan keeps the file open while it looks files up, and closes it
	// when done (or idle for a second) for herd follow to write.
	ch, err := cache.Open(dir, cache.Options{Cloud: cloudURL, KeepOpen: time.Second})
	if err != nil {
		fmt.Fprintf(m.Stderr, "herd scan: verdict cache not used: %v\n", err)
		return nil
	}
	var warned sync.Once
	return &cache.Service{Cache: ch, Inner: inner, Warn: func(err error) {
		warned.Do(func() { fmt.Fprintf(m.Stderr, "herd scan: verdict cache bypassed: %v\n", err) })
	}}
}

func (p *printer) summary(s scan.Summary, cloudURL string, using fallbacks) {
	if p.json != nil {
		_ = p.json.Encode(struct {
			Type string `json:"type"`
			scan.Summary
		}{"summary", s})
		return
	}
	secs := s.Duration.Seconds()
	cloud := fmt.Sprintf("%s: %d files checked", cloudURL, s.CloudAsked)
	switch {
	case using.noCloud:
		cloud = "not asked (--no-cloud)"
	case using.offline:
		cloud = "not asked (--offline): " + using.text()
	case s.CloudFailed:
		cloud = "UNAVAILABLE: " + using.text()
	}
	fmt.Fprintf(p.w, "\n----------- SCAN SUMMARY -----------\n")
	fmt.Fprintf(p.w, "Scanned files: %d\nScanned data:  %.2f MB\nDetections:    %d\nErrors:        %d\nCloud:         %s\n",
		s.Files, float64(s.Bytes)/1e6, s.Detections, s.Errors, cloud)
	if s.Members > 0 || s.Refused > 0 {
		fmt.Fprintf(p.w, "In archives:   %d files scanned, %d archives refused (see the errors above)\n", s.Members, s.Refused)
	}
	if s.FilterChecked > 0 {
		fmt.Fprintf(p.w, "Filter:        %d files checked, %d possible matches (to be confirmed online)\n", s.FilterChecked, s.FilterHits)
	}
	if secs > 0 {
		fmt.Fprintf(p.w, "Time:          %.3f s (%.0f files/s, %.1f MB/s)\n", secs, float64(s.Files)/secs, float64(s.Bytes)/1e6/secs)
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// reportScan queues what consent allows of a scan's findings (threats
// detected, and the scan's own operation data) and sends the outbox. A
// failure to report never changes the scan's result.
func (m *Main) reportScan(ctx context.Context, g globals, rep *report.Reporter, found []scan.Result, sum scan.Summary, cloudURL string) {
	for _, r := range found {
		if r.Where == "filter" {
			// An unconfirmed possible match is no detection to report:
			// the cloud would count a false positive as evidence.
			continue
		}
		method := "signature"
		if r.Where == "cloud" {
			method = "cloud"
		}
		fields := map[string]any{"sha256": r.SHA256, "threat_name": r.Threat, "method": method, "action": "reported", "path": r.Path}
		if _, _, err := rep.Report("threat.detected", fields); err != nil {
			fmt.Fprintln(m.Stderr, "herd scan: report:", err)
		}
	}
	_, _, err := rep.Report("scan.finished", map[string]any{
		"duration_ms": sum.Duration.Milliseconds(), "files": sum.Files, "bytes": sum.Bytes,
		"detections": sum.Detections, "errors": sum.Errors, "trigger": "manual",
	})
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd scan: report:", err)
	}
	c, err := m.client(g, cloudURL)
	if err != nil {
		return
	}
	if _, err := rep.Flush(ctx, c, cloudURL); err != nil {
		fmt.Fprintf(m.Stderr, "herd scan: telemetry stays queued: %v\n", err)
	}
}
