package cloud

import (
	"context"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/jetstream"
)

// ruleService publishes behaviour rules as bundles signed by the cloud's
// rule signer (issued by its CA, kept in DATA/tls beside it) and serves
// the latest one.
type ruleService struct {
	store  *jetstream.RuleStore
	signer *pki.RuleSigner
	ca     *x509.Certificate
	now    func() time.Time
}

var _ httpapi.RuleService = (*ruleService)(nil)

// publishAttempts bounds the retries of a publication that lost its
// generation to another replica's.
const publishAttempts = 3

// openRules gives the API its rule service; a cloud without a CA (plain
// HTTP, for development) has none.
func (c *Cloud) openRules(ctx context.Context, o Options, api *httpapi.Server) error {
	if o.CA == nil {
		return nil
	}
	signer, err := o.CA.RuleSigner(filepath.Join(o.Data, "tls"), time.Now())
	if err != nil {
		return err
	}
	store, err := c.DB.Rules(ctx)
	if err != nil {
		return err
	}
	api.Rules = &ruleService{store: store, signer: signer, ca: o.CA.Cert, now: time.Now}
	return nil
}

func (s *ruleService) Publish(ctx context.Context, files []bundle.File) (bundle.Summary, error) {
	rs, err := bundle.CheckFiles(files)
	if err != nil {
		return bundle.Summary{}, err
	}
	for range publishAttempts {
		gen, rev, err := s.store.Generation(ctx)
		if err != nil {
			return bundle.Summary{}, err
		}
		b, err := bundle.Sign(bundle.Payload{Generation: gen + 1, Created: s.now(), Rules: files}, s.signer)
		if err != nil {
			return bundle.Summary{}, err
		}
		err = s.store.Publish(ctx, gen+1, rev, b)
		if herd.ErrorCode(err) == herd.ECONFLICT {
			continue
		}
		if err != nil {
			return bundle.Summary{}, err
		}
		bd, err := bundle.Decode(b)
		if err != nil {
			return bundle.Summary{}, fmt.Errorf("rules: the bundle just signed does not decode: %w", err)
		}
		return bundle.Summarize(bd, rs), nil
	}
	return bundle.Summary{}, herd.Errorf(herd.ECONFLICT, "rules: other publications kept taking the next generation; publish again")
}

func (s *ruleService) Latest(ctx context.Context) ([]byte, uint64, error) {
	return s.store.Latest(ctx)
}

// Summary verifies the latest bundle as an agent would (as of its
// creation) before describing it.
func (s *ruleService) Summary(ctx context.Context) (bundle.Summary, error) {
	b, _, err := s.store.Latest(ctx)
	if err != nil {
		return bundle.Summary{}, err
	}
	bd, err := bundle.Decode(b)
	if err != nil {
		return bundle.Summary{}, err
	}
	if err := bd.Verify(s.ca, bd.Created); err != nil {
		return bundle.Summary{}, err
	}
	rs, err := bd.ParseRules()
	if err != nil {
		return bundle.Summary{}, err
	}
	return bundle.Summarize(bd, rs), nil
}
