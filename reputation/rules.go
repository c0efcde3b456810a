package reputation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/herdsec/herd"
)

// Rules turn an object's evidence into a verdict. Every count is of
// independent sources: licences, so that many devices under one licence,
// or one device reporting again and again, count once. Devices whose
// licence the cloud does not know count for nothing here.
type Rules struct {
	// MaliciousSources: detected (by signature, behaviour, heuristic or an
	// analyst) on at least this many sources makes an object malicious.
	MaliciousSources int `yaml:"malicious_sources" json:"malicious_sources"`
	// SuspiciousSources: detected on at least this many, but fewer than
	// MaliciousSources, makes it suspicious.
	SuspiciousSources int `yaml:"suspicious_sources" json:"suspicious_sources"`
	// CleanSources: installed from one publisher on at least this many
	// sources, and never detected, makes it clean. Detected as well as
	// installed that widely is a conflict: suspicious, for an analyst.
	CleanSources int `yaml:"clean_sources" json:"clean_sources"`
	// DeviceRate caps how many reports per hour one device adds to the
	// evidence; beyond it, its reports are counted and ignored.
	DeviceRate int `yaml:"device_rate" json:"device_rate"`
}

// DefaultRules are the rules a cloud runs with when none are configured.
func DefaultRules() Rules {
	return Rules{MaliciousSources: 3, SuspiciousSources: 2, CleanSources: 10, DeviceRate: 1000}
}

// Validate checks the rules and names the first bad setting.
func (r Rules) Validate() error {
	switch {
	case r.MaliciousSources < 1:
		return fmt.Errorf("malicious_sources = %d: must be ≥ 1", r.MaliciousSources)
	case r.SuspiciousSources < 1 || r.SuspiciousSources > r.MaliciousSources:
		return fmt.Errorf("suspicious_sources = %d: must be between 1 and malicious_sources (%d)", r.SuspiciousSources, r.MaliciousSources)
	case r.CleanSources < 1:
		return fmt.Errorf("clean_sources = %d: must be ≥ 1", r.CleanSources)
	case r.MaliciousSources > herd.MaxTracked:
		return fmt.Errorf("malicious_sources = %d: must be ≤ %d, the most sources evidence counts", r.MaliciousSources, herd.MaxTracked)
	case r.CleanSources > herd.MaxTracked:
		return fmt.Errorf("clean_sources = %d: must be ≤ %d, the most sources evidence counts", r.CleanSources, herd.MaxTracked)
	case r.DeviceRate < 1:
		return fmt.Errorf("device_rate = %d: must be ≥ 1", r.DeviceRate)
	}
	return nil
}

// Decision is what the rules make of some evidence.
type Decision struct {
	Verdict herd.Verdict // VerdictUnknown: the evidence decides nothing
	Threat  string
	Reasons []string
}

// Evaluate applies the rules to ev.
func (r Rules) Evaluate(ev herd.Evidence) Decision {
	detected := ev.DetectionSources()
	publisher, installs := widestInstall(ev)
	var d Decision
	switch n := len(detected); {
	case n > 0 && installs >= r.CleanSources:
		d.Verdict = herd.VerdictSuspicious
		d.Reasons = []string{
			fmt.Sprintf("conflicting evidence: detected on %d independent sources (%s) and installed from %q on %d", n, methods(ev), publisher, installs),
		}
	case n >= r.MaliciousSources:
		d.Verdict = herd.VerdictMalicious
		d.Reasons = []string{fmt.Sprintf("detected on %d independent sources (%s); the rule asks for %d", n, methods(ev), r.MaliciousSources)}
	case n >= r.SuspiciousSources:
		d.Verdict = herd.VerdictSuspicious
		d.Reasons = []string{fmt.Sprintf("detected on %d independent sources (%s); %d make it suspicious, %d malicious", n, methods(ev), r.SuspiciousSources, r.MaliciousSources)}
	case n == 0 && installs >= r.CleanSources:
		d.Verdict = herd.VerdictClean
		d.Reasons = []string{fmt.Sprintf("installed from %q on %d independent sources and never detected; the rule asks for %d", publisher, installs, r.CleanSources)}
	default:
		return Decision{Verdict: herd.VerdictUnknown}
	}
	if d.Verdict != herd.VerdictClean {
		d.Threat = ev.ThreatName()
		if d.Threat == "" {
			d.Threat = "Herd.Fleet.Detected"
		}
	}
	d.Reasons = append(d.Reasons, fmt.Sprintf("reported by %d devices, first seen %s, last seen %s",
		len(ev.Devices), ev.FirstSeen.Format("2006-01-02T15Z"), ev.LastSeen.Format("2006-01-02T15Z")))
	return d
}

// methods lists detection methods with their source counts.
func methods(ev herd.Evidence) string {
	var parts []string
	for m, l := range ev.Detections {
		parts = append(parts, fmt.Sprintf("%s: %d", m, len(l)))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// widestInstall returns the publisher installed on the most sources.
func widestInstall(ev herd.Evidence) (string, int) {
	best, n := "", 0
	for p, l := range ev.Installs {
		if len(l) > n || len(l) == n && p < best {
			best, n = p, len(l)
		}
	}
	return best, n
}
