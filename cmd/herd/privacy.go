package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/internal/cli"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/scrub"
)

// stateDir returns the agent's state folder: --state, $HERD_STATE, else
// herd in the user's config folder.
func (m *Main) stateDir(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if v := m.Getenv("HERD_STATE"); v != "" {
		return v, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no state folder: %w (use --state DIR)", err)
	}
	return filepath.Join(dir, "herd"), nil
}

// openReporter opens the state (creating it unless onlyIfExists) and
// returns a reporter on it; nil, nil when onlyIfExists and there is none.
func (m *Main) openReporter(dir string, onlyIfExists bool) (*report.Reporter, error) {
	if dir == "" && onlyIfExists {
		return nil, nil
	}
	if onlyIfExists {
		if _, err := os.Stat(filepath.Join(dir, state.FileName)); errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
	}
	st, err := state.Open(dir)
	if err != nil {
		return nil, err
	}
	return &report.Reporter{State: st, Scrubber: scrub.Inventory{}}, nil
}

func (m *Main) consentCmd(ctx context.Context, g globals, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, "herd consent: want show, or set PROFILE|CATEGORY on|off")
		return ExitError
	}
	r, err := m.openReporter(g.state, false)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd consent:", err)
		return ExitError
	}
	defer r.State.Close()
	switch args[0] {
	case "show":
		rec, have, err := r.Consent()
		if err != nil {
			fmt.Fprintln(m.Stderr, "herd consent:", err)
			return ExitError
		}
		m.printConsent(rec, have)
		return ExitClean
	case "set":
		return m.consentSet(ctx, r, g, args[1:])
	}
	fmt.Fprintf(m.Stderr, "herd consent: unknown command %q\n", args[0])
	return ExitError
}

func (m *Main) consentSet(ctx context.Context, r *report.Reporter, g globals, args []string) int {
	fl := flag.NewFlagSet("herd consent set", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	ownCloud := fl.String("own-cloud", "", "business-off: the organisation's own cloud `URL`, the only one lookups may go to")
	pos, err := cli.Parse(fl, args)
	if err != nil {
		return ExitError
	}
	now := time.Now()
	prev, have, err := r.Consent()
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd consent:", err)
		return ExitError
	}
	var rec consent.Record
	switch len(pos) {
	case 1: // a profile
		if rec, err = consent.FromProfile(pos[0], now); err != nil {
			fmt.Fprintln(m.Stderr, "herd consent set:", err)
			return ExitError
		}
		rec.OwnCloud = *ownCloud
	case 2: // CATEGORY on|off
		cat, on, err := consent.ParseSetting(pos[0] + "=" + pos[1])
		if err != nil {
			fmt.Fprintln(m.Stderr, "herd consent set:", err)
			return ExitError
		}
		if !have {
			fmt.Fprintln(m.Stderr, "herd consent set: choose a profile first (herd consent set full|home-minimal|business-off)")
			return ExitError
		}
		rec = prev.With(cat, on, now)
	default:
		fmt.Fprintln(m.Stderr, "herd consent set: want PROFILE, or CATEGORY on|off")
		return ExitError
	}
	purged, err := r.SetConsent(rec)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd consent set:", err)
		return ExitError
	}
	if purged > 0 {
		fmt.Fprintf(m.Stdout, "removed %d queued events that the new choices no longer allow\n", purged)
	}
	m.printConsent(rec, true)
	// Tell the cloud now (it erases what withdrawn categories left there);
	// if it cannot be reached, the next flush sends the record first.
	if c, err := m.client(g, m.cloudURL(g, g.cloud)); err == nil {
		if res, err := r.Flush(ctx, c, c.BaseURL); err != nil {
			fmt.Fprintf(m.Stderr, "herd consent set: saved on this device; the cloud will be told later (%v)\n", err)
		} else if res.ConsentOut {
			fmt.Fprintln(m.Stdout, "the cloud has the new choices")
			m.printReceipt(res.Receipt)
		}
	}
	return ExitClean
}

// printReceipt says what the cloud erased for withdrawn categories.
func (m *Main) printReceipt(r herd.ConsentReceipt) {
	if len(r.Withdrawn) == 0 {
		return
	}
	for _, c := range r.Withdrawn {
		fmt.Fprintf(m.Stdout, "the cloud erased %d %s events of this device\n", r.Deleted[c], c)
	}
	if r.Verified {
		fmt.Fprintln(m.Stdout, "verified: the cloud counted again and holds none of them")
	} else {
		fmt.Fprintf(m.Stdout, "NOT verified: the cloud still counts %d events of withdrawn categories; run the command again\n", r.Remaining)
	}
}

func (m *Main) printConsent(rec consent.Record, have bool) {
	if !have {
		fmt.Fprintln(m.Stdout, "No consent given: nothing is sent. Choose with: herd consent set full|home-minimal|business-off")
		return
	}
	tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "profile\t%s\n", rec.Profile)
	fmt.Fprintf(tw, "licence agreement\t%s\n", orNone(rec.LicenseVersion))
	fmt.Fprintf(tw, "network statement\t%s\n", orNone(rec.StatementVersion))
	if rec.OwnCloud != "" {
		fmt.Fprintf(tw, "own cloud\t%s\n", rec.OwnCloud)
	}
	fmt.Fprintf(tw, "since\t%s\n", rec.Time.Format(time.RFC3339))
	for _, c := range herd.Categories {
		state := "off"
		if rec.Allows(c) {
			state = "on"
		}
		fmt.Fprintf(tw, "%s\t%s\n", c, state)
	}
	tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "not accepted"
	}
	return "accepted, version " + s
}

func (m *Main) privacyCmd(g globals, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(m.Stderr, "herd privacy: want inventory or last")
		return ExitError
	}
	switch args[0] {
	case "inventory":
		tw := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CATEGORY\tEVENT\tFIELD\tKIND\tRULE\tPURPOSE")
		for _, et := range inventory.Types() {
			for _, f := range et.Fields {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", et.Category, et.Name, f.Name, f.Kind, f.Rule, f.Purpose)
			}
		}
		tw.Flush()
		return ExitClean
	case "last":
		r, err := m.openReporter(g.state, false)
		if err != nil {
			fmt.Fprintln(m.Stderr, "herd privacy:", err)
			return ExitError
		}
		defer r.State.Close()
		return m.printLast(r)
	}
	fmt.Fprintf(m.Stderr, "herd privacy: unknown command %q\n", args[0])
	return ExitError
}

// printLast shows the outbox and the last batches sent, exactly as sent.
func (m *Main) printLast(r *report.Reporter) int {
	pending, err := r.State.Pending(0)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd privacy:", err)
		return ExitError
	}
	fmt.Fprintf(m.Stdout, "Waiting to be sent: %d events\n", len(pending))
	for _, q := range pending {
		b, _ := json.Marshal(q.Event)
		fmt.Fprintf(m.Stdout, "  %s\n", b)
	}
	sent, err := r.State.LastSent()
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd privacy:", err)
		return ExitError
	}
	fmt.Fprintf(m.Stdout, "\nLast %d batches sent, byte for byte:\n", len(sent))
	for _, s := range sent {
		fmt.Fprintf(m.Stdout, "--- %s to %s (%d bytes)\n%s\n", s.Time.Format(time.RFC3339), s.Cloud, len(s.Body), s.Body)
	}
	return ExitClean
}

// reportCmd queues events from a JSON lines file ({"type": ..., "fields":
// {...}} per line) and sends the outbox: how integrations feed the agent.
func (m *Main) reportCmd(ctx context.Context, g globals, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(m.Stderr, "herd report: want FILE.jsonl (- for standard input)")
		return ExitError
	}
	var in io.Reader = os.Stdin
	if args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			fmt.Fprintln(m.Stderr, "herd report:", err)
			return ExitError
		}
		defer f.Close()
		in = f
	}
	r, err := m.openReporter(g.state, false)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd report:", err)
		return ExitError
	}
	defer r.State.Close()
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	queued, skipped := 0, 0
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var ev struct {
			Type   string         `json:"type"`
			Fields map[string]any `json:"fields"`
		}
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			fmt.Fprintf(m.Stderr, "herd report: %s:%d: %v\n", args[0], line, err)
			return ExitError
		}
		ok, dropped, err := r.Report(ev.Type, ev.Fields)
		if err != nil {
			fmt.Fprintf(m.Stderr, "herd report: %s:%d: %v\n", args[0], line, err)
			return ExitError
		}
		for _, f := range dropped {
			fmt.Fprintf(m.Stderr, "herd report: %s:%d: field %q dropped: not in the data inventory\n", args[0], line, f)
		}
		if ok {
			queued++
		} else {
			skipped++
		}
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(m.Stderr, "herd report:", err)
		return ExitError
	}
	fmt.Fprintf(m.Stdout, "queued %d events (%d not allowed by consent, not kept)\n", queued, skipped)
	return m.flush(ctx, r, g)
}

func (m *Main) flushCmd(ctx context.Context, g globals) int {
	r, err := m.openReporter(g.state, false)
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd flush:", err)
		return ExitError
	}
	defer r.State.Close()
	return m.flush(ctx, r, g)
}

func (m *Main) flush(ctx context.Context, r *report.Reporter, g globals) int {
	c, err := m.client(g, m.cloudURL(g, g.cloud))
	if err != nil {
		fmt.Fprintln(m.Stderr, "herd:", err)
		return ExitError
	}
	res, err := r.Flush(ctx, c, c.BaseURL)
	if err != nil {
		fmt.Fprintf(m.Stderr, "herd: telemetry stays queued: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(m.Stdout, "sent %d events in %d batches", res.Sent, res.Batches)
	if res.Rejected > 0 {
		fmt.Fprintf(m.Stdout, "; the cloud refused %d", res.Rejected)
	}
	fmt.Fprintln(m.Stdout)
	return ExitClean
}
