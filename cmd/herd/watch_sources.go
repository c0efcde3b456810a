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
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/scrub"
)

// processSource opens the process-start events for the behaviour rules:
// the kernel's connector when permitted, /proc polling otherwise.
func (m *Main) processSource(log *slog.Logger) (procevents.Source, error) {
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
	keyWiFiKey  = "wifi.key"  // the region's key for access point pseudonyms, from the cloud (JSON heldWiFiKey)
)

// watchTasks returns the daemon's periodic checks: installed applications
// (daily; only applications not reported before are sent) and the Wi-Fi
// connection (every five minutes; a warning for open, WEP and TKIP
// networks, and a wifi.seen report once the region's key is fetched from
// keys; nil keys: no cloud, warnings only).
func (m *Main) watchTasks(g globals, keys wifiKeySource, log *slog.Logger) []daemon.Task {
	return []daemon.Task{
		{Name: "apps", Every: 24 * time.Hour, RunFirst: true, Run: func(ctx context.Context) ([]daemon.Report, []daemon.Alert, error) {
			_, err := newApps(ctx, g.state, apps.Options{}) // queued there, with the list of what was reported
			return nil, nil, err
		}},
		{Name: "wifi", Every: 5 * time.Minute, RunFirst: true, Run: func(ctx context.Context) ([]daemon.Report, []daemon.Alert, error) {
			return checkWiFi(ctx, g.state, nil, keys, time.Now(), log)
		}},
	}
}

// newApps lists the installed applications and queues an app.installed
// event for each one not reported before (known by a hash of its fields;
// the hashes are kept in the state, saved with the events they stand for).
// Nothing is listed while consent leaves the apps category off, so the
// applications are all reported once it is switched on. It returns the
// fields of the events queued.
func newApps(ctx context.Context, stateDir string, opts apps.Options) ([]map[string]any, error) {
	st, err := state.Open(stateDir)
	if err != nil {
		return nil, err
	}
	rec, _, err := (&report.Reporter{State: st}).Consent()
	st.Close()
	if err != nil || !rec.Allows(herd.CategoryApps) {
		return nil, err
	}
	// Listing hashes executables: the state is not held meanwhile.
	list, listErr := apps.List(ctx, opts)
	if st, err = state.Open(stateDir); err != nil {
		return nil, err
	}
	defer st.Close()
	rep := &report.Reporter{State: st, Scrubber: scrub.Inventory{}}
	var seen []string
	if b, err := st.Get(keyAppsSeen); err == nil && b != nil {
		if err := json.Unmarshal(b, &seen); err != nil {
			seen = nil // a damaged list: report everything once more
		}
	}
	var queued []map[string]any
	now := make([]string, 0, len(list))
	for _, a := range list {
		f := a.Fields()
		b, _ := json.Marshal(f)
		sum := sha256.Sum256(b)
		h := hex.EncodeToString(sum[:12])
		if _, found := slices.BinarySearch(seen, h); !found {
			ok, _, err := rep.Report(apps.EventType, f)
			if err != nil || !ok {
				continue // not queued: not remembered, tried again next time
			}
			queued = append(queued, f)
		}
		now = append(now, h)
	}
	if listErr != nil {
		// A package system failed: keep what was known of it, or its
		// applications would all be reported again next time.
		now = append(now, seen...)
	}
	slices.Sort(now)
	b, _ := json.Marshal(slices.Compact(now))
	if err := st.Put(keyAppsSeen, b); err != nil {
		return queued, err
	}
	return queued, listErr
}

// checkWiFi reads the current Wi-Fi connections and returns a warning for
// each unsafe one and, when the region's pseudonym key is known (see
// wifiKey), a wifi.seen report whose bssid is the access point's
// pseudonym, never its address. run nil: the real nmcli or iw.
func checkWiFi(ctx context.Context, stateDir string, run wifi.Runner, keys wifiKeySource, now time.Time, log *slog.Logger) ([]daemon.Report, []daemon.Alert, error) {
	nets, err := wifi.Current(ctx, run)
	if errors.Is(err, wifi.ErrNoTool) || errors.Is(err, wifi.ErrNotConnected) {
		return nil, nil, nil // no Wi-Fi here, or not connected: nothing to check
	}
	if err != nil {
		return nil, nil, err
	}
	var reps []daemon.Report
	var alerts []daemon.Alert
	for _, n := range nets {
		if w := n.Warning(); w != "" {
			alerts = append(alerts, daemon.Alert{Time: now.UTC(), Kind: "wifi", Threat: fmt.Sprintf("Wi-Fi %q: %s", n.SSID, n.Security), Action: "warned", Detail: w})
		}
	}
	key := wifiKey(ctx, stateDir, keys, now, log)
	if len(key) == 0 {
		return nil, alerts, nil // without the region's key an access point is not reported
	}
	for _, n := range nets {
		f, err := n.Fields(key)
		if err != nil {
			log.Warn("wifi", "err", err)
			continue
		}
		reps = append(reps, daemon.Report{Type: wifi.EventType, Fields: f})
	}
	return reps, alerts, nil
}

// wifiKeySource hands out the region's key for access point pseudonyms
// (httpapi.Client: GET /v1/keys/wifi with the device's certificate).
type wifiKeySource interface {
	// WiFiKey returns the region's current key, which passes Check, and
	// its version. EUNAVAILABLE: the cloud cannot be reached;
	// EUNAUTHORIZED: this device is not enrolled (or was revoked).
	WiFiKey(ctx context.Context) (httpapi.WiFiKey, error)
}

// wifiKeyRecheck is how often an agent holding a key asks the cloud
// whether a newer version replaced it.
const wifiKeyRecheck = 24 * time.Hour

// heldWiFiKey is the region's key as the state keeps it (setting wifi.key),
// with when the cloud was last asked for a newer one.
type heldWiFiKey struct {
	httpapi.WiFiKey
	Checked time.Time `json:"checked"`
}

// loadWiFiKey returns the key held in the state; none (zero) when there
// is none or it is damaged, so that a fresh one is fetched.
func loadWiFiKey(stateDir string) heldWiFiKey {
	st, err := state.Open(stateDir)
	if err != nil {
		return heldWiFiKey{}
	}
	defer st.Close()
	b, err := st.Get(keyWiFiKey)
	var h heldWiFiKey
	if err != nil || b == nil || json.Unmarshal(b, &h) != nil || h.Check() != nil {
		return heldWiFiKey{}
	}
	return h
}

func storeWiFiKey(stateDir string, h heldWiFiKey) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	st, err := state.Open(stateDir)
	if err != nil {
		return err
	}
	defer st.Close()
	return st.Put(keyWiFiKey, b)
}

// wifiKey returns the key to make pseudonyms with: the one the state
// holds, replaced by the cloud's when the state holds none or when the
// daily check finds a higher version. Nothing when the cloud has not
// handed one out yet (keys nil: there is no cloud). The state is not held
// open while the cloud is asked.
func wifiKey(ctx context.Context, stateDir string, keys wifiKeySource, now time.Time, log *slog.Logger) []byte {
	held := loadWiFiKey(stateDir)
	if keys == nil || (held.Version != 0 && now.Sub(held.Checked) < wifiKeyRecheck && !now.Before(held.Checked)) {
		return held.Key
	}
	k, err := keys.WiFiKey(ctx)
	if err != nil {
		log.Warn("wifi: the region's key could not be fetched", "err", err)
		return held.Key
	}
	if err := k.Check(); err != nil {
		log.Warn("wifi: the cloud's key was refused", "err", err)
		return held.Key
	}
	if k.Version > held.Version {
		if held.Version != 0 {
			log.Info("wifi: the region's key was replaced", "version", k.Version, "before", held.Version)
		}
		held.WiFiKey = k
	}
	held.Checked = now
	if err := storeWiFiKey(stateDir, held); err != nil {
		log.Warn("wifi: the region's key was not kept", "err", err)
	}
	return held.Key
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
