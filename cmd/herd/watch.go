package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/daemon"
	"github.com/herdsec/herd/agent/offline"
	"github.com/herdsec/herd/agent/quarantine"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/sigdb"
)

// quarantineDir is the quarantine's folder in the state folder.
const quarantineDir = "quarantine"

// watchCmd runs the agent daemon until interrupted (herd watch).
func (m *Main) watchCmd(ctx context.Context, g globals, args []string) int {
	fl := flag.NewFlagSet("herd watch", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	var folders, dbs stringList
	fl.Var(&folders, "path", "`folder` to protect in real time; repeatable")
	fl.Var(&dbs, "db", "ClamAV hash signature `file` (.hdb/.hsb) to load; repeatable")
	noQuarantine := fl.Bool("no-quarantine", false, "report and alert only; leave detected files in place")
	noCloud := fl.Bool("no-cloud", false, "neither ask the cloud nor send telemetry")
	noRules := fl.Bool("no-rules", false, "do not evaluate behaviour rules on process starts")
	flush := fl.Duration("flush", 30*time.Second, "how often the outbox is sent (backing off up to 15 minutes while the cloud fails)")
	jsonLog := fl.Bool("log-json", false, "log (and alert) as JSON lines")
	var engines engineFlags
	engines.register(fl)
	if _, err := cli.Parse(fl, args); err != nil {
		return ExitError
	}
	logOpts := &slog.HandlerOptions{Level: slog.LevelInfo}
	var log *slog.Logger
	if *jsonLog {
		log = slog.New(slog.NewJSONHandler(m.Stderr, logOpts))
	} else {
		log = slog.New(slog.NewTextHandler(m.Stderr, logOpts))
	}
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd watch:", err)
		return ExitError
	}
	// The state must exist (consent decides what may leave); its first
	// open also creates it.
	st, err := state.Open(g.state)
	if err != nil {
		return fail(err)
	}
	st.Close()

	db := sigdb.Builtin()
	for _, f := range dbs {
		if err := db.LoadFile(f); err != nil {
			return fail(err)
		}
	}
	cfg := daemon.Config{
		Folders: folders, StateDir: g.state, Flush: *flush, Log: log,
		Scan: scan.Options{DB: db, Workers: 1},
	}
	cfg.Alert = func(a daemon.Alert) {
		if *jsonLog {
			b, _ := json.Marshal(a)
			fmt.Fprintf(m.Stdout, "%s\n", b)
			return
		}
		fmt.Fprintf(m.Stdout, "%s ALERT %s %s: %s", a.Time.Format(time.RFC3339), a.Kind, a.Action, a.Threat)
		if a.Path != "" {
			fmt.Fprintf(m.Stdout, " (%s)", a.Path)
		}
		if a.RuleID != "" {
			fmt.Fprintf(m.Stdout, " rule %s", a.RuleID)
		}
		if a.Detail != "" {
			fmt.Fprintf(m.Stdout, ": %s", a.Detail)
		}
		fmt.Fprintln(m.Stdout)
	}
	closeEngines, err := engines.open(ctx, &cfg.Scan)
	defer closeEngines()
	if err != nil {
		return fail(err)
	}
	if !*noQuarantine {
		if cfg.Quarantine, err = quarantine.Open(filepath.Join(g.state, quarantineDir)); err != nil {
			return fail(err)
		}
	}
	var client *httpapi.Client
	if !*noCloud {
		cloudURL := m.cloudURL(g, g.cloud)
		c, err := m.cloudClient("herd watch", g, cloudURL)
		if err != nil {
			return ExitError
		}
		cfg.Cloud, cfg.CloudURL, client = c, c.BaseURL, c
		cfg.Scan.Cloud = c
		if svc := m.scanCache(g.state, cloudURL, c); svc != nil {
			cfg.Scan.Cloud = svc
			defer svc.Cache.Close()
		}
		if set, info, err := offline.Load(g.state); err == nil && info.HasSnapshot {
			cfg.Scan.Filter = set
		}
	}
	if !*noRules {
		// The shipped rules and the cloud's signed set, if one is installed
		// (herd rules update; the daemon also updates it every 6 hours).
		set, err := bundle.LoadInstalled(g.state)
		if err != nil {
			return fail(err)
		}
		cfg.Rules = set
		if src, err := m.processSource(log); err != nil {
			log.Warn("behaviour rules off: no process events", "err", err)
		} else {
			defer src.Close()
			cfg.Processes = src
		}
	}
	var d *daemon.Daemon
	var wifiKeys wifiKeySource // none without a cloud: Wi-Fi warnings only
	if client != nil {
		wifiKeys = client
	}
	cfg.Tasks = m.watchTasks(g, wifiKeys, log)
	if client != nil && cfg.Rules != nil {
		cfg.Tasks = append(cfg.Tasks, daemon.Task{Name: "rules", Every: 6 * time.Hour, RunFirst: true, Run: func(ctx context.Context) ([]daemon.Report, []daemon.Alert, error) {
			res, err := bundle.Update(ctx, g.state, client, time.Now())
			if err != nil {
				if herd.ErrorCode(err) == herd.ENOTFOUND {
					return nil, nil, nil // the cloud publishes no rules of its own
				}
				return nil, nil, err
			}
			if res.Installed {
				set, err := bundle.LoadInstalled(g.state)
				if err != nil {
					return nil, nil, err
				}
				d.SetRules(set)
				log.Info("behaviour rules updated", "generation", res.Bundle.Generation, "rules", len(set.Rules))
			}
			return nil, nil, nil
		}})
		cfg.OfferSample = func(ctx context.Context, path, sha string) {
			m.offerSample(ctx, g, client, cfg.Scan.Cloud, path, sha, log)
		}
	}
	if len(cfg.Folders) == 0 && cfg.Processes == nil {
		return fail(herd.Errorf(herd.EINVALID, "nothing to do: give folders to protect with --path, or leave behaviour rules on"))
	}
	if d, err = daemon.New(cfg); err != nil {
		return fail(err)
	}
	// The signature database and the rules are most of the heap and hold
	// few pointers (cheap to collect over): collect when the heap grows by
	// a fifth, not by the whole of it, so the resident daemon stays small.
	if m.Getenv("GOGC") == "" {
		debug.SetGCPercent(20)
	}
	// Loading the database and the rules went through buffers they no
	// longer need: give that memory back now, for a daemon that stays
	// resident (the daemon does so again after each periodic check).
	debug.FreeOSMemory()
	log.Info("herd watch started", "folders", []string(folders), "quarantine", cfg.Quarantine != nil, "cloud", cfg.CloudURL, "signatures", db.Len())
	if err := d.Run(ctx); err != nil {
		return fail(err)
	}
	s := d.Stats()
	log.Info("herd watch stopped", "files_scanned", s.FilesScanned, "detections", s.Detections, "quarantined", s.Quarantined, "process_events", s.ProcessEvents, "rule_matches", s.RuleMatches)
	return ExitClean
}

// quarantineCmd runs herd quarantine list|restore ID [--to PATH]|delete ID.
func (m *Main) quarantineCmd(g globals, args []string) int {
	fail := func(err error) int {
		fmt.Fprintln(m.Stderr, "herd quarantine:", herd.ErrorMessage(err))
		return ExitError
	}
	const want = "want list [--json], restore ID [--to PATH], or delete ID"
	if len(args) == 0 {
		return fail(herd.Errorf(herd.EINVALID, want))
	}
	q, err := quarantine.Open(filepath.Join(g.state, quarantineDir))
	if err != nil {
		return fail(err)
	}
	fl := flag.NewFlagSet("herd quarantine "+args[0], flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	asJSON := fl.Bool("json", false, "print JSON")
	to := fl.String("to", "", "restore to this `path` instead of where the file was")
	pos, err := cli.Parse(fl, args[1:])
	if err != nil {
		return ExitError
	}
	switch args[0] {
	case "list":
		items, err := q.List()
		if err != nil {
			return fail(err)
		}
		if *asJSON {
			enc := json.NewEncoder(m.Stdout)
			enc.SetIndent("", "  ")
			if items == nil {
				items = []quarantine.Item{}
			}
			_ = enc.Encode(items)
			return ExitClean
		}
		for _, it := range items {
			fmt.Fprintf(m.Stdout, "%s  %s  %s  %d bytes  %s\n", it.ID, it.Time.Local().Format("2006-01-02 15:04"), it.Threat, it.Size, it.Path)
		}
		fmt.Fprintf(m.Stdout, "%d files in quarantine\n", len(items))
		return ExitClean
	case "restore", "delete":
		if len(pos) != 1 {
			return fail(herd.Errorf(herd.EINVALID, "%s: want one ID (herd quarantine list shows them)", args[0]))
		}
		if args[0] == "delete" {
			if err := q.Delete(pos[0]); err != nil {
				return fail(err)
			}
			fmt.Fprintf(m.Stdout, "deleted %s\n", pos[0])
			return ExitClean
		}
		it, err := q.Restore(pos[0], *to)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(m.Stdout, "restored %s to %s; files with its content are no longer quarantined\n", it.ID, it.Path)
		return ExitClean
	default:
		return fail(herd.Errorf(herd.EINVALID, "%q: %s", args[0], want))
	}
}
