package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/apps"
	"github.com/herdsec/herd/agent/daemon"
	"github.com/herdsec/herd/agent/procevents"
	"github.com/herdsec/herd/agent/report"
	"github.com/herdsec/herd/agent/sample"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/agent/wifi"
)

// processSource opens the process-start events for the behaviour rules:
// the kernel's connector when permitted, /proc polling otherwise.
func (m *Main) processSource(log *slog.Logger) (daemon.Processes, error) {
	src, err := procevents.Open(procevents.Options{OnFallback: func(err error) {
		log.Info("process events by polling /proc", "connector", err)
	}})
	if err != nil {
		return nil, err
	}
	log.Info("process events", "source", src.Kind())
	return src, nil
}

// Settings keys of the periodic checks.
const (
	keyAppsSeen = "apps.seen" // hashes of the applications already reported
	keyWiFiKey  = "wifi.key"  // the region's key for access point pseudonyms, from the cloud
)

// watchTasks returns the daemon's periodic checks: installed applications
// (daily; only applications not reported before are sent) and the Wi-Fi
// connection (every five minutes; a warning for open, WEP and TKIP networks).
func (m *Main) watchTasks(g globals, log *slog.Logger) []daemon.Task {
	return []daemon.Task{
		{Name: "apps", Every: 24 * time.Hour, RunFirst: true, Run: func(ctx context.Context) ([]daemon.Report, []daemon.Alert, error) {
			return newApps(ctx, g.state, apps.Options{})
		}},
		{Name: "wifi", Every: 5 * time.Minute, RunFirst: true, Run: func(ctx context.Context) ([]daemon.Report, []daemon.Alert, error) {
			return checkWiFi(ctx, g.state, nil, log)
		}},
	}
}

// newApps lists the installed applications and returns app.installed
// reports for those not reported before (by a hash of their fields; the
// list of hashes is kept in the state).
func newApps(ctx context.Context, stateDir string, opts apps.Options) ([]daemon.Report, []daemon.Alert, error) {
	list, listErr := apps.List(ctx, opts)
	st, err := state.Open(stateDir)
	if err != nil {
		return nil, nil, err
	}
	defer st.Close()
	var seen []string
	if b, err := st.Get(keyAppsSeen); err == nil && b != nil {
		if err := json.Unmarshal(b, &seen); err != nil {
			seen = nil // a damaged list: report everything once more
		}
	}
	var reps []daemon.Report
	now := make([]string, 0, len(list))
	for _, a := range list {
		f := a.Fields()
		b, _ := json.Marshal(f)
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:12])
		now = append(now, h)
		if _, found := slices.BinarySearch(seen, h); !found {
			reps = append(reps, daemon.Report{Type: apps.EventType, Fields: f})
		}
	}
	slices.Sort(now)
	b, _ := json.Marshal(slices.Compact(now))
	if err := st.Put(keyAppsSeen, b); err != nil {
		return reps, nil, err
	}
	return reps, nil, listErr
}

// checkWiFi reads the current Wi-Fi connections and returns a warning for
// each unsafe one and, when the state holds the region's pseudonym key,
// a wifi.seen report. run nil: the real nmcli or iw.
func checkWiFi(ctx context.Context, stateDir string, run wifi.Runner, log *slog.Logger) ([]daemon.Report, []daemon.Alert, error) {
	nets, err := wifi.Current(ctx, run)
	if errors.Is(err, wifi.ErrNoTool) || errors.Is(err, wifi.ErrNotConnected) {
		return nil, nil, nil // no Wi-Fi here, or not connected: nothing to check
	}
	if err != nil {
		return nil, nil, err
	}
	var key []byte
	if st, err := state.Open(stateDir); err == nil {
		key, _ = st.Get(keyWiFiKey)
		st.Close()
	}
	var reps []daemon.Report
	var alerts []daemon.Alert
	for _, n := range nets {
		if w := n.Warning(); w != "" {
			alerts = append(alerts, daemon.Alert{Time: time.Now().UTC(), Kind: "wifi", Threat: fmt.Sprintf("Wi-Fi %q: %s", n.SSID, n.Security), Action: "warned", Detail: w})
		}
		if len(key) == 0 {
			continue // without the region's key an access point is not reported
		}
		f, err := n.Fields(key)
		if err != nil {
			log.Warn("wifi", "err", err)
			continue
		}
		reps = append(reps, daemon.Report{Type: wifi.EventType, Fields: f})
	}
	return reps, alerts, nil
}

// offerSample uploads a program a behaviour rule flagged, when consent
// allows suspicious files and the cloud has no verdict on it: a known file
// needs no second look.
func (m *Main) offerSample(ctx context.Context, g globals, up sample.Uploader, lookup herd.ReputationService, path, sha string, log *slog.Logger) {
	st, err := state.Open(g.state)
	if err != nil {
		log.Warn("sample", "err", err)
		return
	}
	rec, _, err := (&report.Reporter{State: st}).Consent()
	st.Close()
	if err != nil || !rec.Allows(herd.CategorySuspicious) {
		return // nothing is even looked up without consent
	}
	if _, ok := sample.Classify(path); !ok {
		return
	}
	if lookup != nil {
		recs, err := lookup.Lookup(ctx, []herd.Object{{Kind: herd.KindSHA256, Value: sha}})
		if err != nil || len(recs) != 1 || recs[0].Verdict != herd.VerdictUnknown {
			return // known to the cloud (or it cannot say): no upload
		}
	}
	r, err := sample.Offer(ctx, up, path, rec)
	if err != nil {
		log.Warn("sample not sent", "path", path, "err", herd.ErrorMessage(err))
		return
	}
	log.Info("suspicious file sent for analysis", "sha256", sha, "receipt", r)
}
