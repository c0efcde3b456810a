// Package ingest is the cloud's telemetry pipeline: verify each event
// against the data inventory, check the device's consent, depersonalize it
// a second time, generalize it, and store it under a keyed pseudonym.
package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/inventory"
)

// Keys makes keyed pseudonyms of device ids (package pseudonym).
type Keys interface {
	// Pseudonym is the device's pseudonym under the current key.
	Pseudonym(deviceID string) string
	// All lists the device's pseudonyms under every kept key.
	All(deviceID string) []string
	// Stable is a non-rotating keyed pseudonym for one purpose.
	Stable(purpose, deviceID string) string
}

// ConsentStore keeps each device's latest consent record under a stable
// pseudonym (package jetstream).
type ConsentStore interface {
	Consent(ctx context.Context, key string) (json.RawMessage, error)
	SetConsent(ctx context.Context, key string, rec json.RawMessage) error
}

// Locator maps a client address to a country (ISO code, "ZZ" unknown) and
// an ASN (0 unknown).
type Locator func(addr netip.Addr) (country string, asn uint32)

// Pipeline takes telemetry batches into the store.
type Pipeline struct {
	Sink     herd.TelemetrySink
	Consents ConsentStore
	Keys     Keys
	Locate   Locator // nil: every address is unknown ("ZZ")
	Scrubber inventory.Scrubber
	Now      func() time.Time

	metrics *metrics
}

var _ herd.Ingester = (*Pipeline)(nil)

// Purposes of stable pseudonyms.
const (
	purposeConsent = "consent"
	purposeEvent   = "event"
)

// MaxDeviceIDLen bounds a device id.
const MaxDeviceIDLen = 128

// New returns a pipeline whose metrics are registered with reg.
func New(p Pipeline, reg prometheus.Registerer) *Pipeline {
	p.metrics = newMetrics(reg)
	if p.Now == nil {
		p.Now = time.Now
	}
	return &p
}

// ValidDevice checks a device id as sent by an agent.
func ValidDevice(id string) error {
	if id == "" {
		return herd.Errorf(herd.EINVALID, "device: missing")
	}
	if len(id) > MaxDeviceIDLen {
		return herd.Errorf(herd.EINVALID, "device: longer than %d bytes", MaxDeviceIDLen)
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
			return herd.Errorf(herd.EINVALID, "device: only letters, digits and - _ . : are allowed")
		}
	}
	return nil
}

// latestConsent returns the device's latest consent record, or false.
func (p *Pipeline) latestConsent(ctx context.Context, device string) (consent.Record, bool, error) {
	raw, err := p.Consents.Consent(ctx, p.Keys.Stable(purposeConsent, device))
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return consent.Record{}, false, nil
	}
	if err != nil {
		return consent.Record{}, false, err
	}
	var rec consent.Record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return consent.Record{}, false, fmt.Errorf("stored consent record: %w", err)
	}
	return rec, true, nil
}

// Ingest verifies, checks consent, scrubs, generalizes and stores a batch.
// Events that may not be stored are listed in Rejected with a code
// (consent, invalid) and nothing of them is kept; undeclared fields are
// dropped, listed in Dropped and counted.
func (p *Pipeline) Ingest(ctx context.Context, b herd.TelemetryBatch) (herd.IngestResult, error) {
	var res herd.IngestResult
	if err := ValidDevice(b.Device); err != nil {
		return res, err
	}
	rec, haveConsent, err := p.latestConsent(ctx, b.Device)
	if err != nil {
		return res, err
	}
	country, asn := "ZZ", uint32(0)
	if p.Locate != nil && b.Client.IsValid() {
		country, asn = p.Locate(b.Client)
	}
	// From here on the client address is not used: it is never stored.
	device := p.Keys.Pseudonym(b.Device)
	stored := make([]herd.StoredEvent, 0, len(b.Events))
	reject := func(i int, code, msg string) {
		res.Rejected = append(res.Rejected, herd.Problem{Index: i, Code: code, Message: msg})
		p.metrics.rejected.WithLabelValues(code).Inc()
	}
	for i, ev := range b.Events {
		et, ok := inventory.Get(ev.Type)
		switch {
		case !ok:
			reject(i, herd.EINVALID, fmt.Sprintf("type %q: not in the data inventory", clip(ev.Type)))
			continue
		case et.Category != ev.Category:
			reject(i, herd.EINVALID, fmt.Sprintf("category %q: type %s belongs to category %s", clip(string(ev.Category)), et.Name, et.Category))
			continue
		case et.Destination != "telemetry":
			reject(i, herd.EINVALID, fmt.Sprintf("type %s: goes to the identity store, not telemetry", et.Name))
			continue
		case !haveConsent:
			reject(i, herd.ECONSENT, "no consent record for this device: send one first")
			continue
		case !rec.Allows(et.Category):
			reject(i, herd.ECONSENT, fmt.Sprintf("category %s: not consented", et.Category))
			continue
		}
		clean, err := et.Clean(ev.Payload, p.Scrubber)
		if err != nil {
			reject(i, herd.EINVALID, herd.ErrorMessage(err))
			continue
		}
		for _, f := range clean.Dropped {
			res.Dropped = append(res.Dropped, herd.Problem{Index: i, Field: f, Code: "undeclared", Message: "not declared in the data inventory, or not parseable: dropped"})
			p.metrics.dropped.WithLabelValues(et.Name).Inc()
		}
		if clean.Hits > 0 {
			// The agent scrubs first: a hit here means it sent something it
			// should not have.
			p.metrics.secondPass.WithLabelValues(et.Name).Add(float64(clean.Hits))
		}
		stored = append(stored, herd.StoredEvent{
			Type:     et.Name,
			Category: et.Category,
			Hour:     ev.Time.UTC().Truncate(time.Hour),
			Country:  country,
			ASN:      asn,
			Device:   device,
			Payload:  clean.Payload,
			DedupID:  p.Keys.Stable(purposeEvent, b.Device+"\x00"+ev.ID),
			// Each event type is kept as long as the inventory says.
			Retention: et.Retention,
		})
	}
	if len(stored) == 0 {
		return res, nil
	}
	ar, err := p.Sink.Append(ctx, stored)
	if err != nil {
		return res, err
	}
	res.Stored, res.Duplicates = ar.Stored, ar.Duplicates
	p.metrics.events.WithLabelValues("stored").Add(float64(ar.Stored))
	p.metrics.events.WithLabelValues("duplicate").Add(float64(ar.Duplicates))
	return res, nil
}

// Receipt confirms a consent change and the deletions it caused.
type Receipt = herd.ConsentReceipt

// SetConsent stores a device's new consent record. For every category the
// previous record allowed and the new one does not, everything stored of
// that category for the device (under every kept pseudonym key) is erased,
// then counted again to verify.
func (p *Pipeline) SetConsent(ctx context.Context, device string, rec consent.Record) (Receipt, error) {
	var r Receipt
	if err := ValidDevice(device); err != nil {
		return r, err
	}
	if err := rec.Validate(); err != nil {
		return r, err
	}
	prev, hadPrev, err := p.latestConsent(ctx, device)
	if err != nil {
		return r, err
	}
	raw, err := json.Marshal(rec)
	if err != nil {
		return r, err
	}
	// Store the new record first: from now on events of withdrawn categories
	// are rejected, so nothing new arrives while the old is erased.
	if err := p.Consents.SetConsent(ctx, p.Keys.Stable(purposeConsent, device), raw); err != nil {
		return r, err
	}
	if hadPrev {
		r.Withdrawn = prev.Withdrawn(rec)
	}
	sort.Slice(r.Withdrawn, func(i, j int) bool { return r.Withdrawn[i] < r.Withdrawn[j] })
	pseudonyms := p.Keys.All(device)
	for _, c := range r.Withdrawn {
		deleted, remaining, err := p.Sink.Delete(ctx, c, pseudonyms)
		if err != nil {
			return r, fmt.Errorf("delete %s data: %w", c, err)
		}
		if r.Deleted == nil {
			r.Deleted = map[herd.Category]uint64{}
		}
		r.Deleted[c] = deleted
		r.Remaining += remaining
		p.metrics.deleted.WithLabelValues(string(c)).Add(float64(deleted))
	}
	r.Verified = r.Remaining == 0
	return r, nil
}

func clip(s string) string {
	if len(s) <= 64 {
		return s
	}
	return s[:61] + "..."
}
