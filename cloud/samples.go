package cloud

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/ingest"
	"github.com/herdsec/herd/jetstream"
)

// samples keeps suspicious-file samples. Each sample's bytes are sealed
// once, under a content key of their own (Tink AES-256-GCM); the content
// key is kept wrapped under the data key of every licence whose devices
// offered the file. Erasing a person destroys their licence's data key, so
// their wrap can no longer be opened: a file only they offered is
// crypto-shredded with the rest of their records, and a file others
// offered too stays readable through the others' wraps. The index names
// devices only by a keyed pseudonym, never by id.
type samples struct {
	store    *jetstream.SampleStore
	ingest   *ingest.Pipeline
	identity *identity.Service
	now      func() time.Time
}

var _ httpapi.SampleService = (*samples)(nil)

// sampleAttempts bounds the compare-and-set retries of one change.
const sampleAttempts = 16

// licenceKey returns a licence's data key, unwrapped by the vault; ENOTFOUND
// once the licence was erased. The associated data is the identity
// service's binding of a wrapped key to its licence.
func (s *samples) licenceKey(ctx context.Context, licence string) (tink.AEAD, error) {
	wrapped, _, err := s.identity.Stores.Keys.Get(ctx, licence)
	if err != nil {
		return nil, err
	}
	return s.identity.Vault.DataKey(wrapped, []byte("datakey/"+licence))
}

func contentKeyAD(sha, licence string) []byte { return []byte("sample-key/" + sha + "/" + licence) }
func sampleAD(sha string) []byte              { return []byte("sample/" + sha) }

// wrap returns the content key h wrapped under licence's data key.
func (s *samples) wrap(ctx context.Context, h *keyset.Handle, sha, licence string) ([]byte, error) {
	lk, err := s.licenceKey(ctx, licence)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := h.WriteWithAssociatedData(keyset.NewBinaryWriter(&b), lk, contentKeyAD(sha, licence)); err != nil {
		return nil, fmt.Errorf("wrap sample key: %w", err)
	}
	return b.Bytes(), nil
}

// contentKey opens the content key through the first licence whose data
// key still exists; ENOTFOUND if none does.
func (s *samples) contentKey(ctx context.Context, rec jetstream.SampleRecord) (*keyset.Handle, error) {
	for _, licence := range slices.Sorted(mapKeys(rec.Keys)) {
		lk, err := s.licenceKey(ctx, licence)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			continue // erased: crypto-shredded
		}
		if err != nil {
			return nil, err
		}
		h, err := keyset.ReadWithAssociatedData(keyset.NewBinaryReader(bytes.NewReader(rec.Keys[licence])), lk, contentKeyAD(rec.SHA256, licence))
		if err != nil {
			return nil, fmt.Errorf("sample %s: content key of licence %s cannot be opened: %w", rec.SHA256, licence, err)
		}
		return h, nil
	}
	return nil, herd.Errorf(herd.ENOTFOUND, "sample %s: no longer readable: every licence that offered it was erased", rec.SHA256)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// seal makes a new content key, wraps it for licence and seals body under
// it into a new object; it returns the object's name and the wrap.
func (s *samples) seal(ctx context.Context, sha, licence string, body []byte) (string, []byte, error) {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return "", nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return "", nil, err
	}
	wrapped, err := s.wrap(ctx, h, sha, licence)
	if err != nil {
		return "", nil, err
	}
	sealed, err := a.Encrypt(body, sampleAD(sha))
	if err != nil {
		return "", nil, fmt.Errorf("seal sample: %w", err)
	}
	suffix := make([]byte, 8)
	_, _ = rand.Read(suffix)
	name := sha + "-" + hex.EncodeToString(suffix)
	if err := s.store.PutSealed(ctx, name, sealed); err != nil {
		return "", nil, err
	}
	return name, wrapped, nil
}

func (s *samples) Offer(ctx context.Context, device string, o httpapi.SampleOffer, body io.Reader) (httpapi.SampleReceipt, error) {
	var r httpapi.SampleReceipt
	if err := s.ingest.ConsentAllows(ctx, device, herd.CategorySuspicious); err != nil {
		return r, err
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return r, fmt.Errorf("read sample: %w", err)
	}
	if len(b) == 0 {
		return r, herd.Errorf(herd.EINVALID, "sample: empty body")
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != o.SHA256 {
		return r, herd.Errorf(herd.EINVALID, "sample: the body's SHA-256 is %s, not %s as header %s says (changed or cut short on the way?)", got, o.SHA256, httpapi.HeaderSampleSHA256)
	}
	d, _, err := s.identity.Device(ctx, device)
	if err != nil {
		return r, err
	}
	pseudo := s.ingest.SamplePseudonym(device)
	for range sampleAttempts {
		rec, rev, err := s.store.Record(ctx, o.SHA256)
		switch herd.ErrorCode(err) {
		case herd.ENOTFOUND:
			rec = jetstream.SampleRecord{SHA256: o.SHA256, FileType: o.FileType, Size: int64(len(b)),
				FirstSeen: s.now().UTC().Truncate(time.Hour), Status: jetstream.SampleQueued}
		case "":
		default:
			return r, err
		}
		changed := false
		if !slices.Contains(rec.Devices, pseudo) {
			// Past MaxSampleDevices a device is counted each time it
			// offers the file, as it cannot be told apart any more.
			if len(rec.Devices) < jetstream.MaxSampleDevices {
				rec.Devices = append(rec.Devices, pseudo)
			}
			rec.DeviceCount++
			changed = true
		}
		stored, old := false, ""
		if _, ok := rec.Keys[d.Licence]; !ok {
			h, err := s.contentKey(ctx, rec)
			switch {
			case herd.ErrorCode(err) == herd.ENOTFOUND:
				// New, or no wrap can be opened any more: seal the bytes
				// afresh for this licence alone (wraps that cannot be
				// opened are dropped).
				name, wrapped, err := s.seal(ctx, o.SHA256, d.Licence, b)
				if err != nil {
					return r, err
				}
				old, rec.Object, rec.Keys, stored, changed = rec.Object, name, map[string][]byte{d.Licence: wrapped}, true, true
			case err != nil:
				return r, err
			case len(rec.Keys) < jetstream.MaxSampleLicences:
				wrapped, err := s.wrap(ctx, h, o.SHA256, d.Licence)
				if err != nil {
					return r, err
				}
				rec.Keys[d.Licence], changed = wrapped, true
			default:
				// The file stays readable through the wraps held; this
				// licence gets none, so its erasure has nothing here to
				// shred.
			}
		}
		r = httpapi.SampleReceipt{SHA256: rec.SHA256, Stored: stored, Devices: rec.DeviceCount, Status: rec.Status}
		if !changed {
			return r, nil
		}
		if _, err := s.store.Update(ctx, rec, rev); err != nil {
			if stored {
				_ = s.store.DeleteSealed(ctx, rec.Object) // not indexed: this sealing is not used
			}
			if herd.ErrorCode(err) == herd.ECONFLICT {
				continue // changed meanwhile: read it again
			}
			return r, err
		}
		if old != "" {
			if err := s.store.DeleteSealed(ctx, old); err != nil {
				return r, err
			}
		}
		return r, nil
	}
	return r, herd.Errorf(herd.EUNAVAILABLE, "sample %s: changed concurrently %d times; offer it again", o.SHA256, sampleAttempts)
}

func sampleInfo(rec jetstream.SampleRecord) httpapi.SampleInfo {
	return httpapi.SampleInfo{SHA256: rec.SHA256, FileType: rec.FileType, Size: rec.Size, FirstSeen: rec.FirstSeen,
		Devices: rec.DeviceCount, Status: rec.Status, Verdict: rec.Verdict, Threat: rec.Threat, Reviewer: rec.Reviewer, Reviewed: rec.Reviewed}
}

func (s *samples) Samples(ctx context.Context) ([]httpapi.SampleInfo, error) {
	recs, err := s.store.Records(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]httpapi.SampleInfo, len(recs))
	for i, rec := range recs {
		out[i] = sampleInfo(rec)
	}
	return out, nil
}

func (s *samples) Sample(ctx context.Context, sha string) (httpapi.SampleInfo, error) {
	rec, _, err := s.store.Record(ctx, sha)
	return sampleInfo(rec), err
}

func (s *samples) Open(ctx context.Context, sha string) (httpapi.SampleInfo, []byte, error) {
	rec, _, err := s.store.Record(ctx, sha)
	if err != nil {
		return httpapi.SampleInfo{}, nil, err
	}
	h, err := s.contentKey(ctx, rec)
	if err != nil {
		return httpapi.SampleInfo{}, nil, err
	}
	a, err := aead.New(h)
	if err != nil {
		return httpapi.SampleInfo{}, nil, err
	}
	sealed, err := s.store.Sealed(ctx, rec.Object)
	if err != nil {
		return httpapi.SampleInfo{}, nil, err
	}
	b, err := a.Decrypt(sealed, sampleAD(sha))
	if err != nil {
		return httpapi.SampleInfo{}, nil, fmt.Errorf("sample %s: cannot be opened: %w", sha, err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != sha {
		return httpapi.SampleInfo{}, nil, fmt.Errorf("sample %s: opened bytes do not match the hash", sha)
	}
	return sampleInfo(rec), b, nil
}

func (s *samples) Review(ctx context.Context, sha string, v herd.Verdict, threat, reviewer string) (httpapi.SampleInfo, error) {
	for range sampleAttempts {
		rec, rev, err := s.store.Record(ctx, sha)
		if err != nil {
			return httpapi.SampleInfo{}, err
		}
		rec.Status, rec.Verdict, rec.Threat, rec.Reviewer, rec.Reviewed = jetstream.SampleReviewed, v, threat, reviewer, s.now().UTC()
		if _, err := s.store.Update(ctx, rec, rev); herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		} else if err != nil {
			return httpapi.SampleInfo{}, err
		}
		return sampleInfo(rec), nil
	}
	return httpapi.SampleInfo{}, herd.Errorf(herd.EUNAVAILABLE, "sample %s: changed concurrently %d times; try again", sha, sampleAttempts)
}

// openSamples opens the sample store and gives the API its sample service.
func (c *Cloud) openSamples(ctx context.Context, o Options, api *httpapi.Server) error {
	st, err := c.DB.Samples(ctx)
	if err != nil {
		return err
	}
	c.Samples = st
	api.Samples = &samples{store: st, ingest: c.Ingest, identity: c.Identity, now: time.Now}
	api.MaxSampleBytes = o.SampleMaxBytes
	return nil
}
