package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// LookupResults are the figures of verdict lookups over HTTP on loopback.
type LookupResults struct {
	Verdicts   int     `json:"verdicts_seeded"`
	KnownShare float64 `json:"known_share"` // of the objects asked for, the share with a verdict
	// Batch: closed-loop lookups of BatchSize objects, one run per worker count.
	Batch []LoadRun `json:"batch"`
	// Single: one object per request, paced at OpenRate, then closed-loop.
	SingleOpen   LoadRun   `json:"single_open"`
	SingleClosed []LoadRun `json:"single_closed"`
	// Ceiling: the same single-object runs against bare net/http answering 204.
	CeilingOpen   LoadRun   `json:"ceiling_open"`
	CeilingClosed []LoadRun `json:"ceiling_closed"`
}

// runLookup measures herdd's lookup API, then the net/http ceiling, each
// server alone on the machine besides the generator.
func runLookup(ctx context.Context, p Plan, out string, bin Binaries, logf func(string, ...any)) (*LookupResults, error) {
	res := &LookupResults{Verdicts: p.Verdicts, KnownShare: 1 / float64(p.KnownEvery)}
	if err := measureHerdd(ctx, p, out, bin, res, logf); err != nil {
		return nil, err
	}
	if err := measureCeiling(ctx, p, out, res, logf); err != nil {
		return nil, err
	}
	return res, nil
}

func measureHerdd(ctx context.Context, p Plan, out string, bin Binaries, res *LookupResults, logf func(string, ...any)) error {
	// A fresh store each time, so that every run measures the same state.
	h, token, err := startHerdd(ctx, bin.Herdd, out, "herdd-data", logf)
	if err != nil {
		return err
	}
	defer h.Stop()
	logf("seeding %d verdicts", p.Verdicts)
	known, err := seedVerdicts(ctx, h.URL, token, p.Verdicts)
	if err != nil {
		return err
	}

	batches := lookupObjects(known, 16, p.BatchSize, p.KnownEvery)
	if err := checkAnswers(ctx, h.URL, batches[0], p.KnownEvery); err != nil {
		return err
	}
	pid := h.cmd.Process.Pid
	batch := &target{server: "herdd", pid: pid, test: fmt.Sprintf("lookup, %d sha256", p.BatchSize), url: h.URL + "/v1/lookup", bodies: encodeLookups(batches), objects: p.BatchSize}
	single := &target{server: "herdd", pid: pid, test: "lookup, 1 sha256", url: h.URL + "/v1/lookup", bodies: encodeLookups(lookupObjects(known, 1024, 1, p.KnownEvery)), objects: 1}
	for _, c := range p.Workers {
		logf("herdd: batch lookups, %d workers, %v", c, p.Duration)
		res.Batch = append(res.Batch, closedLoop(ctx, batch, c, p.Warmup, p.Duration, p.MaxPerRun))
	}
	res.SingleOpen, res.SingleClosed = singleRuns(ctx, p, single, logf)
	if err := h.Stop(); err != nil {
		return fmt.Errorf("herdd: %w", err)
	}
	return nil
}

// measureCeiling runs the single-object runs against herdbench itself in
// its -serve-204 mode.
func measureCeiling(ctx context.Context, p Plan, out string, res *LookupResults, logf func(string, ...any)) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logf("starting the net/http 204 ceiling server")
	s, err := startChild(ctx, []string{self, "-serve-204", "127.0.0.1:0"}, filepath.Join(out, "serve-204.log"), serve204Ready)
	if err != nil {
		return err
	}
	defer s.Stop()
	// The same bodies as herdd's single lookups, so that the requests cost the same to send.
	t := &target{server: "net/http 204", pid: s.cmd.Process.Pid, test: "same requests, 204 answer", url: s.URL + "/v1/lookup", bodies: encodeLookups(lookupObjects(nil, 1024, 1, 0)), objects: 1}
	res.CeilingOpen, res.CeilingClosed = singleRuns(ctx, p, t, logf)
	return s.Stop()
}

func singleRuns(ctx context.Context, p Plan, t *target, logf func(string, ...any)) (open LoadRun, closed []LoadRun) {
	logf("%s: single lookups paced at %.0f/s, %v", t.server, p.OpenRate, p.Duration)
	open = openLoop(ctx, t, p.OpenRate, p.OpenConns, p.Warmup, p.Duration)
	for _, c := range p.Workers {
		logf("%s: single lookups, %d workers, %v", t.server, c, p.Duration)
		closed = append(closed, closedLoop(ctx, t, c, p.Warmup, p.Duration, p.MaxPerRun))
	}
	return open, closed
}

// seedVerdicts stores n malicious verdicts through the admin API and waits
// until herdd's lookup index serves them. It returns their sha256 values.
func seedVerdicts(ctx context.Context, url, token string, n int) ([]string, error) {
	c, err := httpapi.NewClient(url)
	if err != nil {
		return nil, err
	}
	c.Token = token
	known := make([]string, n)
	vs := make([]httpapi.VerdictInput, n)
	for i := range n {
		known[i] = benchHash("known", i)
		vs[i] = httpapi.VerdictInput{Kind: herd.KindSHA256, Value: known[i], Verdict: herd.VerdictMalicious, Threat: "Herd.Bench.Known-" + strconv.Itoa(i)}
	}
	for len(vs) > 0 {
		k := min(len(vs), httpapi.MaxAdminVerdicts)
		if _, err := c.SetVerdicts(ctx, vs[:k]); err != nil {
			return nil, fmt.Errorf("seed verdicts: %w", err)
		}
		vs = vs[k:]
	}
	// The index follows the store asynchronously, in order: once the last
	// verdict is served, all are.
	last := []herd.Object{{Kind: herd.KindSHA256, Value: known[n-1]}}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		recs, err := c.Lookup(ctx, last)
		if err != nil {
			return nil, err
		}
		if recs[0].Verdict == herd.VerdictMalicious {
			return known, nil
		}
	}
	return nil, fmt.Errorf("seeded verdicts not served after 30s")
}

// lookupObjects returns count requests of size sha256 objects each, where
// one object in every knownEvery is one of known (if any) and the rest
// have no verdict. Every object is distinct within the set.
func lookupObjects(known []string, count, size, knownEvery int) [][]herd.Object {
	reqs := make([][]herd.Object, count)
	for r := range reqs {
		reqs[r] = make([]herd.Object, size)
		for j := range size {
			g := r*size + j
			v := benchHash("unknown", g)
			if len(known) > 0 && knownEvery > 0 && g%knownEvery == 0 {
				v = known[(g/knownEvery)%len(known)]
			}
			reqs[r][j] = herd.Object{Kind: herd.KindSHA256, Value: v}
		}
	}
	return reqs
}

func encodeLookups(reqs [][]herd.Object) [][]byte {
	bodies := make([][]byte, len(reqs))
	for i, objs := range reqs {
		b, err := json.Marshal(httpapi.LookupRequest{Objects: objs})
		if err != nil {
			panic(err) // objects of strings always encode
		}
		bodies[i] = b
	}
	return bodies
}

// checkAnswers looks up objs once and checks every verdict, so that the
// load runs measure correct answers and not fast errors.
func checkAnswers(ctx context.Context, url string, objs []herd.Object, knownEvery int) error {
	c, err := httpapi.NewClient(url)
	if err != nil {
		return err
	}
	recs, err := c.Lookup(ctx, objs)
	if err != nil {
		return fmt.Errorf("check lookup: %w", err)
	}
	for i, r := range recs {
		want := herd.VerdictUnknown
		if i%knownEvery == 0 {
			want = herd.VerdictMalicious
		}
		if r.Verdict != want || r.Object != objs[i] {
			return fmt.Errorf("check lookup: object %d (%s): got %s %s, want %s", i, objs[i], r.Object, r.Verdict, want)
		}
	}
	return nil
}

// benchHash returns a deterministic sha256 in hex, distinct per (kind, i).
func benchHash(kind string, i int) string {
	h := sha256.Sum256([]byte("herdbench " + kind + " " + strconv.Itoa(i)))
	return hex.EncodeToString(h[:])
}
