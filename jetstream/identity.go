package jetstream

import (
	"context"
	"errors"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// The identity side's buckets: licences, devices, hardware bindings and
// per-licence data keys. They hold sealed records only (the identity
// service encrypts each one before it gets here), apart from every bucket
// and stream of the telemetry side.
const (
	IdentityLicences = "herd_id_licences"
	IdentityDevices  = "herd_id_devices"
	IdentityBindings = "herd_id_bindings"
	IdentityKeys     = "herd_id_keys"
	IdentitySeats    = "herd_id_seats"
	IdentityOperator = "herd_id_operators"
)

// IdentityKV is one identity bucket: opaque values under compare-and-set.
type IdentityKV struct {
	kv     natsjs.KeyValue
	js     natsjs.JetStream
	bucket string
}

// IdentityBucket opens (creating if needed) the identity bucket name.
func (db *DB) IdentityBucket(ctx context.Context, name, description string) (*IdentityKV, error) {
	kv, err := erasableBucket(ctx, db.js, name, description, 1, 0, db.cfg.Replicas)
	if err != nil {
		return nil, err
	}
	return &IdentityKV{kv: kv, js: db.js, bucket: name}, nil
}

func idUnavailable(err error) error {
	return &herd.Error{Code: herd.EUNAVAILABLE, Message: "identity store unavailable: " + err.Error()}
}

// Get returns the value under key and its revision, or ENOTFOUND.
func (b *IdentityKV) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	e, err := b.kv.Get(ctx, key)
	if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) {
		return nil, 0, herd.Errorf(herd.ENOTFOUND, "%s: no such record", key)
	}
	if err != nil {
		return nil, 0, idUnavailable(err)
	}
	return e.Value(), e.Revision(), nil
}

// Create stores value under key if nothing is there, else ECONFLICT.
func (b *IdentityKV) Create(ctx context.Context, key string, value []byte) (uint64, error) {
	rev, err := b.kv.Create(ctx, key, value)
	if errors.Is(err, natsjs.ErrKeyExists) {
		return 0, herd.Errorf(herd.ECONFLICT, "%s: exists", key)
	}
	if err != nil {
		return 0, idUnavailable(err)
	}
	return rev, nil
}

// Update replaces the value under key if it is still at revision rev, else ECONFLICT.
func (b *IdentityKV) Update(ctx context.Context, key string, value []byte, rev uint64) (uint64, error) {
	n, err := b.kv.Update(ctx, key, value, rev)
	if errors.Is(err, natsjs.ErrKeyExists) {
		return 0, herd.Errorf(herd.ECONFLICT, "%s: changed meanwhile", key)
	}
	if err != nil {
		return 0, idUnavailable(err)
	}
	return n, nil
}

// Delete removes key: every stored revision of it is overwritten in the
// file store (JetStream's secure delete), then the key is purged.
func (b *IdentityKV) Delete(ctx context.Context, key string) error {
	_, err := eraseKey(ctx, b.js, b.kv, b.bucket, key)
	return err
}

// Keys returns every key in the bucket.
func (b *IdentityKV) Keys(ctx context.Context) ([]string, error) {
	keys, err := b.kv.Keys(ctx)
	if errors.Is(err, natsjs.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, idUnavailable(err)
	}
	return keys, nil
}

// KeysWithPrefix returns the keys that start with prefix, which must end
// with a '.' (a whole token), or be empty (every key).
func (b *IdentityKV) KeysWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	lister, err := b.kv.ListKeysFiltered(ctx, prefix+">")
	if err != nil {
		return nil, idUnavailable(err)
	}
	var keys []string
	for k := range lister.Keys() { // closed when every key was read
		keys = append(keys, k)
	}
	return keys, nil
}
