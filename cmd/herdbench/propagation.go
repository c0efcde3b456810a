package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
)

// PropagationPlan sizes the propagation part: how many agents follow the
// verdict stream, and how many verdicts are made and timed.
type PropagationPlan struct {
	Agents      int           // connected agents (SSE streams)
	Rounds      int           // verdicts made, one after the other
	Connect     time.Duration // bound on connecting every agent
	RoundLimit  time.Duration // bound on one round's deliveries
	ConnectConc int           // connections opened at once
}

// PropagationResults is what the propagation part measured.
type PropagationResults struct {
	Agents         int                `json:"agents"`
	Connected      int                `json:"connected"`
	ConnectSeconds float64            `json:"connect_seconds"`
	Rounds         []PropagationRound `json:"rounds"`
	// All is the distribution over every delivery of every round, from the
	// acknowledgement of the decisive report.
	All Latency `json:"all"`
	// Last is the worst round's time to its last agent.
	LastMs float64 `json:"last_ms"`
	// LastFromSendMs is the same, timed from when the decisive report was
	// sent rather than answered: the verdict can reach agents before the
	// reporter has read its answer.
	LastFromSendMs float64 `json:"last_from_send_ms"`
}

// PropagationRound is one verdict: the time from the acknowledgement of
// the report that crossed the rule's threshold to its arrival at each agent.
type PropagationRound struct {
	Received int     `json:"received"`
	Latency  Latency `json:"latency"`
	// ReportMs is how long the decisive report took to be answered.
	ReportMs float64 `json:"report_ms"`
}

// The rule's threshold, as herdd runs by default: detections on three
// licences make a hash malicious.
const propagationSources = 3

func runPropagation(ctx context.Context, p Plan, out string, bin Binaries, logf func(string, ...any)) (*PropagationResults, error) {
	pp := p.Propagation
	h, _, err := startHerdd(ctx, bin.Herdd, out, "herdd-propagation", logf)
	if err != nil {
		return nil, err
	}
	defer h.Stop()
	res := &PropagationResults{Agents: pp.Agents}

	// The agents connect and wait for the stream's caught-up mark.
	logf("propagation: connecting %d agents", pp.Agents)
	tr := &http.Transport{MaxIdleConnsPerHost: -1, DisableCompression: true, ReadBufferSize: 4096, WriteBufferSize: 1024,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	arrivals := make([][]atomic.Int64, pp.Rounds) // unix ns per agent per round
	for r := range arrivals {
		arrivals[r] = make([]atomic.Int64, pp.Agents)
	}
	var round atomic.Int64
	round.Store(-1)
	targets := make([]string, pp.Rounds)
	for r := range targets {
		sum := sha256.Sum256(fmt.Appendf(nil, "herdbench propagation %d %d", time.Now().UnixNano(), r))
		targets[r] = hex.EncodeToString(sum[:])
	}
	var connected atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	connectCtx, connectDone := context.WithTimeout(ctx, pp.Connect)
	sem := make(chan struct{}, pp.ConnectConc)
	var readyWG sync.WaitGroup
	for a := range pp.Agents {
		select {
		case sem <- struct{}{}:
		case <-connectCtx.Done():
		}
		if connectCtx.Err() != nil {
			break
		}
		readyWG.Add(1)
		wg.Go(func() {
			ready := sync.OnceFunc(func() { <-sem; readyWG.Done() })
			defer ready()
			err := follow(streamCtx, hc, h.URL, func(caughtUp bool, data []byte) {
				if caughtUp {
					connected.Add(1)
					ready()
					return
				}
				r := round.Load()
				if r < 0 || !bytes.Contains(data, []byte(targets[r])) || !bytes.Contains(data, []byte(`"verdict":"malicious"`)) {
					return
				}
				arrivals[r][a].CompareAndSwap(0, time.Now().UnixNano())
			})
			if err != nil && streamCtx.Err() == nil && connectCtx.Err() == nil {
				logf("propagation: agent %d: %v", a, err)
			}
		})
	}
	readyWG.Wait()
	connectDone()
	res.Connected = int(connected.Load())
	res.ConnectSeconds = time.Since(start).Seconds()
	logf("propagation: %d agents connected in %.1f s", res.Connected, res.ConnectSeconds)
	if res.Connected < pp.Agents {
		return nil, fmt.Errorf("only %d of %d agents connected within %v", res.Connected, pp.Agents, pp.Connect)
	}

	// Reporters: one device per licence, consent given once.
	api, err := httpapi.NewClient(h.URL)
	if err != nil {
		return nil, err
	}
	rec, _ := consent.FromProfile(consent.ProfileFull, time.Now())
	for s := range propagationSources {
		if _, err := api.SetConsent(ctx, reporter(s), rec); err != nil {
			return nil, fmt.Errorf("consent: %w", err)
		}
	}
	var all []time.Duration
	for r := range pp.Rounds {
		round.Store(int64(r))
		var sent, ack time.Time
		for s := range propagationSources {
			sent = time.Now()
			if err := report(ctx, api, s, targets[r]); err != nil {
				return nil, err
			}
			ack = time.Now() // the answer to the decisive (last) report
		}
		deadline := time.Now().Add(pp.RoundLimit)
		var ds []time.Duration
		for {
			ds = ds[:0]
			for a := range arrivals[r] {
				if t := arrivals[r][a].Load(); t != 0 {
					ds = append(ds, max(0, time.Unix(0, t).Sub(ack)))
				}
			}
			if len(ds) == pp.Agents || time.Now().After(deadline) || ctx.Err() != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		pr := PropagationRound{Received: len(ds), Latency: latencyOf(ds), ReportMs: ms(ack.Sub(sent))}
		res.Rounds = append(res.Rounds, pr)
		res.LastMs = max(res.LastMs, pr.Latency.Max)
		res.LastFromSendMs = max(res.LastFromSendMs, pr.Latency.Max+pr.ReportMs)
		if pr.Received < pp.Agents {
			res.LastMs = ms(pp.RoundLimit) // not every agent got it in time
		}
		all = append(all, ds...)
		logf("propagation: round %d: %d agents, p50 %.1f ms, p99 %.1f ms, last %.1f ms", r+1, pr.Received, pr.Latency.P50, pr.Latency.P99, pr.Latency.Max)
	}
	res.All = latencyOf(all)
	stopStreams()
	wg.Wait()
	return res, ctx.Err()
}

func reporter(s int) string { return fmt.Sprintf("herdbench-reporter-%d", s) }

// report sends licence s's detection of hash and waits for the answer.
func report(ctx context.Context, api *httpapi.Client, s int, hash string) error {
	now := time.Now().UTC()
	lic := sha256.Sum256(fmt.Appendf(nil, "herdbench licence %d", s))
	evs := []herd.Event{
		{ID: fmt.Sprintf("lic-%d", now.UnixNano()), Type: "license.info", Category: herd.CategoryLicense, Time: now,
			Payload: json.RawMessage(`{"product_version":"1.0.0","license_id":"` + hex.EncodeToString(lic[:16]) + `"}`)},
		{ID: fmt.Sprintf("det-%s", hash[:16]), Type: "threat.detected", Category: herd.CategoryThreats, Time: now,
			Payload: json.RawMessage(`{"sha256":"` + hash + `","threat_name":"Herdbench.Propagation","method":"signature"}`)},
	}
	res, err := api.SendTelemetry(ctx, reporter(s), evs)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if res.Stored+res.Duplicates != len(evs) {
		return fmt.Errorf("report: %+v", res)
	}
	return nil
}

// follow reads the verdict stream, calling fn for the caught-up mark and
// for each verdict event's data, until ctx ends.
func follow(ctx context.Context, hc *http.Client, base string, fn func(caughtUp bool, data []byte)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/verdicts/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("stream: %s", resp.Status)
	}
	br := bufio.NewReaderSize(resp.Body, 4096)
	event := ""
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) || ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch {
		case bytes.HasPrefix(line, []byte("event:")):
			event = strings.TrimSpace(string(line[len("event:"):]))
		case bytes.HasPrefix(line, []byte("data:")):
			fn(event == "caught-up", line)
		case len(bytes.TrimSpace(line)) == 0:
			event = ""
		}
	}
}
