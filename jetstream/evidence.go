package jetstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// Buckets of the reputation engine.
const (
	// EvidenceBucket holds what the fleet reported about each object.
	EvidenceBucket = "herd_evidence"
	// HistoryBucket holds each object's verdict decisions with reasons.
	HistoryBucket = "herd_verdict_history"
	// LicenceBucket maps device pseudonyms to licence pseudonyms, learnt
	// from license.info events; entries expire with the pseudonym keys.
	LicenceBucket = "herd_device_licences"
)

// casAttempts bounds the retries of a compare-and-set update that keeps
// losing to other replicas.
const casAttempts = 32

// EvidenceStore keeps evidence in a key-value bucket, updated with
// compare-and-set so that replicas aggregating at once lose nothing.
type EvidenceStore struct {
	kv    natsjs.KeyValue
	js    natsjs.JetStream
	byDev natsjs.KeyValue // device pseudonym + object → the object: where each device counts
}

var _ herd.EvidenceStore = (*EvidenceStore)(nil)

// HistoryStore keeps verdict histories in a key-value bucket.
type HistoryStore struct {
	kv natsjs.KeyValue
}

var _ herd.VerdictHistory = (*HistoryStore)(nil)

// LicenceStore remembers which licence a device pseudonym belongs to.
type LicenceStore struct {
	kv natsjs.KeyValue
	js natsjs.JetStream
}

func openReputation(ctx context.Context, js natsjs.JetStream, cfg Config) (*EvidenceStore, *HistoryStore, *LicenceStore, error) {
	open := func(name, desc string, ttl time.Duration) (natsjs.KeyValue, error) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket:      name,
			Description: desc,
			History:     1,
			TTL:         ttl,
			Storage:     natsjs.FileStorage,
			Replicas:    cfg.Replicas,
		})
		if err != nil {
			return nil, fmt.Errorf("%s bucket: %w", name, err)
		}
		return kv, nil
	}
	ev, err := open(EvidenceBucket, "what the fleet reported about each object", cfg.TelemetryMaxAge)
	if err != nil {
		return nil, nil, nil, err
	}
	hist, err := open(HistoryBucket, "verdict decisions per object, with reasons", 0)
	if err != nil {
		return nil, nil, nil, err
	}
	lic, err := erasableBucket(ctx, js, LicenceBucket, "licence pseudonym per device pseudonym", 1, cfg.TelemetryMaxAge, cfg.Replicas)
	if err != nil {
		return nil, nil, nil, err
	}
	byDev, err := erasableBucket(ctx, js, EvidenceDevicesBucket, "the objects each device pseudonym counts in", 1, cfg.TelemetryMaxAge, cfg.Replicas)
	if err != nil {
		return nil, nil, nil, err
	}
	return &EvidenceStore{kv: ev, js: js, byDev: byDev}, &HistoryStore{kv: hist}, &LicenceStore{kv: lic, js: js}, nil
}

// UpdateEvidence applies fn to obj's evidence and stores it if fn changed it.
func (s *EvidenceStore) UpdateEvidence(ctx context.Context, obj herd.Object, fn func(*herd.Evidence) bool) (herd.Evidence, bool, error) {
	var ev herd.Evidence
	changed, err := update(ctx, s.kv, key(obj), func(raw []byte) ([]byte, bool, error) {
		ev = herd.Evidence{Object: obj}
		if raw != nil {
			if err := json.Unmarshal(raw, &ev); err != nil {
				return nil, false, fmt.Errorf("decode evidence of %s: %w", obj, err)
			}
		}
		if !fn(&ev) {
			return nil, false, nil
		}
		b, err := json.Marshal(ev)
		return b, true, err
	})
	return ev, changed, err
}

// Evidence returns obj's evidence, or ENOTFOUND.
func (s *EvidenceStore) Evidence(ctx context.Context, obj herd.Object) (herd.Evidence, error) {
	var ev herd.Evidence
	raw, _, err := get(ctx, s.kv, key(obj))
	if err != nil {
		return ev, err
	}
	if raw == nil {
		return ev, herd.Errorf(herd.ENOTFOUND, "no evidence for %s", obj)
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, fmt.Errorf("decode evidence of %s: %w", obj, err)
	}
	return ev, nil
}

// AppendHistory adds e to obj's history, dropping the oldest entries
// beyond herd.MaxHistory.
func (s *HistoryStore) AppendHistory(ctx context.Context, obj herd.Object, e herd.HistoryEntry) error {
	_, err := update(ctx, s.kv, key(obj), func(raw []byte) ([]byte, bool, error) {
		var h []herd.HistoryEntry
		if raw != nil {
			if err := json.Unmarshal(raw, &h); err != nil {
				return nil, false, fmt.Errorf("decode history of %s: %w", obj, err)
			}
		}
		h = append(h, e)
		if len(h) > herd.MaxHistory {
			h = h[len(h)-herd.MaxHistory:]
		}
		b, err := json.Marshal(h)
		return b, true, err
	})
	return err
}

// History returns obj's history, oldest first.
func (s *HistoryStore) History(ctx context.Context, obj herd.Object) ([]herd.HistoryEntry, error) {
	raw, _, err := get(ctx, s.kv, key(obj))
	if err != nil || raw == nil {
		return nil, err
	}
	var h []herd.HistoryEntry
	if err := json.Unmarshal(raw, &h); err != nil {
		return nil, fmt.Errorf("decode history of %s: %w", obj, err)
	}
	return h, nil
}

// SetLicence records that device belongs to licence.
func (s *LicenceStore) SetLicence(ctx context.Context, device, licence string) error {
	if !subjectToken(device) {
		return herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", device)
	}
	if raw, _, err := get(ctx, s.kv, device); err != nil || string(raw) == licence {
		return err
	}
	if _, err := s.kv.Put(ctx, device, []byte(licence)); err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: "licence store unavailable: " + err.Error()}
	}
	return nil
}

// Licence returns the licence of device, or "" when it is not known.
func (s *LicenceStore) Licence(ctx context.Context, device string) (string, error) {
	if !subjectToken(device) {
		return "", herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", device)
	}
	raw, _, err := get(ctx, s.kv, device)
	return string(raw), err
}

// PutRule stores r, a verdict reached by the rules, unless the object's
// stored verdict comes from another source (an operator, an import, a
// built-in) or already says the same. It reports whether it stored r and
// returns the record that is current afterwards.
func (s *VerdictStore) PutRule(ctx context.Context, r herd.Record) (bool, herd.Record, error) {
	if err := r.Validate(); err != nil {
		return false, herd.Record{}, err
	}
	r.Source = herd.SourceRules
	current := r
	stored, err := update(ctx, s.kv, key(r.Object), func(raw []byte) ([]byte, bool, error) {
		if raw != nil {
			var cur herd.Record
			if err := json.Unmarshal(raw, &cur); err != nil {
				return nil, false, fmt.Errorf("decode verdict %s: %w", r.Object, err)
			}
			if cur.Source != herd.SourceRules || cur.Verdict == r.Verdict && cur.Threat == r.Threat {
				current = cur
				return nil, false, nil
			}
		}
		current = r
		b, err := json.Marshal(r)
		return b, true, err
	})
	return stored, current, err
}

// get returns the value and revision of key, or nil when there is none.
func get(ctx context.Context, kv natsjs.KeyValue, k string) ([]byte, uint64, error) {
	e, err := kv.Get(ctx, k)
	if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: "bucket " + kv.Bucket() + " unavailable: " + err.Error()}
	}
	return e.Value(), e.Revision(), nil
}

// update reads key, lets fn compute the new value (nil raw: none yet) and
// writes it only if the key has not changed meanwhile, else tries again.
//
// It first tries to create the key outright, which is one round trip
// instead of two for the many keys written once (an object one device
// reported); if the key exists it reads and updates as usual.
func update(ctx context.Context, kv natsjs.KeyValue, k string, fn func(raw []byte) ([]byte, bool, error)) (bool, error) {
	next, write, err := fn(nil)
	if err != nil || !write {
		// Nothing to write for a new key: the key may still exist.
		next = nil
	}
	if next != nil {
		_, err := kv.Create(ctx, k, next)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, natsjs.ErrKeyExists) {
			return false, &herd.Error{Code: herd.EUNAVAILABLE, Message: "bucket " + kv.Bucket() + " unavailable: " + err.Error()}
		}
	}
	for range casAttempts {
		raw, rev, err := get(ctx, kv, k)
		if err != nil {
			return false, err
		}
		next, write, err := fn(raw)
		if err != nil || !write {
			return false, err
		}
		if rev == 0 {
			_, err = kv.Create(ctx, k, next)
		} else {
			_, err = kv.Update(ctx, k, next, rev)
		}
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, natsjs.ErrKeyExists) {
			return false, &herd.Error{Code: herd.EUNAVAILABLE, Message: "bucket " + kv.Bucket() + " unavailable: " + err.Error()}
		}
	}
	return false, &herd.Error{Code: herd.ECONFLICT, Message: "bucket " + kv.Bucket() + ": key " + k + " kept changing"}
}

// EvidenceDevicesBucket remembers, per device pseudonym, the objects whose
// evidence counts it: what must change when its data is erased.
const EvidenceDevicesBucket = "herd_evidence_devices"

func deviceObjectKey(device string, obj herd.Object) string {
	sum := sha256.Sum256([]byte(key(obj)))
	return device + "." + hex.EncodeToString(sum[:16])
}

// Remember records that device counts in obj's evidence.
func (s *EvidenceStore) Remember(ctx context.Context, device string, obj herd.Object) error {
	if !subjectToken(device) {
		return herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", device)
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	if _, err := s.byDev.Put(ctx, deviceObjectKey(device, obj), b); err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: "evidence store unavailable: " + err.Error()}
	}
	return nil
}

// Objects returns the objects whose evidence counts any of the devices.
func (s *EvidenceStore) Objects(ctx context.Context, devices []string) ([]herd.Object, error) {
	var out []herd.Object
	for _, d := range devices {
		if !subjectToken(d) {
			return nil, herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", d)
		}
		lister, err := s.byDev.ListKeysFiltered(ctx, d+".>")
		if err != nil {
			return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "evidence store unavailable: " + err.Error()}
		}
		for k := range lister.Keys() {
			raw, _, err := get(ctx, s.byDev, k)
			if err != nil {
				return nil, err
			}
			var obj herd.Object
			if raw == nil || json.Unmarshal(raw, &obj) != nil {
				continue
			}
			out = append(out, obj)
		}
	}
	return out, nil
}

// Forget removes the devices from every object's evidence they count in,
// and erases what remembered it. It returns how many objects changed.
func (s *EvidenceStore) Forget(ctx context.Context, devices []string) (int, error) {
	n := 0
	for _, d := range devices {
		objs, err := s.Objects(ctx, []string{d})
		if err != nil {
			return n, err
		}
		for _, obj := range objs {
			_, changed, err := s.UpdateEvidence(ctx, obj, func(e *herd.Evidence) bool { return e.RemoveDevice(d) })
			if err != nil {
				return n, err
			}
			if changed {
				n++
			}
			if _, err := eraseKey(ctx, s.js, s.byDev, EvidenceDevicesBucket, deviceObjectKey(d, obj)); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}
