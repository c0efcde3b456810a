// Command herdbench measures the figures in BENCHMARKS.md: verdict lookups
// over HTTP against a real herdd, telemetry ingest over HTTP against the
// JetStream ceiling and the scrubbing cost per core, and herd scan against
// sha256sum and clamscan on a generated corpus. It prints a table and writes
// results.json; see Usage for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := NewMain()
	if err := m.ParseFlags(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "herdbench:", err)
		os.Exit(2)
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "herdbench:", err)
		stop()
		os.Exit(1)
	}
}

// Main is herdbench's program: ParseFlags, then Run.
type Main struct {
	Out   string // where binaries, data, the corpus and results.json go
	Quick bool   // a smoke test: everything small and short
	Only  string // "", "lookup", "ingest", "propagation" or "scan"
	// Serve204 is the hidden child mode: serve 204 No Content at this
	// address. The load generator measures it as the ceiling of net/http.
	Serve204 string

	Stdout io.Writer // the report
	Stderr io.Writer // progress, and the children's failures
}

// NewMain returns a Main on the process's standard streams.
func NewMain() *Main {
	return &Main{Out: filepath.Join(os.TempDir(), "herdbench"), Stdout: os.Stdout, Stderr: os.Stderr}
}

// ParseFlags reads the flags.
func (m *Main) ParseFlags(args []string) error {
	fl := flag.NewFlagSet("herdbench", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	fl.StringVar(&m.Out, "out", m.Out, "output `dir`: binaries, herdd data, corpus, results.json")
	fl.BoolVar(&m.Quick, "quick", false, "smoke test: small corpus and database, 1 s load runs")
	fl.StringVar(&m.Only, "only", "", "run only the `part` lookup, ingest, propagation, scan or agent")
	fl.StringVar(&m.Serve204, "serve-204", "", "") // hidden: the ceiling server's child mode
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: herdbench [-out DIR] [-quick] [-only lookup|ingest|propagation|scan|agent]\n\nMeasures lookups, telemetry ingest and verdict propagation over HTTP, herd scan, and the agent daemon's idle memory; prints a table and writes DIR/results.json.")
		fl.VisitAll(func(f *flag.Flag) {
			if f.Usage != "" {
				name, usage := flag.UnquoteUsage(f)
				fmt.Fprintf(fl.Output(), "  -%s\n    \t%s\n", strings.TrimSpace(f.Name+" "+name), usage)
			}
		})
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	switch m.Only {
	case "", "lookup", "ingest", "scan", "propagation", "agent":
	default:
		return fmt.Errorf("-only %q: want lookup, ingest, propagation, scan or agent", m.Only)
	}
	return nil
}

// Run runs the benchmarks, prints the report and writes results.json.
func (m *Main) Run(ctx context.Context) error {
	if m.Serve204 != "" {
		return serve204(ctx, m.Serve204, m.Stderr)
	}
	out, err := filepath.Abs(m.Out)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	p := fullPlan()
	if m.Quick {
		p = quickPlan()
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(m.Stderr, "herdbench: "+format+"\n", args...)
	}

	res := Results{Plan: p.Name, Started: time.Now().UTC().Truncate(time.Second), Out: out, Machine: readMachine()}
	logf("building herdd and herd")
	bin, err := buildBinaries(ctx, filepath.Join(out, "bin"))
	if err != nil {
		return err
	}
	if m.Only == "" || m.Only == "lookup" {
		if res.Lookup, err = runLookup(ctx, p, out, bin, logf); err != nil {
			return fmt.Errorf("lookup: %w", err)
		}
	}
	if m.Only == "" || m.Only == "ingest" {
		if res.Ingest, err = runIngest(ctx, p, out, bin, logf); err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	if m.Only == "" || m.Only == "propagation" {
		if res.Propagation, err = runPropagation(ctx, p, out, bin, logf); err != nil {
			return fmt.Errorf("propagation: %w", err)
		}
	}
	if m.Only == "" || m.Only == "scan" {
		if res.Scan, err = runScan(ctx, p, out, bin, logf); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
	}
	if m.Only == "" || m.Only == "agent" {
		if res.Agent, err = runAgentIdle(ctx, p, out, bin, logf); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
	}
	res.LoadAvgEnd = loadAvg()
	res.Goals = evaluate(&res)
	printReport(m.Stdout, &res)
	path := filepath.Join(out, "results.json")
	if err := writeJSON(path, &res); err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "\nresults: %s\n", path)
	return nil
}
