package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/transparency"
)

// TransparencyBucket holds the transparency register: one key per request
// (package transparency), moved by compare-and-set on the key's revision,
// so two replicas can never both move one request (both approve it, or
// one fulfil it while the other rejects it). The register holds no
// personal data; it is kept for the reports, without expiry.
const TransparencyBucket = "herd_transparency"

// TransparencyStore is the register of requests for user data.
type TransparencyStore struct {
	kv natsjs.KeyValue
}

// Transparency opens the register's bucket, creating it if needed.
func (db *DB) Transparency(ctx context.Context) (*TransparencyStore, error) {
	kv, err := db.js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
		Bucket: TransparencyBucket, Description: "the register of requests for user data and their legal review",
		History: 1, Storage: natsjs.FileStorage, Replicas: db.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("transparency bucket: %w", err)
	}
	return &TransparencyStore{kv: kv}, nil
}

var transparencyID = regexp.MustCompile(`^tr-[0-9a-f]{16}$`)

// ValidTransparencyID reports whether id has the form the register gives
// (tr- and 16 hex digits), so that no caller-made id reaches a key.
func ValidTransparencyID(id string) bool { return transparencyID.MatchString(id) }

func transparencyUnavailable(err error) error {
	return &herd.Error{Code: herd.EUNAVAILABLE, Message: "transparency register unavailable: " + err.Error()}
}

// Create stores a new request; ECONFLICT if its id is taken.
func (s *TransparencyStore) Create(ctx context.Context, r transparency.Request) error {
	if !ValidTransparencyID(r.ID) {
		return herd.Errorf(herd.EINVALID, "request id %q: want tr- and 16 hex digits", r.ID)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.kv.Create(ctx, r.ID, b)
	if errors.Is(err, natsjs.ErrKeyExists) || isWrongSequence(err) {
		return herd.Errorf(herd.ECONFLICT, "request %s exists already", r.ID)
	}
	if err != nil {
		return transparencyUnavailable(err)
	}
	return nil
}

// Get returns a request and its revision for Update; ENOTFOUND if none.
func (s *TransparencyStore) Get(ctx context.Context, id string) (transparency.Request, uint64, error) {
	if !ValidTransparencyID(id) {
		return transparency.Request{}, 0, herd.Errorf(herd.ENOTFOUND, "no request %q (ids are tr- and 16 hex digits)", id)
	}
	raw, rev, err := get(ctx, s.kv, id)
	if err != nil {
		return transparency.Request{}, 0, err
	}
	if raw == nil {
		return transparency.Request{}, 0, herd.Errorf(herd.ENOTFOUND, "no request %s", id)
	}
	var r transparency.Request
	if err := json.Unmarshal(raw, &r); err != nil {
		return transparency.Request{}, 0, fmt.Errorf("request %s: stored value: %w", id, err)
	}
	return r, rev, nil
}

// Update stores r over the revision rev it was read at (from Get);
// ECONFLICT when the request moved since.
func (s *TransparencyStore) Update(ctx context.Context, r transparency.Request, rev uint64) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	_, err = s.kv.Update(ctx, r.ID, b, rev)
	if isWrongSequence(err) || errors.Is(err, natsjs.ErrKeyExists) {
		return herd.Errorf(herd.ECONFLICT, "request %s was changed meanwhile by another operator; read it again", r.ID)
	}
	if err != nil {
		return transparencyUnavailable(err)
	}
	return nil
}

// List returns every request, oldest received first (ties by id).
func (s *TransparencyStore) List(ctx context.Context) ([]transparency.Request, error) {
	keys, err := s.kv.Keys(ctx)
	if errors.Is(err, natsjs.ErrNoKeysFound) {
		return []transparency.Request{}, nil
	}
	if err != nil {
		return nil, transparencyUnavailable(err)
	}
	out := make([]transparency.Request, 0, len(keys))
	for _, k := range keys {
		r, _, err := s.Get(ctx, k)
		if herd.ErrorCode(err) == herd.ENOTFOUND {
			continue // deleted between the listing and the read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b transparency.Request) int {
		if c := a.Received.Compare(b.Received); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}
