package ingest

import (
	"context"

	"github.com/herdsec/herd"
)

// ConsentAllows returns nil if the device's latest stored consent record
// allows category c, and ECONSENT otherwise (no record, or the category
// off). Data that does not travel as telemetry events, such as a
// suspicious file's bytes, is checked here against the same record.
func (p *Pipeline) ConsentAllows(ctx context.Context, device string, c herd.Category) error {
	if err := ValidDevice(device); err != nil {
		return err
	}
	rec, ok, err := p.latestConsent(ctx, device)
	if err != nil {
		return err
	}
	if !ok {
		return herd.Errorf(herd.ECONSENT, "no consent record for this device: send one first")
	}
	if !rec.Allows(c) {
		return herd.Errorf(herd.ECONSENT, "category %s: not consented", c)
	}
	return nil
}

// purposeSample is the purpose of the stable device pseudonyms a sample's
// index lists: stable, so that erasure finds them whenever the device
// offered a file.
const purposeSample = "sample"

// SamplePseudonym is the keyed pseudonym under which the cloud counts the
// device among those that offered a suspicious file.
func (p *Pipeline) SamplePseudonym(device string) string {
	return p.Keys.Stable(purposeSample, device)
}
