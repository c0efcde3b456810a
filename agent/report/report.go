// Package report is the agent's side of telemetry: it builds events from
// the data inventory, scrubs them, asks consent, queues them in the durable
// outbox, and sends them, keeping the exact bytes of each batch sent.
package report

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/state"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/inventory"
)

// Settings keys in the agent state.
const (
	keyConsent       = "consent"
	KeyConsentSynced = "consent_synced" // the record the cloud last confirmed
)

// BatchSize is how many events one telemetry request carries.
const BatchSize = 100

// KeepSent is how many sent batches the agent keeps for `herd privacy last`.
const KeepSent = 20

// Cloud is what the reporter needs of the cloud (httpapi.Client).
type Cloud interface {
	SendTelemetryBody(ctx context.Context, body []byte) (herd.IngestResult, error)
	SetConsentRecord(ctx context.Context, device string, rec consent.Record) (herd.ConsentReceipt, error)
}

// Reporter queues and sends the agent's telemetry.
type Reporter struct {
	State    *state.Store
	Scrubber inventory.Scrubber
	Now      func() time.Time
	// MaxBatches, if > 0, makes Flush return after that many batches
	// (FlushResult.More says whether events remain), so that a daemon can
	// release the state between batches.
	MaxBatches int
}

func (r *Reporter) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Consent returns the stored consent record; without one, nothing is allowed.
func (r *Reporter) Consent() (consent.Record, bool, error) {
	b, err := r.State.Get(keyConsent)
	if err != nil || b == nil {
		return consent.Record{}, false, err
	}
	var rec consent.Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return consent.Record{}, false, fmt.Errorf("stored consent: %w", err)
	}
	return rec, true, nil
}

// SetConsent stores a new consent record and purges from the outbox every
// queued event of a category it does not allow, so that nothing of it
// leaves the device later. It returns how many events were purged.
func (r *Reporter) SetConsent(rec consent.Record) (int, error) {
	if err := rec.Validate(); err != nil {
		return 0, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if err := r.State.Put(keyConsent, b); err != nil {
		return 0, err
	}
	return r.State.Purge(rec.Allows)
}

// Report builds one event of the given inventory type from fields, scrubs
// it and queues it, if consent allows its category. It returns whether the
// event was queued. Fields the inventory does not declare are dropped and
// listed; a declared field with a bad value is an error.
func (r *Reporter) Report(typ string, fields map[string]any) (queued bool, dropped []string, err error) {
	et, ok := inventory.Get(typ)
	if !ok {
		return false, nil, herd.Errorf(herd.EINVALID, "event type %q: not in the data inventory", typ)
	}
	if et.Destination != "telemetry" {
		return false, nil, herd.Errorf(herd.EINVALID, "event type %s: not telemetry", typ)
	}
	rec, _, err := r.Consent()
	if err != nil {
		return false, nil, err
	}
	if !rec.Allows(et.Category) {
		return false, nil, nil // a category that is off never enters the outbox
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return false, nil, herd.Errorf(herd.EINVALID, "event %s: %v", typ, err)
	}
	clean, err := et.Clean(raw, r.Scrubber)
	if err != nil {
		return false, nil, fmt.Errorf("event %s: %w", typ, err)
	}
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return false, nil, err
	}
	ev := herd.Event{ID: hex.EncodeToString(id), Type: et.Name, Category: et.Category, Time: r.now().UTC(), Payload: clean.Payload}
	if _, err := r.State.Enqueue([]herd.Event{ev}); err != nil {
		return false, clean.Dropped, err
	}
	return true, clean.Dropped, nil
}

// FlushResult totals a flush.
type FlushResult struct {
	Sent       int // events the cloud stored or already had
	Rejected   int // events the cloud refused (they are not re-sent)
	Purged     int // events dropped before sending because consent no longer allows them
	Batches    int
	ConsentOut bool // the consent record was sent first
	// Receipt is the cloud's answer to the consent record, when it was sent:
	// what it erased of withdrawn categories and whether it verified that.
	Receipt herd.ConsentReceipt
	// More: Flush stopped at MaxBatches; events may remain.
	More bool
}

// Flush sends the outbox to the cloud in batches, consent record first.
// Each batch is logged byte for byte before it is sent; events leave the
// outbox only once the cloud answered for them.
func (r *Reporter) Flush(ctx context.Context, cloud Cloud, cloudURL string) (FlushResult, error) {
	var res FlushResult
	rec, have, err := r.Consent()
	if err != nil {
		return res, err
	}
	// Defense in depth: nothing the current record does not allow leaves.
	if res.Purged, err = r.State.Purge(rec.Allows); err != nil {
		return res, err
	}
	device, err := r.State.DeviceID()
	if err != nil {
		return res, err
	}
	if have {
		if res.ConsentOut, res.Receipt, err = r.syncConsent(ctx, cloud, device, rec); err != nil {
			return res, err
		}
	}
	if !rec.Telemetry() {
		return res, nil
	}
	for {
		if r.MaxBatches > 0 && res.Batches >= r.MaxBatches {
			res.More = true
			return res, nil
		}
		pending, err := r.nextBatch()
		if err != nil || len(pending) == 0 {
			return res, err
		}
		events := make([]herd.Event, len(pending))
		seqs := make([]uint64, len(pending))
		for i, q := range pending {
			events[i], seqs[i] = q.Event, q.Seq
		}
		body, err := json.Marshal(struct {
			Device string       `json:"device"`
			Events []herd.Event `json:"events"`
		}{device, events})
		if err != nil {
			return res, err
		}
		if err := r.State.RecordSent(state.Sent{Time: r.now().UTC(), Cloud: cloudURL, Body: body}, KeepSent); err != nil {
			return res, err
		}
		ir, err := cloud.SendTelemetryBody(ctx, body)
		if err != nil {
			return res, err // the events stay queued; re-sending them later is safe (de-duplicated by id)
		}
		if err := r.State.Remove(seqs); err != nil {
			return res, err
		}
		if err := r.State.Put(keyInflight, []byte{}); err != nil {
			return res, err
		}
		res.Batches++
		res.Sent += ir.Stored + ir.Duplicates
		res.Rejected += len(ir.Rejected)
	}
}

// keyInflight holds the last sequence number of the batch being sent, until
// the cloud has answered for it.
const keyInflight = "telemetry.inflight"

// nextBatch returns the next events to send. A batch whose answer was lost
// is sent again exactly as it was (less what consent purged meanwhile), not
// topped up with newer events: the cloud then recognises the whole re-send
// as one it stored, on whichever replica it lands.
func (r *Reporter) nextBatch() ([]state.Queued, error) {
	mark, err := r.State.Get(keyInflight)
	if err != nil {
		return nil, err
	}
	pending, err := r.State.Pending(BatchSize)
	if err != nil || len(pending) == 0 {
		return nil, err
	}
	if len(mark) == 8 {
		upto := binary.BigEndian.Uint64(mark)
		n := 0
		for n < len(pending) && pending[n].Seq <= upto {
			n++
		}
		if n > 0 {
			return pending[:n], nil
		}
	}
	mark = binary.BigEndian.AppendUint64(nil, pending[len(pending)-1].Seq)
	if err := r.State.Put(keyInflight, mark); err != nil {
		return nil, err
	}
	return pending, nil
}

// syncConsent sends the consent record unless the cloud already confirmed
// this very record. A record that allows no telemetry is still sent when
// the previous one did: it is what tells the cloud to erase the data.
func (r *Reporter) syncConsent(ctx context.Context, cloud Cloud, device string, rec consent.Record) (bool, herd.ConsentReceipt, error) {
	var receipt herd.ConsentReceipt
	b, err := json.Marshal(rec)
	if err != nil {
		return false, receipt, err
	}
	synced, err := r.State.Get(KeyConsentSynced)
	if err != nil {
		return false, receipt, err
	}
	if string(synced) == string(b) {
		return false, receipt, nil
	}
	if !rec.Telemetry() && synced == nil {
		return false, receipt, nil // nothing was ever shared: nothing to withdraw, nothing leaves
	}
	if receipt, err = cloud.SetConsentRecord(ctx, device, rec); err != nil {
		return false, receipt, fmt.Errorf("send consent record: %w", err)
	}
	return true, receipt, r.State.Put(KeyConsentSynced, b)
}
