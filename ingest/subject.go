package ingest

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/herdsec/herd"
)

// SubjectStores are what the telemetry side keeps of a device beyond its
// events' stream, for access and deletion requests (package jetstream).
type SubjectStores struct {
	Events interface {
		Events(ctx context.Context, pseudonyms []string) ([]herd.StoredEvent, error)
	}
	Consents interface {
		History(ctx context.Context, key string) ([]json.RawMessage, error)
		Erase(ctx context.Context, key string) (int, error)
	}
	Licences interface {
		Forget(ctx context.Context, pseudonyms []string) (int, error)
	}
	// Evidence is the reputation engine's per-object evidence, which
	// counts devices by pseudonym.
	Evidence interface {
		Objects(ctx context.Context, pseudonyms []string) ([]herd.Object, error)
		Forget(ctx context.Context, pseudonyms []string) (int, error)
	}
	// Samples keeps suspicious-file samples, counting the devices that
	// offered each by a stable pseudonym; nil: the cloud keeps none.
	Samples interface {
		Offered(ctx context.Context, pseudonym string) ([]string, error)
		Forget(ctx context.Context, pseudonym string) (int, error)
	}
}

// DeviceData is everything the telemetry side keeps of one device.
type DeviceData struct {
	Consent   []json.RawMessage  `json:"consent"`   // the consent records kept, oldest first
	Telemetry []herd.StoredEvent `json:"telemetry"` // the events stored under its pseudonyms
	Evidence  []herd.Object      `json:"evidence"`  // the objects whose fleet evidence counts it
	Samples   []string           `json:"samples"`   // SHA-256 of the suspicious files it offered that the cloud holds
}

// DeviceErasure reports what was erased of one device.
type DeviceErasure struct {
	Telemetry      map[herd.Category]uint64 `json:"telemetry"` // events erased per category
	Remaining      uint64                   `json:"remaining"` // events found after erasing: 0 when done
	ConsentRecords int                      `json:"consent_records"`
	LicenceLinks   int                      `json:"licence_links"` // device → licence entries of the reputation engine
	Evidence       int                      `json:"evidence"`      // objects whose evidence no longer counts it
	Samples        int                      `json:"samples"`       // suspicious-file samples no longer counting it (erased when it was the last)
}

// Export returns what the telemetry side keeps of device.
func (p *Pipeline) Export(ctx context.Context, s SubjectStores, device string) (DeviceData, error) {
	var d DeviceData
	if err := ValidDevice(device); err != nil {
		return d, err
	}
	var err error
	if d.Consent, err = s.Consents.History(ctx, p.Keys.Stable(purposeConsent, device)); err != nil {
		return d, err
	}
	if d.Telemetry, err = s.Events.Events(ctx, p.Keys.All(device)); err != nil {
		return d, err
	}
	if d.Evidence, err = s.Evidence.Objects(ctx, p.Keys.All(device)); err != nil {
		return d, err
	}
	if s.Samples != nil {
		if d.Samples, err = s.Samples.Offered(ctx, p.SamplePseudonym(device)); err != nil {
			return d, err
		}
	}
	if d.Samples == nil {
		d.Samples = []string{}
	}
	if d.Evidence == nil {
		d.Evidence = []herd.Object{}
	}
	if d.Consent == nil {
		d.Consent = []json.RawMessage{}
	}
	if d.Telemetry == nil {
		d.Telemetry = []herd.StoredEvent{}
	}
	return d, nil
}

// Erase securely erases everything the telemetry side keeps of device:
// its events of every category under every kept pseudonym, its consent
// records, the reputation engine's link of its pseudonyms to a licence,
// and its place among the devices that offered each sample (a sample it
// alone offered is erased). It counts what is left, to confirm.
func (p *Pipeline) Erase(ctx context.Context, s SubjectStores, device string) (DeviceErasure, error) {
	var e DeviceErasure
	if err := ValidDevice(device); err != nil {
		return e, err
	}
	pseudonyms := p.Keys.All(device)
	// The consent records go first: from then on the device's telemetry is
	// refused (no consent), so nothing arrives while the rest is erased.
	var err error
	if e.ConsentRecords, err = s.Consents.Erase(ctx, p.Keys.Stable(purposeConsent, device)); err != nil {
		return e, err
	}
	e.Telemetry = map[herd.Category]uint64{}
	for _, c := range herd.Categories {
		deleted, remaining, err := p.Sink.Delete(ctx, c, pseudonyms)
		if err != nil {
			return e, fmt.Errorf("erase %s data: %w", c, err)
		}
		e.Telemetry[c] = deleted
		e.Remaining += remaining
		p.metrics.deleted.WithLabelValues(string(c)).Add(float64(deleted))
	}
	if e.LicenceLinks, err = s.Licences.Forget(ctx, pseudonyms); err != nil {
		return e, err
	}
	if e.Evidence, err = s.Evidence.Forget(ctx, pseudonyms); err != nil {
		return e, err
	}
	if s.Samples != nil {
		if e.Samples, err = s.Samples.Forget(ctx, p.SamplePseudonym(device)); err != nil {
			return e, err
		}
	}
	return e, nil
}
