package main

import "time"

// Plan is the size of every benchmark: the full run, or the smoke test.
type Plan struct {
	Name string

	Corpus     CorpusSpec
	CorpusDir  string // under the output dir
	DBFile     string // the .hsb, under the output dir
	Signatures int    // lines of the generated .hsb, before the one matching the corpus
	ScanRuns   int    // timed runs of each scanner

	Verdicts   int           // seeded into herdd
	Duration   time.Duration // of each measured load run
	Warmup     time.Duration // before each load run, not measured
	Workers    []int         // concurrencies tried for closed-loop runs
	OpenRate   float64       // requests/s of the open-loop single-object runs
	OpenConns  int           // connections of the open-loop runs
	MaxPerRun  int64         // requests of one closed-loop run, whatever its duration
	BatchSize  int           // objects per batch lookup
	KnownEvery int           // one object in KnownEvery has a verdict in herdd

	Ingest      IngestPlan
	Propagation PropagationPlan
}

// IngestPlan sizes the telemetry ingest part. Its load runs last
// Plan.Duration after Plan.Warmup, like the lookup runs.
type IngestPlan struct {
	Devices    int           // consent records sent, one per device; batches cycle through them
	BatchSize  int           // events per POST /v1/telemetry and per Append
	Templates  int           // distinct pre-encoded batches, cycled (event ids are patched per send)
	Workers    []int         // concurrencies tried, over HTTP and against JetStream
	MaxBatches int64         // batches of one run (warmups included), whatever its duration
	ScrubTime  time.Duration // of the in-process scrub run
	ScrubMax   int64         // events of the scrub run, whatever its duration
}

func fullPlan() Plan {
	return Plan{
		Name:       "full",
		Corpus:     CorpusSpec{Files: 10_000, Bytes: 220_000_000, Seed: 2024},
		CorpusDir:  "corpus",
		DBFile:     "bench.hsb",
		Signatures: 1_000_000,
		ScanRuns:   3,
		Verdicts:   10_000,
		Duration:   5 * time.Second,
		Warmup:     time.Second,
		Workers:    []int{2, 4, 8},
		OpenRate:   10_000,
		OpenConns:  32,
		MaxPerRun:  5_000_000,
		BatchSize:  1000,
		KnownEvery: 10,
		Ingest: IngestPlan{
			Devices:    16,
			BatchSize:  100,
			Templates:  64,
			Workers:    []int{2, 4},
			MaxBatches: 20_000, // 2M events: 400,000 events/s for 5 s
			ScrubTime:  3 * time.Second,
			ScrubMax:   10_000_000,
		},
		Propagation: PropagationPlan{Agents: 10_000, Rounds: 5, Connect: 2 * time.Minute, RoundLimit: 10 * time.Second, ConnectConc: 256},
	}
}

// quickPlan shrinks everything so that the whole command runs in well
// under a minute; its figures only show that the code works.
func quickPlan() Plan {
	p := fullPlan()
	p.Name = "quick"
	p.Corpus = CorpusSpec{Files: 1_000, Bytes: 20_000_000, Seed: 2024}
	p.CorpusDir = "corpus-quick" // so that a quick run leaves the full corpus alone
	p.DBFile = "bench-quick.hsb"
	p.Signatures = 100_000
	p.Verdicts = 1_000
	p.Duration = time.Second
	p.Warmup = 200 * time.Millisecond
	p.MaxPerRun = 1_000_000
	p.Ingest.MaxBatches = 4_000
	p.Ingest.ScrubTime = time.Second
	p.Propagation = PropagationPlan{Agents: 200, Rounds: 2, Connect: 30 * time.Second, RoundLimit: 10 * time.Second, ConnectConc: 64}
	return p
}
