// Package herd holds the domain vocabulary of the Herd security cloud network
// and the interfaces between its parts. It does no I/O.
package herd

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"
)

// Verdict is what the network knows about an object.
type Verdict string

const (
	VerdictMalicious  Verdict = "malicious"
	VerdictSuspicious Verdict = "suspicious"
	VerdictClean      Verdict = "clean"
	VerdictUnknown    Verdict = "unknown"
)

// Valid reports whether v is one of the four verdicts.
func (v Verdict) Valid() bool {
	switch v {
	case VerdictMalicious, VerdictSuspicious, VerdictClean, VerdictUnknown:
		return true
	}
	return false
}

// Severity orders verdicts so that the worse of two can be chosen:
// malicious > suspicious > clean > unknown.
func (v Verdict) Severity() int {
	switch v {
	case VerdictMalicious:
		return 3
	case VerdictSuspicious:
		return 2
	case VerdictClean:
		return 1
	}
	return 0
}

// Sources of a verdict.
const (
	SourceBuiltin  = "builtin"  // shipped with Herd (test verdicts such as EICAR)
	SourceOperator = "operator" // set by an operator through the admin API
	SourceImport   = "import"   // imported from a signature file
	SourceLocalDB  = "local-db" // the agent's local signature database
)

// Record is the stored verdict of one object.
type Record struct {
	Object  Object    `json:"object"`
	Verdict Verdict   `json:"verdict"`
	Threat  string    `json:"threat,omitempty"`
	Source  string    `json:"source"`
	Test    bool      `json:"test,omitempty"` // a test verdict (EICAR): harmless by design
	Updated time.Time `json:"updated"`
}

// MaxThreatName bounds a threat name's length in bytes.
const MaxThreatName = 256

// Validate checks a record that is about to be stored.
func (r Record) Validate() error {
	if _, err := r.Object.Normalize(); err != nil {
		return err
	}
	if !r.Verdict.Valid() || r.Verdict == VerdictUnknown {
		return Errorf(EINVALID, "verdict %q: must be malicious, suspicious or clean", r.Verdict)
	}
	if len(r.Threat) > MaxThreatName {
		return Errorf(EINVALID, "threat name: longer than %d bytes", MaxThreatName)
	}
	if !printable(r.Threat) {
		return Errorf(EINVALID, "threat name: contains control characters")
	}
	return nil
}

// VerdictChange is one change of the verdict store, in the order of Seq.
type VerdictChange struct {
	Seq     uint64 `json:"seq"`
	Record  Record `json:"record"`
	Deleted bool   `json:"deleted,omitempty"`
	// CaughtUp marks, on a change that carries nothing else, that every
	// change that existed when Changes was called has been delivered.
	CaughtUp bool `json:"-"`
}

// ReputationService answers verdict lookups.
type ReputationService interface {
	// Lookup returns the current record for each object, in order.
	// Unknown objects get VerdictUnknown, never an error.
	// Objects must already be normalized (Object.Normalize).
	Lookup(ctx context.Context, objs []Object) ([]Record, error)
}

// VerdictStore is the durable, replicated home of verdicts.
type VerdictStore interface {
	// Put stores r as the current verdict of r.Object (already normalized
	// by the caller) and returns the change's sequence number.
	Put(ctx context.Context, r Record) (uint64, error)
	// Get returns the stored record of obj, or ENOTFOUND.
	Get(ctx context.Context, obj Object) (Record, error)
	// Changes delivers, in order, every change with a sequence number above
	// after, then every later change, until ctx ends. For an object changed
	// more than once since after, only its latest change is delivered: a
	// client that applies them all misses nothing.
	Changes(ctx context.Context, after uint64) (<-chan VerdictChange, error)
}

// Event is one telemetry observation reported by an agent. Its type and
// every payload field are declared in the data inventory.
type Event struct {
	ID       string          `json:"id"`   // chosen by the agent, unique per event; re-sends reuse it
	Type     string          `json:"type"` // an event type of the data inventory, e.g. threat.detected
	Category Category        `json:"category"`
	Time     time.Time       `json:"time"`
	Payload  json.RawMessage `json:"payload"`
}

// TelemetryBatch is what an agent sends at once: its device id, its
// events, and the address the request came from (which the cloud maps to
// a country and ASN and then forgets).
type TelemetryBatch struct {
	Device string
	Client netip.Addr
	Events []Event
}

// StoredEvent is an event as the cloud keeps it: depersonalized, with the
// device as a keyed pseudonym, time generalized to the hour and place to
// the country.
type StoredEvent struct {
	Type     string          `json:"type"`
	Category Category        `json:"category"`
	Hour     time.Time       `json:"hour"`
	Country  string          `json:"country"`
	ASN      uint32          `json:"asn,omitempty"`
	Device   string          `json:"device"` // keyed, rotating pseudonym
	Payload  json.RawMessage `json:"payload"`
	// DedupID de-duplicates re-sent events: a keyed hash of the device and
	// the agent's event id. Stores use it to recognise a re-send and keep
	// no client-chosen string.
	DedupID string `json:"-"`
	// Retention is how long the event is kept (its type's, in the data
	// inventory); 0: as long as the store keeps telemetry.
	Retention time.Duration `json:"-"`
}

// ConsentReceipt confirms a device's consent change and the deletions it
// caused in the cloud.
type ConsentReceipt struct {
	Withdrawn []Category          `json:"withdrawn,omitempty"`
	Deleted   map[Category]uint64 `json:"deleted,omitempty"` // events erased, by category
	// Remaining is how many events of the withdrawn categories are still
	// stored for the device after the deletion, counted afresh: 0 proves it.
	Remaining uint64 `json:"remaining"`
	Verified  bool   `json:"verified"`
}

// IngestResult says what happened to each event of a batch.
type IngestResult struct {
	Stored     int       `json:"stored"`
	Duplicates int       `json:"duplicates"`
	Rejected   []Problem `json:"rejected,omitempty"` // events not stored, with a code (consent, invalid)
	Dropped    []Problem `json:"dropped,omitempty"`  // fields removed from stored events (undeclared, unparseable)
}

// Ingester takes telemetry from agents into the store.
type Ingester interface {
	// Ingest checks every event against the data inventory and the device's
	// consent, depersonalizes it and stores it durably before returning.
	Ingest(ctx context.Context, b TelemetryBatch) (IngestResult, error)
}

// AppendResult says what happened to a telemetry batch.
type AppendResult struct {
	Stored     int `json:"stored"`     // events newly stored
	Duplicates int `json:"duplicates"` // events already stored earlier under the same id
}

// TelemetrySink stores depersonalized telemetry durably.
type TelemetrySink interface {
	// Append stores the events and returns only once all of them are durable.
	// An event whose DedupID was stored before is counted as a duplicate, not stored again.
	Append(ctx context.Context, events []StoredEvent) (AppendResult, error)
	// Delete removes every stored event of the category carried by any of
	// the device pseudonyms, and returns how many it removed and how many
	// remain afterwards (0 unless a write raced the deletion).
	Delete(ctx context.Context, c Category, devices []string) (deleted, remaining uint64, err error)
}

// TelemetryStats describes what the telemetry store holds.
type TelemetryStats struct {
	Events   uint64 `json:"events"`
	Messages uint64 `json:"messages"` // events are stored in groups, several to a message
	Bytes    uint64 `json:"bytes"`
	FirstSeq uint64 `json:"first_seq"`
	LastSeq  uint64 `json:"last_seq"`
}

// TelemetryStatser reports the size of a telemetry store.
type TelemetryStatser interface {
	Stats(ctx context.Context) (TelemetryStats, error)
}
