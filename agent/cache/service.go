package cache

import (
	"context"
	"sync"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
)

// FallbackTTL is how long the cache keeps the answers of a service that
// does not say: prefix lookups (httpapi.Private answers carry a TTL, but
// its Lookup does not return it) and any other herd.ReputationService.
// It is short on purpose, the usual negative TTL.
const FallbackTTL = 15 * time.Minute

// DefaultRetryAfter is how long a Service answers from the cache alone
// after the cloud failed, before it asks the cloud again.
const DefaultRetryAfter = 30 * time.Second

// ErrOffline is the error of a Service without Inner: only the cache answers.
var ErrOffline = herd.Errorf(herd.EUNAVAILABLE, "offline: the cloud was not asked")

// Service answers lookups from the cache for what is fresh there, and asks
// Inner only for the rest, keeping its answers for the TTL they carry.
//
// When Inner cannot be reached (or is nil), the cache still answers what it
// holds: Lookup then returns every record, the unanswered ones unknown, and
// a *PartialError saying which ones the cache answered.
type Service struct {
	Cache *Cache
	// Inner is the cloud: an *httpapi.Client (whose answers carry TTLs),
	// an *httpapi.Private, or any service (its answers kept FallbackTTL).
	// nil: the cache alone.
	Inner herd.ReputationService
	// RetryAfter: 0 means DefaultRetryAfter.
	RetryAfter time.Duration
	// Warn, if set, is told when the cache cannot be read or written;
	// lookups then go to Inner as if there were no cache.
	Warn func(error)

	mu        sync.Mutex
	downUntil time.Time
	downErr   error
}

var _ herd.ReputationService = (*Service)(nil)

// PartialError is Lookup's error when the cloud could not answer: the
// records Answered marks came from the cache and stand; the others are
// unknown for want of an answer, not because the cloud knows nothing.
type PartialError struct {
	Err      error
	answered []bool
}

func (e *PartialError) Error() string { return e.Err.Error() }
func (e *PartialError) Unwrap() error { return e.Err }

// Answered says, for each object of the lookup, whether its record is an
// answer (from the cache).
func (e *PartialError) Answered() []bool { return e.answered }

// Lookup returns the record of each object, in order: from the cache when
// it holds a fresh one, else from Inner. See Service for failures.
func (s *Service) Lookup(ctx context.Context, objs []herd.Object) ([]herd.Record, error) {
	recs, found, since, err := s.Cache.Get(objs)
	if err != nil {
		s.warn(err)
		if s.Inner == nil {
			return recs, &PartialError{Err: err, answered: found}
		}
		return s.Inner.Lookup(ctx, objs)
	}
	var miss []int
	for i, ok := range found {
		if !ok {
			miss = append(miss, i)
		}
	}
	if len(miss) == 0 {
		return recs, nil
	}
	if s.Inner == nil {
		return recs, &PartialError{Err: ErrOffline, answered: found}
	}
	if err := s.down(); err != nil {
		return recs, &PartialError{Err: err, answered: found}
	}
	ask := make([]herd.Object, len(miss))
	for j, i := range miss {
		ask[j] = objs[i]
	}
	answers, err := s.ask(ctx, ask)
	if err != nil {
		if ctx.Err() == nil {
			s.setDown(err)
		}
		return recs, &PartialError{Err: err, answered: found}
	}
	for j, i := range miss {
		recs[i] = answers[j].Record
		recs[i].Object = objs[i]
	}
	if err := s.Cache.Put(answers, since); err != nil {
		s.warn(err)
	}
	return recs, nil
}

// ask looks objs up in Inner and says how long each answer may be kept.
func (s *Service) ask(ctx context.Context, objs []herd.Object) ([]Answer, error) {
	out := make([]Answer, 0, len(objs))
	switch in := s.Inner.(type) {
	case *httpapi.Client:
		for len(objs) > 0 {
			n := min(len(objs), httpapi.MaxLookupObjects)
			resp, err := in.LookupAnswers(ctx, objs[:n])
			if err != nil {
				return nil, err
			}
			for i, a := range resp.Results {
				r := herd.Record{Object: objs[i], Verdict: a.Verdict, Threat: a.Threat, Source: a.Source, Test: a.Test}
				out = append(out, Answer{Record: r, TTL: time.Duration(a.TTL) * time.Second})
			}
			objs = objs[n:]
		}
		return out, nil
	case *httpapi.Private:
		recs, err := in.Lookup(ctx, objs)
		if err != nil {
			return nil, err
		}
		for i, r := range recs {
			// Private asks the cloud about SHA-256 hashes only and answers
			// the rest unknown without asking: that is no answer to keep.
			ttl := time.Duration(0)
			if objs[i].Kind == herd.KindSHA256 {
				ttl = FallbackTTL
			}
			out = append(out, Answer{Record: r, TTL: ttl})
		}
		return out, nil
	}
	recs, err := s.Inner.Lookup(ctx, objs)
	if err != nil {
		return nil, err
	}
	if len(recs) != len(objs) {
		return nil, herd.Errorf(herd.EUNAVAILABLE, "lookup: %d answers for %d objects", len(recs), len(objs))
	}
	for _, r := range recs {
		out = append(out, Answer{Record: r, TTL: FallbackTTL})
	}
	return out, nil
}

// down returns the last failure while Inner is not to be asked again.
func (s *Service) down() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.downErr != nil && s.Cache.opt.Now().Before(s.downUntil) {
		return s.downErr
	}
	return nil
}

func (s *Service) setDown(err error) {
	retry := s.RetryAfter
	if retry <= 0 {
		retry = DefaultRetryAfter
	}
	s.mu.Lock()
	s.downErr, s.downUntil = err, s.Cache.opt.Now().Add(retry)
	s.mu.Unlock()
}

func (s *Service) warn(err error) {
	if s.Warn != nil {
		s.Warn(err)
	}
}
