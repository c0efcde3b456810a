package jetstream

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// VerdictBucket is the key-value bucket holding the current verdict of every object.
const VerdictBucket = "herd_verdicts"

// VerdictStore keeps verdicts in a JetStream key-value bucket. Every herdd
// replica watches the bucket, so a change made through one reaches all.
type VerdictStore struct {
	kv natsjs.KeyValue
}

var _ herd.VerdictStore = (*VerdictStore)(nil)

func openVerdicts(ctx context.Context, js natsjs.JetStream, cfg Config) (*VerdictStore, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
		Bucket:      VerdictBucket,
		Description: "current verdict per object",
		History:     1,
		Storage:     natsjs.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("verdict bucket: %w", err)
	}
	return &VerdictStore{kv: kv}, nil
}

// key maps an object to a bucket key. Hashes are hex already; other values
// may hold characters keys cannot, so they are base64url-encoded.
func key(o herd.Object) string {
	if o.Kind.HexLen() > 0 {
		return string(o.Kind) + "." + o.Value
	}
	return string(o.Kind) + "." + base64.RawURLEncoding.EncodeToString([]byte(o.Value))
}

// parseKey is the inverse of key.
func parseKey(k string) (herd.Object, error) {
	kind, v, ok := strings.Cut(k, ".")
	if !ok {
		return herd.Object{}, fmt.Errorf("verdict key %q: no kind", k)
	}
	o := herd.Object{Kind: herd.Kind(kind), Value: v}
	if o.Kind.HexLen() == 0 {
		b, err := base64.RawURLEncoding.DecodeString(v)
		if err != nil {
			return herd.Object{}, fmt.Errorf("verdict key %q: %w", k, err)
		}
		o.Value = string(b)
	}
	return o, nil
}

// Delete removes the stored verdict of obj.
func (s *VerdictStore) Delete(ctx context.Context, obj herd.Object) error {
	if err := s.kv.Delete(ctx, key(obj)); err != nil {
		return fmt.Errorf("delete verdict: %w", err)
	}
	return nil
}

// Put stores r as the current verdict of its object.
//
// The object is stored as given: callers normalize it first (the API
// canonicalizes URLs as Safe Browsing does, which Object.Normalize alone
// would not reproduce).
func (s *VerdictStore) Put(ctx context.Context, r herd.Record) (uint64, error) {
	obj := r.Object
	if err := r.Validate(); err != nil {
		return 0, err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return 0, fmt.Errorf("encode verdict: %w", err)
	}
	seq, err := s.kv.Put(ctx, key(obj), b)
	if err != nil {
		return 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: "verdict store unavailable: " + err.Error()}
	}
	return seq, nil
}

// Get returns the stored verdict of obj.
func (s *VerdictStore) Get(ctx context.Context, obj herd.Object) (herd.Record, error) {
	e, err := s.kv.Get(ctx, key(obj))
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return herd.Record{}, herd.Errorf(herd.ENOTFOUND, "no stored verdict for %s", obj)
	}
	if err != nil {
		return herd.Record{}, &herd.Error{Code: herd.EUNAVAILABLE, Message: "verdict store unavailable: " + err.Error()}
	}
	var r herd.Record
	if err := json.Unmarshal(e.Value(), &r); err != nil {
		return herd.Record{}, fmt.Errorf("decode verdict %s: %w", obj, err)
	}
	return r, nil
}

// Changes delivers every change with a revision above after, then follows
// the bucket. The bucket keeps one revision per key, so a client resuming
// from an old revision gets the latest state of every key changed since.
// A change with CaughtUp set (and no record) marks the end of the backlog.
func (s *VerdictStore) Changes(ctx context.Context, after uint64) (<-chan herd.VerdictChange, error) {
	var opts []natsjs.WatchOpt
	if after > 0 {
		opts = append(opts, natsjs.ResumeFromRevision(after+1))
	}
	w, err := s.kv.WatchAll(ctx, opts...)
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "verdict store unavailable: " + err.Error()}
	}
	out := make(chan herd.VerdictChange, 64)
	go func() {
		defer close(out)
		defer w.Stop()
		for {
			var e natsjs.KeyValueEntry
			var ok bool
			select {
			case <-ctx.Done():
				return
			case e, ok = <-w.Updates():
				if !ok {
					return
				}
			}
			var c herd.VerdictChange
			if e == nil {
				c.CaughtUp = true
			} else {
				c.Seq = e.Revision()
				if e.Operation() != natsjs.KeyValuePut {
					obj, err := parseKey(e.Key())
					if err != nil {
						continue
					}
					c.Deleted, c.Record.Object = true, obj
				} else if err := json.Unmarshal(e.Value(), &c.Record); err != nil {
					continue // not ours to serve; Put never writes such a value
				}
			}
			select {
			case out <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}
