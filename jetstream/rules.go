package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/herdsec/herd"
)

// The behaviour rules the cloud publishes to agents, as signed bundles:
// each generation's bundle is an object in RuleBundles (bundles outgrow a
// message), and the key "latest" of RuleHead names the current one. The
// head moves by compare-and-set, so two replicas publishing at once never
// both take one generation.
const (
	RuleHead    = "herd_rules"
	RuleBundles = "herd_rule_bundles"
	ruleHeadKey = "latest"
	// rulesKept is how many generations' bundles are kept (the head's and
	// the ones before it).
	rulesKept = 4
)

// RuleStore keeps signed rule bundles.
type RuleStore struct {
	head    natsjs.KeyValue
	bundles natsjs.ObjectStore
}

// ruleHead is the value of the head key.
type ruleHead struct {
	Generation uint64 `json:"generation"`
	Object     string `json:"object"`
	SHA256     string `json:"sha256"`
}

// Rules opens the rule buckets, creating them if needed.
func (db *DB) Rules(ctx context.Context) (*RuleStore, error) {
	head, err := db.js.CreateOrUpdateKeyValue(ctx, natsjs.KeyValueConfig{
		Bucket: RuleHead, Description: "the current signed rule bundle's generation", History: 1,
		Storage: natsjs.FileStorage, Replicas: db.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("rule head bucket: %w", err)
	}
	bundles, err := db.js.CreateOrUpdateObjectStore(ctx, natsjs.ObjectStoreConfig{
		Bucket: RuleBundles, Description: "signed rule bundles, one object per generation",
		Storage: natsjs.FileStorage, Replicas: db.cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("rule bundle store: %w", err)
	}
	return &RuleStore{head: head, bundles: bundles}, nil
}

// Generation returns the current generation and the head's revision for
// Publish; 0, 0 when none was published.
func (s *RuleStore) Generation(ctx context.Context) (gen, rev uint64, err error) {
	h, rev, err := s.current(ctx)
	return h.Generation, rev, err
}

func (s *RuleStore) current(ctx context.Context) (ruleHead, uint64, error) {
	e, err := s.head.Get(ctx, ruleHeadKey)
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return ruleHead{}, 0, nil
	}
	if err != nil {
		return ruleHead{}, 0, fmt.Errorf("rule head: %w", err)
	}
	var h ruleHead
	if err := json.Unmarshal(e.Value(), &h); err != nil {
		return ruleHead{}, 0, fmt.Errorf("rule head: %w", err)
	}
	return h, e.Revision(), nil
}

// Publish stores bundle as generation gen, which must follow the head at
// revision rev (from Generation): ECONFLICT when another publish moved
// the head since. Each attempt writes an object of its own (named by
// generation and content), so a losing attempt never overwrites the
// winner's bundle.
func (s *RuleStore) Publish(ctx context.Context, gen, rev uint64, bundle []byte) error {
	sum := sha256.Sum256(bundle)
	digest := hex.EncodeToString(sum[:])
	name := objectName(gen, digest)
	if _, err := s.bundles.PutBytes(ctx, name, bundle); err != nil {
		return fmt.Errorf("store rule bundle: %w", err)
	}
	v, err := json.Marshal(ruleHead{Generation: gen, Object: name, SHA256: digest})
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = s.head.Create(ctx, ruleHeadKey, v)
	} else {
		_, err = s.head.Update(ctx, ruleHeadKey, v, rev)
	}
	if errors.Is(err, natsjs.ErrKeyExists) || isWrongSequence(err) {
		if h, _, herr := s.current(ctx); herr == nil && h.Object != name {
			_ = s.bundles.Delete(ctx, name)
		}
		return herd.Errorf(herd.ECONFLICT, "rules: another publication took generation %d meanwhile; publish again", gen)
	}
	if err != nil {
		return fmt.Errorf("rule head: %w", err)
	}
	s.prune(ctx, gen)
	return nil
}

func objectName(gen uint64, digest string) string {
	return "generation-" + strconv.FormatUint(gen, 10) + "-" + digest[:16]
}

// prune deletes the bundles of generations older than the rulesKept
// newest (an attempt that lost deletes its own bundle when it loses); a
// failure is left for the next publication.
func (s *RuleStore) prune(ctx context.Context, head uint64) {
	infos, err := s.bundles.List(ctx)
	if err != nil {
		return
	}
	for _, in := range infos {
		rest, ok := strings.CutPrefix(in.Name, "generation-")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, "-")
		if g, err := strconv.ParseUint(num, 10, 64); err == nil && g+rulesKept <= head {
			_ = s.bundles.Delete(ctx, in.Name)
		}
	}
}

// Bundles returns the names of the stored bundle objects.
func (s *RuleStore) Bundles(ctx context.Context) ([]string, error) {
	infos, err := s.bundles.List(ctx)
	if errors.Is(err, natsjs.ErrNoObjectsFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Name)
	}
	return names, nil
}

// isWrongSequence reports a compare-and-set that lost (JetStream's
// "wrong last sequence").
func isWrongSequence(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence
}

// Latest returns the current bundle and its generation; ENOTFOUND when
// none was published.
func (s *RuleStore) Latest(ctx context.Context) ([]byte, uint64, error) {
	h, _, err := s.current(ctx)
	if err != nil {
		return nil, 0, err
	}
	if h.Generation == 0 {
		return nil, 0, herd.Errorf(herd.ENOTFOUND, "no rules published yet")
	}
	b, err := s.bundles.GetBytes(ctx, h.Object)
	if err != nil {
		return nil, 0, fmt.Errorf("rule bundle %s: %w", h.Object, err)
	}
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != h.SHA256 {
		return nil, 0, fmt.Errorf("rule bundle %s: SHA-256 %s, the head says %s", h.Object, got, h.SHA256)
	}
	return bytes.Clone(b), h.Generation, nil
}
