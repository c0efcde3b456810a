package herd

import (
	"context"
	"slices"
	"time"
)

// SourceRules marks a verdict the cloud's verdict rules reached from the
// fleet's evidence. Rules never overwrite a verdict from another source.
const SourceRules = "rules"

// MaxTracked bounds each list an Evidence keeps (devices, sources per
// method, publishers). Counts saturate there: rules ask for far fewer.
const MaxTracked = 256

// Evidence is what the fleet has reported about one object. Devices and
// sources are keyed pseudonyms; an independent source is a licence, so that
// many devices under one licence count once.
type Evidence struct {
	Object    Object    `json:"object"`
	FirstSeen time.Time `json:"first_seen"` // to the hour, as telemetry keeps time
	LastSeen  time.Time `json:"last_seen"`
	// Devices lists the devices that reported the object, each once.
	Devices []string `json:"devices,omitempty"`
	// Detections lists, by method (signature, behaviour, heuristic,
	// analyst), the independent sources that detected the object.
	// Detections the agent made because the cloud said so are not evidence.
	Detections map[string][]string `json:"detections,omitempty"`
	// Installs lists, by publisher, the independent sources on which the
	// object was installed as part of an application.
	Installs map[string][]string `json:"installs,omitempty"`
	// ThreatNames counts the names agents gave the threat (at most 8 kept).
	ThreatNames map[string]int `json:"threat_names,omitempty"`
	// Unlicensed counts reports from devices whose licence is not known;
	// they add to Devices but not to independent sources.
	Unlicensed int `json:"unlicensed,omitempty"`
}

// AddDevice records that device reported the object and says whether it
// was new.
func (e *Evidence) AddDevice(device string) bool {
	return addTracked(&e.Devices, device)
}

// RemoveDevice forgets that device reported the object (its data was
// erased) and says whether it was there.
func (e *Evidence) RemoveDevice(device string) bool {
	i := slices.Index(e.Devices, device)
	if i < 0 {
		return false
	}
	e.Devices = slices.Delete(e.Devices, i, i+1)
	return true
}

// AddDetection records that source detected the object by method.
func (e *Evidence) AddDetection(method, source string) bool {
	if e.Detections == nil {
		e.Detections = map[string][]string{}
	}
	l := e.Detections[method]
	added := addTracked(&l, source)
	e.Detections[method] = l
	return added
}

// AddInstall records that source installed the object from publisher.
func (e *Evidence) AddInstall(publisher, source string) bool {
	if e.Installs == nil {
		e.Installs = map[string][]string{}
	}
	l := e.Installs[publisher]
	added := addTracked(&l, source)
	e.Installs[publisher] = l
	return added
}

// AddThreatName counts a name an agent gave the threat.
func (e *Evidence) AddThreatName(name string) {
	if name == "" {
		return
	}
	if e.ThreatNames == nil {
		e.ThreatNames = map[string]int{}
	}
	if _, ok := e.ThreatNames[name]; ok || len(e.ThreatNames) < 8 {
		e.ThreatNames[name]++
	}
}

// Seen widens the first/last seen hours to include hour.
func (e *Evidence) Seen(hour time.Time) {
	if e.FirstSeen.IsZero() || hour.Before(e.FirstSeen) {
		e.FirstSeen = hour
	}
	if hour.After(e.LastSeen) {
		e.LastSeen = hour
	}
}

// DetectionSources returns the distinct sources that detected the object
// by any method.
func (e *Evidence) DetectionSources() []string {
	var all []string
	for _, l := range e.Detections {
		for _, s := range l {
			if !slices.Contains(all, s) {
				all = append(all, s)
			}
		}
	}
	slices.Sort(all)
	return all
}

// ThreatName returns the name agents gave most often (ties: the first in
// alphabetical order).
func (e *Evidence) ThreatName() string {
	best, n := "", 0
	for name, c := range e.ThreatNames {
		if c > n || c == n && name < best {
			best, n = name, c
		}
	}
	return best
}

func addTracked(l *[]string, s string) bool {
	if slices.Contains(*l, s) || len(*l) >= MaxTracked {
		return false
	}
	*l = append(*l, s)
	return true
}

// EvidenceStore keeps the evidence of every object, shared by all cloud
// replicas.
type EvidenceStore interface {
	// UpdateEvidence applies fn to the evidence of obj (empty if none) and
	// stores the result if fn reports a change, atomically: when another
	// replica changed it meanwhile, fn runs again on the newer evidence.
	UpdateEvidence(ctx context.Context, obj Object, fn func(*Evidence) bool) (Evidence, bool, error)
	// Evidence returns the evidence of obj, or ENOTFOUND.
	Evidence(ctx context.Context, obj Object) (Evidence, error)
}

// HistoryEntry is one decision about an object's verdict.
type HistoryEntry struct {
	Time    time.Time `json:"time"`
	Verdict Verdict   `json:"verdict"`
	Source  string    `json:"source"`
	Reasons []string  `json:"reasons,omitempty"`
	// Applied is false when a rule reached a verdict that a verdict from
	// another source (an operator's) kept from being stored.
	Applied bool `json:"applied"`
}

// MaxHistory bounds how many entries an object's history keeps (the newest).
const MaxHistory = 64

// VerdictHistory keeps the history of each object's verdict with reasons.
type VerdictHistory interface {
	AppendHistory(ctx context.Context, obj Object, e HistoryEntry) error
	// History returns obj's entries, oldest first (none: empty, no error).
	History(ctx context.Context, obj Object) ([]HistoryEntry, error)
}
