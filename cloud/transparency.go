package cloud

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/transparency"
)

// transparencyService keeps the register in JetStream: every move reads
// the request, checks it against the legal review (package transparency)
// and stores it over the revision it read.
type transparencyService struct {
	store *jetstream.TransparencyStore
	now   func() time.Time
}

var _ httpapi.TransparencyService = (*transparencyService)(nil)

// moveAttempts bounds the retries of a move that lost its revision to
// another replica's; the retry reads the new state, so a move that is no
// longer allowed is then refused by the state machine.
const moveAttempts = 3

func (c *Cloud) openTransparency(ctx context.Context, api *httpapi.Server) error {
	store, err := c.DB.Transparency(ctx)
	if err != nil {
		return err
	}
	api.Transparency = &transparencyService{store: store, now: time.Now}
	return nil
}

func (s *transparencyService) Register(ctx context.Context, n transparency.New, operator string) (transparency.Request, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return transparency.Request{}, err
	}
	r, err := transparency.Register(n, "tr-"+hex.EncodeToString(b[:]), operator, s.now())
	if err != nil {
		return transparency.Request{}, err
	}
	if err := s.store.Create(ctx, r); err != nil {
		return transparency.Request{}, err
	}
	return r, nil
}

func (s *transparencyService) Requests(ctx context.Context) ([]transparency.Request, error) {
	return s.store.List(ctx)
}

func (s *transparencyService) Request(ctx context.Context, id string) (transparency.Request, error) {
	r, _, err := s.store.Get(ctx, id)
	return r, err
}

func (s *transparencyService) move(ctx context.Context, id string, step func(transparency.Request) (transparency.Request, error)) (transparency.Request, error) {
	for range moveAttempts {
		r, rev, err := s.store.Get(ctx, id)
		if err != nil {
			return transparency.Request{}, err
		}
		next, err := step(r)
		if err != nil {
			return transparency.Request{}, err
		}
		err = s.store.Update(ctx, next, rev)
		if herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		}
		if err != nil {
			return transparency.Request{}, err
		}
		return next, nil
	}
	return transparency.Request{}, herd.Errorf(herd.ECONFLICT, "request %s kept changing meanwhile; read it again", id)
}

func (s *transparencyService) StartReview(ctx context.Context, id, operator string) (transparency.Request, error) {
	return s.move(ctx, id, func(r transparency.Request) (transparency.Request, error) {
		return r.StartReview(operator, s.now())
	})
}

func (s *transparencyService) Decide(ctx context.Context, id string, approve bool, reasons, operator string) (transparency.Request, error) {
	return s.move(ctx, id, func(r transparency.Request) (transparency.Request, error) {
		return r.Decide(approve, reasons, operator, s.now())
	})
}

func (s *transparencyService) Fulfil(ctx context.Context, id, disclosed, operator string) (transparency.Request, error) {
	return s.move(ctx, id, func(r transparency.Request) (transparency.Request, error) {
		return r.Fulfil(disclosed, operator, s.now())
	})
}

func (s *transparencyService) Report(ctx context.Context, p transparency.Period) (transparency.Report, error) {
	reqs, err := s.store.List(ctx)
	if err != nil {
		return transparency.Report{}, err
	}
	return transparency.Compute(p, reqs, s.now()), nil
}
