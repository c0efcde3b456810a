package jetstream

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// Suspicious-file samples: the sealed bytes in an object store, and an
// index of what is known about each sample in a key-value bucket keyed by
// the file's SHA-256 in hex. The cloud has no notion of region
// yet, so there is one bucket of each.
const (
	SampleBucket      = "herd_samples"
	SampleIndexBucket = "herd_samples_index"
)

// Sample statuses.
const (
	SampleQueued   = "queued"
	SampleReviewed = "reviewed"
)

// SampleRecord is the index entry of one sample. It never holds a device
// id: devices are listed by keyed pseudonym, and the content key is held
// wrapped once per licence that offered the file, under that licence's
// data key, so that erasing the licence's key makes its wrap unreadable.
type SampleRecord struct {
	SHA256 string `json:"sha256"`
	// Object names the object that holds the sealed bytes.
	Object    string    `json:"object"`
	FileType  string    `json:"file_type"`
	Size      int64     `json:"size"`       // bytes of the file itself (not of the sealed object)
	FirstSeen time.Time `json:"first_seen"` // the hour it was first offered
	// Devices holds the keyed pseudonyms of the devices that offered it,
	// up to MaxSampleDevices; DeviceCount counts every one.
	Devices     []string `json:"devices"`
	DeviceCount int      `json:"device_count"`
	// Keys maps a licence to the sample's content key wrapped under that
	// licence's data key.
	Keys     map[string][]byte `json:"keys"`
	Status   string            `json:"status"`
	Verdict  herd.Verdict      `json:"verdict,omitempty"`
	Threat   string            `json:"threat,omitempty"`
	Reviewer string            `json:"reviewer,omitempty"`
	Reviewed time.Time         `json:"reviewed,omitzero"`
}

// MaxSampleDevices and MaxSampleLicences bound the device pseudonyms and
// the wrapped keys one index entry holds, so that an entry stays well under
// JetStream's message size.
const (
	MaxSampleDevices  = 4096
	MaxSampleLicences = 1024
)

// SampleStore keeps sealed samples and their index.
type SampleStore struct {
	obs natsjs.ObjectStore
	kv  natsjs.KeyValue
	js  natsjs.JetStream
}

// Samples opens (creating if needed) the sample object store and its index.
func (db *DB) Samples(ctx context.Context) (*SampleStore, error) {
	obs, err := db.js.CreateOrUpdateObjectStore(ctx, natsjs.ObjectStoreConfig{
		Bucket:      SampleBucket,
		Description: "suspicious-file samples, sealed, by SHA-256",
		Storage:     natsjs.FileStorage,
		Replicas:    db.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("sample bucket: %w", err)
	}
	kv, err := erasableBucket(ctx, db.js, SampleIndexBucket, "what is known of each sample (no device ids)", 1, 0, db.cfg.Replicas)
	if err != nil {
		return nil, err
	}
	return &SampleStore{obs: obs, kv: kv, js: db.js}, nil
}

func sampleUnavailable(err error) error {
	return &herd.Error{Code: herd.EUNAVAILABLE, Message: "sample store unavailable: " + err.Error()}
}

// validSampleKey: 64 lowercase hex digits.
func validSampleKey(sha string) error {
	if len(sha) != 64 || validHex(sha) != nil {
		return herd.Errorf(herd.EINVALID, "sha256 %q: want 64 lowercase hex digits", clipKey(sha))
	}
	return nil
}

func validHex(s string) error {
	b, err := hex.DecodeString(s)
	if err != nil || hex.EncodeToString(b) != s {
		return errors.New("not lowercase hex")
	}
	return nil
}

func clipKey(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}

// Record returns the index entry of a sample and its revision, or ENOTFOUND.
func (s *SampleStore) Record(ctx context.Context, sha string) (SampleRecord, uint64, error) {
	if err := validSampleKey(sha); err != nil {
		return SampleRecord{}, 0, err
	}
	e, err := s.kv.Get(ctx, sha)
	if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) {
		return SampleRecord{}, 0, herd.Errorf(herd.ENOTFOUND, "sample %s: not held", sha)
	}
	if err != nil {
		return SampleRecord{}, 0, sampleUnavailable(err)
	}
	var rec SampleRecord
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return SampleRecord{}, 0, fmt.Errorf("sample %s: stored index entry: %w", sha, err)
	}
	return rec, e.Revision(), nil
}

// PutSealed stores a sample's sealed bytes as object name (the sample's
// hash, a dash and a random suffix: each sealing of a sample gets its own
// object, so that a sealing that loses a race never overwrites one in use).
func (s *SampleStore) PutSealed(ctx context.Context, name string, sealed []byte) error {
	if err := validObjectName(name); err != nil {
		return err
	}
	if _, err := s.obs.PutBytes(ctx, name, sealed); err != nil {
		return sampleUnavailable(err)
	}
	return nil
}

// DeleteSealed removes the object name; a missing one is not an error.
func (s *SampleStore) DeleteSealed(ctx context.Context, name string) error {
	if err := validObjectName(name); err != nil {
		return err
	}
	if err := s.obs.Delete(ctx, name); err != nil && !errors.Is(err, natsjs.ErrObjectNotFound) {
		return sampleUnavailable(err)
	}
	return nil
}

func validObjectName(name string) error {
	sha, suffix, ok := strings.Cut(name, "-")
	if !ok || validSampleKey(sha) != nil || len(suffix) != 16 || validHex(suffix) != nil {
		return herd.Errorf(herd.EINVALID, "sample object %q: want SHA256-SUFFIX (16 hex digits)", clipKey(name))
	}
	return nil
}

// Update writes a sample's index entry alone: created when rev is 0, else
// updated if still at revision rev (ECONFLICT otherwise).
func (s *SampleStore) Update(ctx context.Context, rec SampleRecord, rev uint64) (uint64, error) {
	if err := validSampleKey(rec.SHA256); err != nil {
		return 0, err
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	var n uint64
	if rev == 0 {
		n, err = s.kv.Create(ctx, rec.SHA256, b)
	} else {
		n, err = s.kv.Update(ctx, rec.SHA256, b, rev)
	}
	if errors.Is(err, natsjs.ErrKeyExists) {
		return 0, herd.Errorf(herd.ECONFLICT, "sample %s: changed meanwhile", rec.SHA256)
	}
	if err != nil {
		return 0, sampleUnavailable(err)
	}
	return n, nil
}

// Sealed returns the sealed bytes of object name, as stored.
func (s *SampleStore) Sealed(ctx context.Context, name string) ([]byte, error) {
	if err := validObjectName(name); err != nil {
		return nil, err
	}
	b, err := s.obs.GetBytes(ctx, name)
	if errors.Is(err, natsjs.ErrObjectNotFound) {
		return nil, herd.Errorf(herd.ENOTFOUND, "sample object %s: not held", name)
	}
	if err != nil {
		return nil, sampleUnavailable(err)
	}
	return b, nil
}

// Records returns the index entry of every sample, in no order.
func (s *SampleStore) Records(ctx context.Context) ([]SampleRecord, error) {
	lister, err := s.kv.ListKeys(ctx)
	if err != nil {
		return nil, sampleUnavailable(err)
	}
	var keys []string
	for k := range lister.Keys() { // closed when every key was read
		keys = append(keys, k)
	}
	out := make([]SampleRecord, 0, len(keys))
	for _, k := range keys {
		rec, _, err := s.Record(ctx, k)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, nil
}

// Delete erases a sample: its index entry (every stored revision
// overwritten) and its sealed bytes.
func (s *SampleStore) Delete(ctx context.Context, sha string) error {
	rec, _, err := s.Record(ctx, sha)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := eraseKey(ctx, s.js, s.kv, SampleIndexBucket, sha); err != nil {
		return err
	}
	return s.DeleteSealed(ctx, rec.Object)
}

// Offered returns the hashes of the samples whose index lists the device
// pseudonym, sorted.
func (s *SampleStore) Offered(ctx context.Context, pseudonym string) ([]string, error) {
	recs, err := s.Records(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, rec := range recs {
		if slices.Contains(rec.Devices, pseudonym) {
			out = append(out, rec.SHA256)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Forget removes the device pseudonym from every sample that lists it, and
// erases a sample no device is left to count (index entry and bytes). It
// returns how many samples listed the pseudonym.
func (s *SampleStore) Forget(ctx context.Context, pseudonym string) (int, error) {
	shas, err := s.Offered(ctx, pseudonym)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sha := range shas {
		if err := s.forget(ctx, sha, pseudonym); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *SampleStore) forget(ctx context.Context, sha, pseudonym string) error {
	for range 16 {
		rec, rev, err := s.Record(ctx, sha)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		i := slices.Index(rec.Devices, pseudonym)
		if i < 0 {
			return nil
		}
		rec.Devices = slices.Delete(rec.Devices, i, i+1)
		rec.DeviceCount = max(rec.DeviceCount-1, len(rec.Devices))
		if rec.DeviceCount == 0 {
			return s.Delete(ctx, sha)
		}
		// Rewritten in place, as the evidence is: the bucket keeps one
		// revision per key, so the one that listed the pseudonym goes.
		_, err = s.Update(ctx, rec, rev)
		if herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		}
		return err
	}
	return herd.Errorf(herd.EUNAVAILABLE, "sample %s: changed concurrently while a device was erased from it; erase again", sha)
}
