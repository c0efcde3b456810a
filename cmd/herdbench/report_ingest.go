package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/herdsec/herd"
)

func ingestGoals(in *IngestResults) []Goal {
	best := IngestRun{}
	var errs, rejected int64
	for _, r := range in.HTTP {
		if r.EventsPerSec > best.EventsPerSec {
			best = r
		}
		errs += r.Errors
		rejected += r.Rejected
	}
	return []Goal{{
		Name: "telemetry ingest over HTTP",
		Want: fmt.Sprintf(">= %s events/s stored, none rejected", thousands(goalIngest)),
		Got: fmt.Sprintf("%s events/s (%d workers), %d rejected, %d failed batches, store %s", thousands(best.EventsPerSec), best.Workers,
			rejected, errs, map[bool]string{true: "matches answers", false: "DOES NOT match answers"}[in.HTTPStoreOK]),
		Met: best.EventsPerSec >= goalIngest && rejected == 0 && errs == 0 && in.HTTPStoreOK,
	}, {
		Name: "scrub mix, one core",
		Want: fmt.Sprintf(">= %s events/s", thousands(goalScrub)),
		Got:  fmt.Sprintf("%s events/s on 1 goroutine (%s per CPU second)", thousands(in.Scrub.EventsPerSec), thousands(in.Scrub.EventsPerCPU)),
		Met:  in.Scrub.EventsPerSec >= goalScrub && in.Scrub.Errors == 0,
	}}
}

func printIngest(w io.Writer, in *IngestResults) {
	fmt.Fprintf(w, "\nTelemetry ingest: batches of %d events from %d devices (consent \"full\"), %d distinct batches cycled, every event id unique.\n",
		in.BatchSize, in.Devices, in.Templates)
	fmt.Fprintf(w, "Mix: %s.\n", in.Mix)
	fmt.Fprintf(w, "Sizes: %s B per request body, %.0f B payload per event as sent, %.0f B after the cloud's scrubbing, %.0f B per stored event's JSON.\n",
		thousands(in.BodyBytes), in.PayloadBytes, in.StoredPayloadBytes, in.StoredEventBytes)
	fmt.Fprintf(w, "herdd: child process on 127.0.0.1, fresh data dir, default config. jetstream: TelemetrySink.Append in-process, embedded JetStream\n")
	fmt.Fprintf(w, "with herdd's defaults (256 MiB memory, 10 GiB store, fsync every 1 s), the same stored events: the ceiling of ingest.\n")
	fmt.Fprintf(w, "MB/s: request bodies (herdd), stored-event JSON (jetstream). CPU µs/event per stored event: herdd's and the generator's;\n")
	fmt.Fprintf(w, "for jetstream the whole herdbench process (server, client and generator), in the srv column.\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests\tworkers\ts\tbatches\tevents stored\trejected\terrors\tbatches/s\tevents/s\tMB/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\tsrv CPU µs/event\tgen CPU µs/event\t")
	row := func(r IngestRun) {
		gen := "-"
		if r.Target == "herdd" {
			gen = fmt.Sprintf("%.1f", r.GeneratorCPU)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%s\t%s\t%d\t%d\t%s\t%s\t%.1f\t%.2f\t%.2f\t%.2f\t%.2f\t%.1f\t%s\t\n",
			r.Target, r.Test, r.Workers, r.Seconds, thousands(float64(r.Batches)), thousands(float64(r.Events)), r.Rejected, r.Errors,
			thousands(r.BatchesPerSec), thousands(r.EventsPerSec), r.BytesPerSec/1e6,
			r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.ServerCPU, gen)
	}
	for _, r := range in.HTTP {
		row(r)
	}
	for _, r := range in.JetStream {
		row(r)
	}
	tw.Flush()
	for _, r := range append(append([]IngestRun(nil), in.HTTP...), in.JetStream...) {
		if r.FirstError != "" {
			fmt.Fprintf(w, "%s, %d workers: first failure: %s\n", r.Target, r.Workers, r.FirstError)
		}
	}
	match := "matches"
	if !in.HTTPStoreOK {
		match = "DOES NOT match"
	}
	fmt.Fprintf(w, "herdd's stream afterwards: %s events, %.0f B/event stored (JetStream's accounting); %s the %s events the answers reported stored.\n",
		thousands(float64(in.HTTPStore.Events)), perEvent(in.HTTPStore), match, thousands(float64(in.HTTPAnswered)))
	fmt.Fprintf(w, "jetstream ceiling's stream: %s events, %.0f B/event stored.\n", thousands(float64(in.JetStreamStore.Events)), perEvent(in.JetStreamStore))
	fmt.Fprintf(w, "End to end over HTTP / JetStream ceiling (best runs): %.2f\n", in.Ratio)
	s := in.Scrub
	fmt.Fprintf(w, "Scrub mix in-process: inventory Clean with scrub.Inventory{} on the decoded payloads, 1 goroutine:\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "goroutines\ts\tevents\terrors\tevents/s\tµs/event\tCPU s\tevents/CPU s\thits/event\t")
	fmt.Fprintf(tw, "1\t%.1f\t%s\t%d\t%s\t%.2f\t%.2f\t%s\t%.2f\t\n", s.Seconds, thousands(float64(s.Events)), s.Errors, thousands(s.EventsPerSec),
		s.MicrosPerEv, s.CPUSeconds, thousands(s.EventsPerCPU), s.HitsPerEvent)
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "by type\tevents\tµs/event\thits/event\tshare of time\t")
	for _, t := range s.ByType {
		fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.0f%%\t\n", t.Type, thousands(float64(t.Events)), t.MicrosPerEv, t.HitsPerEvent, 100*t.TimeShare)
	}
	tw.Flush()
}

// perEvent returns a stream's bytes per stored event.
func perEvent(st herd.TelemetryStats) float64 {
	if st.Events == 0 {
		return 0
	}
	return float64(st.Bytes) / float64(st.Events)
}
