package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// ConsentBucket holds each device's latest consent records, keyed by a
// stable keyed pseudonym of the device (never its id).
const ConsentBucket = "herd_consent"

// consentHistory is how many consent records are kept per device.
const consentHistory = 16

// ConsentStore keeps consent records in a JetStream key-value bucket.
type ConsentStore struct {
	kv natsjs.KeyValue
	js natsjs.JetStream
}

func openConsent(ctx context.Context, js natsjs.JetStream, cfg Config) (*ConsentStore, error) {
	kv, err := erasableBucket(ctx, js, ConsentBucket, "consent records per device pseudonym", consentHistory, 0, cfg.Replicas)
	if err != nil {
		return nil, fmt.Errorf("consent bucket: %w", err)
	}
	return &ConsentStore{kv: kv, js: js}, nil
}

// Consent returns the latest consent record stored under key, or ENOTFOUND.
func (s *ConsentStore) Consent(ctx context.Context, key string) (json.RawMessage, error) {
	if !subjectToken(key) {
		return nil, herd.Errorf(herd.EINVALID, "consent key %q: not valid", key)
	}
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, natsjs.ErrKeyNotFound) || errors.Is(err, natsjs.ErrKeyDeleted) {
		return nil, herd.Errorf(herd.ENOTFOUND, "no consent record")
	}
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "consent store unavailable: " + err.Error()}
	}
	return json.RawMessage(e.Value()), nil
}

// SetConsent stores a new consent record under key.
func (s *ConsentStore) SetConsent(ctx context.Context, key string, rec json.RawMessage) error {
	if !subjectToken(key) {
		return herd.Errorf(herd.EINVALID, "consent key %q: not valid", key)
	}
	if _, err := s.kv.Put(ctx, key, rec); err != nil {
		return &herd.Error{Code: herd.EUNAVAILABLE, Message: "consent store unavailable: " + err.Error()}
	}
	return nil
}
