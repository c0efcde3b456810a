package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Results is everything one herdbench run measured: results.json.
type Results struct {
	Plan        string              `json:"plan"`
	Started     time.Time           `json:"started"`
	Out         string              `json:"out"`
	Machine     Machine             `json:"machine"`
	LoadAvgEnd  string              `json:"load_avg_end"`
	Lookup      *LookupResults      `json:"lookup,omitempty"`
	Ingest      *IngestResults      `json:"ingest,omitempty"`
	Scan        *ScanResults        `json:"scan,omitempty"`
	Propagation *PropagationResults `json:"propagation,omitempty"`
	Agent       *AgentResults       `json:"agent,omitempty"`
	Goals       []Goal              `json:"goals"`
}

// Goal is one of the project's performance targets, and whether it was met.
type Goal struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
}

// Goals of BENCHMARKS.md.
const (
	goalBatchHashes = 500_000 // hashes/s of batch lookups
	goalSingleP99   = 2.0     // ms, at goalSingleRate
	goalSingleRate  = 10_000  // req/s
	goalDBLoad      = 0.5     // s for 1M signatures
	goalBytesPerSig = 64
	goalIngest      = 50_000  // events/s stored, over HTTP
	goalScrub       = 100_000 // events/s of the scrub mix on one core
	goalPropagation = 1000.0  // ms from the decisive report's answer to the last agent
)

// evaluate checks the results against the goals.
func evaluate(r *Results) []Goal {
	var gs []Goal
	if l := r.Lookup; l != nil {
		best := bestRun(l.Batch, func(x LoadRun) float64 { return x.HashesPerSec })
		gs = append(gs, Goal{
			Name: "batch lookups over HTTP",
			Want: fmt.Sprintf(">= %s hashes/s", thousands(goalBatchHashes)),
			Got:  fmt.Sprintf("%s hashes/s (%d workers)", thousands(best.HashesPerSec), best.Workers),
			Met:  best.HashesPerSec >= goalBatchHashes,
		})
		o := l.SingleOpen
		gs = append(gs, Goal{
			Name: "single lookups, paced",
			Want: fmt.Sprintf("p99 <= %.0f ms at %s req/s, no errors", goalSingleP99, thousands(goalSingleRate)),
			Got:  fmt.Sprintf("p99 %.2f ms at %s req/s, %d errors, %d not sent", o.Latency.P99, thousands(o.RPS), o.Errors, o.NotSent),
			Met:  o.TargetRPS >= goalSingleRate && o.RPS >= 0.99*o.TargetRPS && o.Errors == 0 && o.NotSent == 0 && o.Latency.P99 <= goalSingleP99,
		})
	}
	if in := r.Ingest; in != nil {
		gs = append(gs, ingestGoals(in)...)
	}
	if pr := r.Propagation; pr != nil {
		gs = append(gs, Goal{
			Name: "verdict propagation",
			Want: fmt.Sprintf("<= %.0f ms to the last of %s agents", goalPropagation, thousands(float64(pr.Agents))),
			Got:  fmt.Sprintf("last agent after %.1f ms at worst over %d verdicts; p99 of every delivery %.1f ms", pr.LastMs, len(pr.Rounds), pr.All.P99),
			Met:  pr.Connected == pr.Agents && pr.LastMs <= goalPropagation,
		})
	}
	if a := r.Agent; a != nil {
		// Stated for 1M signatures; a quick run's smaller database proves less.
		gs = append(gs, Goal{
			Name: "agent memory, idle",
			Want: fmt.Sprintf("<= %d MB RSS with 1,000,000 signatures", goalAgentIdleMB),
			Got:  fmt.Sprintf("%.1f MB RSS with %s signatures", a.RSSMB, thousands(float64(a.Signatures))),
			Met:  a.Signatures >= 1_000_000 && a.RSSMB <= goalAgentIdleMB,
		})
	}
	if s := r.Scan; s != nil {
		// The goals are stated for 1M signatures; a quick run's smaller
		// database is scaled to them.
		scale := 1e6 / float64(s.DB.Signatures)
		gs = append(gs, Goal{
			Name: "signature DB load time",
			Want: fmt.Sprintf("<= %.1f s per 1M signatures", goalDBLoad),
			Got:  fmt.Sprintf("%.3f s for %s (best of %d)", s.DBLoad.Best, thousands(float64(s.DB.Signatures)), len(s.DBLoad.Runs)),
			Met:  s.DBLoad.Best*scale <= goalDBLoad,
		}, Goal{
			Name: "signature DB memory",
			Want: fmt.Sprintf("<= %d B/signature", goalBytesPerSig),
			Got:  fmt.Sprintf("%.1f B/signature", s.DBLoad.BytesPerSig),
			Met:  s.DBLoad.BytesPerSig <= goalBytesPerSig,
		})
	}
	return gs
}

func bestRun(rs []LoadRun, by func(LoadRun) float64) LoadRun {
	var best LoadRun
	for _, r := range rs {
		if by(r) > by(best) {
			best = r
		}
	}
	return best
}

func printReport(w io.Writer, r *Results) {
	m := r.Machine
	fmt.Fprintf(w, "herdbench, %s plan, %s\n", r.Plan, r.Started.Format(time.RFC3339))
	fmt.Fprintf(w, "machine:  %d CPUs, %s, %s RAM, kernel %s, %s %s\n", m.CPUs, m.CPUModel, m.MemTotal, m.Kernel, m.GoVersion, m.Platform)
	fmt.Fprintf(w, "load avg: %s at start, %s at end (1/5/15 min)\n", m.LoadAvg, r.LoadAvgEnd)
	if r.Lookup != nil {
		printLookup(w, r.Lookup)
	}
	if r.Ingest != nil {
		printIngest(w, r.Ingest)
	}
	if r.Propagation != nil {
		printPropagation(w, r.Propagation)
	}
	if r.Scan != nil {
		printScan(w, r.Scan)
	}
	if r.Agent != nil {
		printAgent(w, r.Agent)
	}
	fmt.Fprintf(w, "\nGoals\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, g := range r.Goals {
		met := "MISSED"
		if g.Met {
			met = "met"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", g.Name, g.Want, g.Got, met)
	}
	tw.Flush()
}

func printLookup(w io.Writer, l *LookupResults) {
	fmt.Fprintf(w, "\nLookups over HTTP on 127.0.0.1: herdd (embedded JetStream, %s verdicts stored; %.0f%% of objects asked for are known)\n", thousands(float64(l.Verdicts)), 100*l.KnownShare)
	fmt.Fprintf(w, "vs bare net/http answering 204. Servers are child processes; the generator is herdbench, on the same CPUs.\n")
	fmt.Fprintf(w, "CPU µs/req: user+system time of the server and of the generator per answered request (from /proc, 10 ms ticks).\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\trequests\tmode\tconns\ttarget/s\ts\tanswered\terrors\treq/s\thashes/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsrv CPU µs/req\tgen CPU µs/req\t")
	row := func(r LoadRun) {
		target := "-"
		if r.TargetRPS > 0 {
			target = thousands(r.TargetRPS)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%.1f\t%s\t%d\t%s\t%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.0f\t%.0f\t\n",
			r.Server, r.Test, r.Mode, r.Workers, target, r.Seconds, thousands(float64(r.Requests)), r.Errors+r.NotSent,
			thousands(r.RPS), thousands(r.HashesPerSec), r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max,
			r.ServerCPU, r.GeneratorCPU)
	}
	for _, r := range l.Batch {
		row(r)
	}
	row(l.SingleOpen)
	for _, r := range l.SingleClosed {
		row(r)
	}
	row(l.CeilingOpen)
	for _, r := range l.CeilingClosed {
		row(r)
	}
	tw.Flush()
	fmt.Fprintf(w, "Paced (open) runs count latency from each request's scheduled send; split into the generator's lateness\n")
	fmt.Fprintf(w, "(send lag: scheduled -> sent) and the answer time (sent -> answered):\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "server\tsend lag p50\tp99\tmax ms\tanswer p50\tp90\tp99\tmax ms\t")
	for _, r := range []LoadRun{l.SingleOpen, l.CeilingOpen} {
		if r.Service == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t%.2f\t\n", r.Server, r.SendLag.P50, r.SendLag.P99, r.SendLag.Max,
			r.Service.P50, r.Service.P90, r.Service.P99, r.Service.Max)
	}
	tw.Flush()
	fmt.Fprintf(w, "Closed-loop rows: best single-object rate herdd %s req/s, net/http 204 %s req/s.\n",
		thousands(bestRun(l.SingleClosed, rps).RPS), thousands(bestRun(l.CeilingClosed, rps).RPS))
}

func rps(r LoadRun) float64 { return r.RPS }

func printScan(w io.Writer, s *ScanResults) {
	c := s.Corpus
	reused := "generated"
	if c.Reused {
		reused = "reused"
	}
	fmt.Fprintf(w, "\nScanning %s files, %.1f MB (seed %d, %s; %d EICAR files, 1 file in the DB) in %s\n",
		thousands(float64(c.Files)), float64(c.Bytes)/1e6, c.Seed, reused, c.EICAR, c.Dir)
	fmt.Fprintf(w, "with %s sha256 signatures (%.1f MB .hsb), page cache warm, wall clock of %d runs; rates from the best run.\n",
		thousands(float64(s.DB.Signatures)), float64(s.DB.Bytes)/1e6, runsOf(s.Tools))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "tool\tbest s\tmedian s\tfiles/s\tMB/s\tCPU s\tpeak RSS MB\tdetections\texpected\t")
	for _, t := range s.Tools {
		if t.Status != "ok" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t\t\t\t\t\n", t.Name, t.Status)
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%.1f\t%.2f\t%.1f\t%s\t%s\t\n", t.Name, t.Best, t.Median, thousands(t.FilesPerSec), t.MBPerSec,
			t.CPU, float64(t.PeakRSS)/1e6, count(t.Detections), count(t.Expected))
	}
	tw.Flush()
	if s.HerdVsClamscan > 0 {
		fmt.Fprintf(w, "herd scan / clamscan throughput: %.1fx\n", s.HerdVsClamscan)
	} else {
		fmt.Fprintf(w, "herd scan / clamscan throughput: n/a (clamscan %s)\n", s.Tools[2].Status)
	}
	fmt.Fprintf(w, "Peak RSS from %s; CPU is user+system time.\n", s.RSSSource)
	d := s.DBLoad
	fmt.Fprintf(w, "sigdb.LoadFile in-process, %s signatures: best %.3f s, median %.3f s of %d; heap retained %.1f MB = %.1f B/signature\n",
		thousands(float64(s.DB.Signatures)), d.Best, d.Median, len(d.Runs), float64(d.Retained)/1e6, d.BytesPerSig)
	fmt.Fprintf(w, "Commands:\n")
	for _, t := range s.Tools {
		fmt.Fprintf(w, "  %s\n", t.Command)
	}
}

func runsOf(ts []ToolResult) int {
	n := 0
	for _, t := range ts {
		n = max(n, len(t.Runs))
	}
	return n
}

func count(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// thousands formats x rounded, with commas: 1234567 -> 1,234,567.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func writeJSON(path string, r *Results) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func printPropagation(w io.Writer, p *PropagationResults) {
	fmt.Fprintf(w, "\nVerdict propagation: %s agents following GET /v1/verdicts/stream (connected in %.1f s); each round,\n", thousands(float64(p.Agents)), p.ConnectSeconds)
	fmt.Fprintf(w, "%d licences report a new hash, the last report crosses the rule's threshold; times run from that report's answer.\n", propagationSources)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "round\tagents reached\tp50 ms\tp90 ms\tp99 ms\tlast ms\treport answered in ms\t\n")
	for i, r := range p.Rounds {
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n", i+1, thousands(float64(r.Received)), r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.ReportMs)
	}
	fmt.Fprintf(tw, "all\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t\t\n", thousands(float64(len(p.Rounds)*p.Agents)), p.All.P50, p.All.P90, p.All.P99, p.All.Max)
	tw.Flush()
	fmt.Fprintf(w, "Timed from the decisive report's sending instead: last agent after %.1f ms at worst.\n", p.LastFromSendMs)
}
