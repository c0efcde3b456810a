package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// What the telemetry side keeps under a device's pseudonyms, for a data
// subject's access and deletion requests.

// Events returns every stored event of every category under any of the
// device pseudonyms, oldest first per pseudonym.
func (t *TelemetrySink) Events(ctx context.Context, devices []string) ([]herd.StoredEvent, error) {
	var out []herd.StoredEvent
	for _, d := range devices {
		if !subjectToken(d) {
			return nil, herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", d)
		}
		filter := telemetrySubject + "*." + d
		n, err := t.count(ctx, filter)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			continue
		}
		cons, err := t.stream.OrderedConsumer(ctx, natsjs.OrderedConsumerConfig{FilterSubjects: []string{filter}})
		if err != nil {
			return nil, unavailable(err)
		}
		for read := uint64(0); read < n; {
			batch, err := cons.FetchNoWait(int(min(n-read, 500)))
			if err != nil {
				return nil, unavailable(err)
			}
			got := 0
			for m := range batch.Messages() {
				var events []herd.StoredEvent
				if err := json.Unmarshal(m.Data(), &events); err != nil {
					return nil, fmt.Errorf("telemetry message on %s: %w", m.Subject(), err)
				}
				out = append(out, events...)
				got++
			}
			if batch.Error() != nil {
				return nil, unavailable(batch.Error())
			}
			if got == 0 {
				break // the rest was deleted meanwhile
			}
			read += uint64(got)
		}
	}
	return out, nil
}

// History returns the consent records kept under key, oldest first.
func (s *ConsentStore) History(ctx context.Context, key string) ([]json.RawMessage, error) {
	if !subjectToken(key) {
		return nil, herd.Errorf(herd.EINVALID, "consent key %q: not valid", key)
	}
	hist, err := s.kv.History(ctx, key)
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, &herd.Error{Code: herd.EUNAVAILABLE, Message: "consent store unavailable: " + err.Error()}
	}
	var out []json.RawMessage
	for _, e := range hist {
		if e.Operation() == natsjs.KeyValuePut {
			out = append(out, json.RawMessage(e.Value()))
		}
	}
	return out, nil
}

// Erase securely erases every consent record kept under key and returns
// how many there were.
func (s *ConsentStore) Erase(ctx context.Context, key string) (int, error) {
	if !subjectToken(key) {
		return 0, herd.Errorf(herd.EINVALID, "consent key %q: not valid", key)
	}
	return eraseKey(ctx, s.js, s.kv, ConsentBucket, key)
}

// Forget securely erases what the licence store keeps of the device
// pseudonyms, and returns how many entries there were.
func (s *LicenceStore) Forget(ctx context.Context, devices []string) (int, error) {
	n := 0
	for _, d := range devices {
		if !subjectToken(d) {
			return n, herd.Errorf(herd.EINVALID, "device pseudonym %q: not valid", d)
		}
		k, err := eraseKey(ctx, s.js, s.kv, LicenceBucket, d)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// eraseKey overwrites every stored revision of key in the bucket's file
// store (JetStream's secure delete), then purges the key.
func eraseKey(ctx context.Context, js natsjs.JetStream, kv natsjs.KeyValue, bucket, key string) (int, error) {
	hist, err := kv.History(ctx, key)
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: bucket + " unavailable: " + err.Error()}
	}
	st, err := js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return 0, &herd.Error{Code: herd.EUNAVAILABLE, Message: bucket + " unavailable: " + err.Error()}
	}
	// A bucket made before buckets were made erasable refuses single
	// deletes: its key is then only purged.
	secure := !st.CachedInfo().Config.DenyDelete
	n := 0
	for _, e := range hist {
		if e.Operation() != natsjs.KeyValuePut {
			continue
		}
		if !secure {
			n++
			continue
		}
		if err := st.SecureDeleteMsg(ctx, e.Revision()); err != nil && !errors.Is(err, natsjs.ErrMsgNotFound) {
			return n, &herd.Error{Code: herd.EUNAVAILABLE, Message: bucket + " unavailable: " + err.Error()}
		}
		n++
	}
	if err := kv.Purge(ctx, key); err != nil {
		return n, &herd.Error{Code: herd.EUNAVAILABLE, Message: bucket + " unavailable: " + err.Error()}
	}
	return n, nil
}

// erasableBucket opens the key-value bucket, creating it as JetStream's
// key-value buckets are made but allowing single-message deletes, so that
// a key's stored revisions can be overwritten on erasure (a bucket made
// by CreateKeyValue refuses them, for good).
func erasableBucket(ctx context.Context, js natsjs.JetStream, bucket, description string, history int64, ttl time.Duration, replicas int) (natsjs.KeyValue, error) {
	name := "KV_" + bucket
	_, err := js.Stream(ctx, name)
	if errors.Is(err, natsjs.ErrStreamNotFound) {
		dup := 2 * time.Minute
		if ttl > 0 && ttl < dup {
			dup = ttl
		}
		_, err = js.CreateStream(ctx, natsjs.StreamConfig{
			Name:              name,
			Description:       description,
			Subjects:          []string{"$KV." + bucket + ".>"},
			MaxMsgsPerSubject: history,
			MaxAge:            ttl,
			MaxMsgs:           -1,
			MaxBytes:          -1,
			MaxMsgSize:        -1,
			MaxConsumers:      -1,
			Storage:           natsjs.FileStorage,
			Replicas:          replicas,
			AllowRollup:       true,
			AllowDirect:       true,
			Discard:           natsjs.DiscardNew,
			Duplicates:        dup,
		})
	}
	if err != nil {
		return nil, fmt.Errorf("%s bucket: %w", bucket, err)
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("%s bucket: %w", bucket, err)
	}
	return kv, nil
}
