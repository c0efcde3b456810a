package reputation

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/herdsec/herd"
)

// RuleVerdicts is where the engine writes what the rules decide.
type RuleVerdicts interface {
	// PutRule stores r unless the object's verdict comes from a source
	// other than the rules or already says the same; it reports whether it
	// stored r and returns the record current afterwards.
	PutRule(ctx context.Context, r herd.Record) (bool, herd.Record, error)
}

// Licences maps device pseudonyms to the licence they belong to.
type Licences interface {
	SetLicence(ctx context.Context, device, licence string) error
	// Licence returns "" when the device's licence is not known.
	Licence(ctx context.Context, device string) (string, error)
}

// Engine aggregates the fleet's telemetry into evidence per object and
// applies the rules on every change of evidence. Verdicts it writes reach
// every replica's index, and every connected agent, through the verdict
// store's change feed.
type Engine struct {
	Rules    Rules
	Evidence herd.EvidenceStore
	History  herd.VerdictHistory
	Verdicts RuleVerdicts
	Licences Licences
	// Reported, if set, remembers which objects each device pseudonym
	// counts in (package jetstream), for erasure.
	Reported interface {
		Remember(ctx context.Context, device string, obj herd.Object) error
	}
	Logger *slog.Logger
	Now    func() time.Time

	mu      sync.Mutex
	hour    time.Time
	rates   map[string]int // reports this hour per device
	limited int64
}

// Limited returns how many reports were ignored because their device
// passed Rules.DeviceRate.
func (e *Engine) Limited() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.limited
}

// Categories are the telemetry categories the engine reads.
var Categories = []herd.Category{herd.CategoryLicense, herd.CategoryThreats, herd.CategoryApps}

// Observe takes the events one device stored together (one category).
func (e *Engine) Observe(ctx context.Context, device string, events []herd.StoredEvent) error {
	g := group{device: device}
	for _, ev := range events {
		if err := e.observe(ctx, &g, ev); err != nil {
			return fmt.Errorf("observe %s: %w", ev.Type, err)
		}
	}
	return nil
}

// group is what the events of one group share: their device, and its
// licence once looked up.
type group struct {
	device  string
	licence string
	known   bool // licence was looked up
}

func (e *Engine) licence(ctx context.Context, g *group) (string, error) {
	if !g.known {
		l, err := e.Licences.Licence(ctx, g.device)
		if err != nil {
			return "", err
		}
		g.licence, g.known = l, true
	}
	return g.licence, nil
}

func (e *Engine) observe(ctx context.Context, g *group, ev herd.StoredEvent) error {
	device := g.device
	switch ev.Type {
	case "license.info":
		var p struct {
			LicenseID string `json:"license_id"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.LicenseID == "" {
			return nil // no licence to learn
		}
		g.licence, g.known = p.LicenseID, true
		return e.Licences.SetLicence(ctx, device, p.LicenseID)
	case "threat.detected":
		var p struct {
			SHA256     string `json:"sha256"`
			ThreatName string `json:"threat_name"`
			Method     string `json:"method"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.SHA256 == "" || !e.allow(device) {
			return nil
		}
		return e.update(ctx, g, herd.Object{Kind: herd.KindSHA256, Value: p.SHA256}, ev.Hour, func(x *herd.Evidence, licence string, newDevice bool) bool {
			changed := newDevice
			if newDevice {
				x.AddThreatName(p.ThreatName)
			}
			// The agent found it because the cloud said so: not evidence.
			if licence != "" && p.Method != "cloud" && p.Method != "" {
				changed = x.AddDetection(p.Method, licence) || changed
			}
			return changed
		})
	case "app.installed":
		var p struct {
			SHA256    string `json:"sha256"`
			Publisher string `json:"publisher"`
		}
		if err := json.Unmarshal(ev.Payload, &p); err != nil || p.SHA256 == "" || p.Publisher == "" || !e.allow(device) {
			return nil
		}
		return e.update(ctx, g, herd.Object{Kind: herd.KindSHA256, Value: p.SHA256}, ev.Hour, func(x *herd.Evidence, licence string, newDevice bool) bool {
			changed := newDevice
			if licence != "" {
				changed = x.AddInstall(p.Publisher, licence) || changed
			}
			return changed
		})
	}
	return nil
}

// update adds one device's report to obj's evidence, then applies the
// rules if the evidence changed.
func (e *Engine) update(ctx context.Context, g *group, obj herd.Object, hour time.Time, add func(x *herd.Evidence, licence string, newDevice bool) bool) error {
	licence, err := e.licence(ctx, g)
	if err != nil {
		return err
	}
	added := false
	ev, changed, err := e.Evidence.UpdateEvidence(ctx, obj, func(x *herd.Evidence) bool {
		newDevice := x.AddDevice(g.device)
		added = newDevice
		if newDevice && licence == "" {
			x.Unlicensed++
		}
		changed := add(x, licence, newDevice)
		if changed {
			x.Seen(hour)
		}
		return changed
	})
	if err != nil || !changed {
		return err
	}
	if added && e.Reported != nil {
		// Remember which objects the device counts in, to forget it there
		// when its data is erased.
		if err := e.Reported.Remember(ctx, g.device, obj); err != nil {
			return err
		}
	}
	return e.decide(ctx, ev)
}

// decideAttempts bounds how often one change of evidence is decided again
// because the evidence moved on meanwhile.
const decideAttempts = 4

// decide applies the rules to ev and records the outcome. Replicas decide
// in parallel, so a decision from older evidence can land after one from
// newer evidence: after writing, the evidence is read again and, if it
// changed, decided again, so that the last write always reflects the
// latest evidence.
func (e *Engine) decide(ctx context.Context, ev herd.Evidence) error {
	for range decideAttempts {
		wrote, err := e.decideOnce(ctx, ev)
		if err != nil || !wrote {
			return err
		}
		latest, err := e.Evidence.Evidence(ctx, ev.Object)
		if err != nil || reflect.DeepEqual(latest, ev) {
			return err
		}
		ev = latest
	}
	return nil
}

// decideOnce applies the rules to ev and records the outcome; it reports
// whether it tried to write a verdict.
func (e *Engine) decideOnce(ctx context.Context, ev herd.Evidence) (bool, error) {
	d := e.Rules.Evaluate(ev)
	if d.Verdict == herd.VerdictUnknown {
		return false, nil
	}
	now := e.now()
	stored, current, err := e.Verdicts.PutRule(ctx, herd.Record{Object: ev.Object, Verdict: d.Verdict, Threat: d.Threat, Updated: now})
	if err != nil {
		return true, err
	}
	entry := herd.HistoryEntry{Time: now, Verdict: d.Verdict, Source: herd.SourceRules, Reasons: d.Reasons, Applied: stored}
	if !stored {
		if current.Source == herd.SourceRules {
			return true, nil // the rules said this already
		}
		// Kept out by a verdict from elsewhere: say so once.
		h, err := e.History.History(ctx, ev.Object)
		if err != nil {
			return true, err
		}
		if n := len(h); n > 0 && !h[n-1].Applied && h[n-1].Verdict == d.Verdict {
			return true, nil
		}
		entry.Reasons = append(entry.Reasons, fmt.Sprintf("not applied: the %s verdict (%s) stands", current.Source, current.Verdict))
	}
	e.logger().Info("verdict rule", "object", ev.Object.String(), "verdict", d.Verdict, "applied", stored)
	return true, e.History.AppendHistory(ctx, ev.Object, entry)
}

// allow counts one report of device and says whether it is within the
// hourly rate.
func (e *Engine) allow(device string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.now().Truncate(time.Hour)
	if !h.Equal(e.hour) || e.rates == nil {
		e.hour, e.rates = h, map[string]int{}
	}
	e.rates[device]++
	if e.rates[device] > e.Rules.DeviceRate {
		e.limited++
		return false
	}
	return true
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *Engine) logger() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}
