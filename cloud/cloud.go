// Package cloud assembles a Herd cloud from its parts: JetStream storage,
// the verdict index that follows it, the telemetry pipeline with its keys
// and GeoIP databases, and the HTTP API. herdd runs one; tests run real
// ones on temporary folders.
package cloud

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/herdsec/herd/audit"
	"github.com/herdsec/herd/dsr"
	"github.com/herdsec/herd/geoip"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/identity/pki"
	"github.com/herdsec/herd/identity/vault"
	"github.com/herdsec/herd/ingest"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/pseudonym"
	"github.com/herdsec/herd/reputation"
	"github.com/herdsec/herd/scrub"
)

// Options configure a cloud.
type Options struct {
	Data      string           // data folder: embedded JetStream store, keys
	JetStream jetstream.Config // Dir defaults to Data/nats
	// AdminToken is the admin API's bearer token.
	AdminToken string
	// PositiveTTL and NegativeTTL: how long agents may cache answers.
	PositiveTTL, NegativeTTL time.Duration
	// PseudonymRotation and PseudonymKeep: device pseudonym key rotation.
	PseudonymRotation time.Duration
	PseudonymKeep     int
	// GeoIP databases; empty: unknown.
	CountryDB, ASNDB string
	// Rules turn the fleet's evidence into verdicts; zero: DefaultRules.
	Rules reputation.Rules
	// CA issues device certificates at enrollment; nil: no enrollment
	// (a cloud served over plain HTTP, for development).
	CA *pki.Authority
	// RequireDevices: agent routes need an enrolled device's certificate.
	RequireDevices bool
	// SampleMaxBytes caps a suspicious-file upload; 0: httpapi.DefaultMaxSampleBytes.
	SampleMaxBytes int64
	Logger         *slog.Logger
}

// Cloud is a running cloud, minus the listener: serve Handler anywhere.
type Cloud struct {
	DB      *jetstream.DB
	Index   *reputation.Index
	Hub     *reputation.Hub     // the index's changes, for the verdict streams
	Filters *reputation.Filters // the offline filter, built from the index
	Keys    *pseudonym.Keyring
	Ingest  *ingest.Pipeline
	Engine  *reputation.Engine
	// Identity runs licences, enrollment and operators.
	Identity *identity.Service
	// Samples holds suspicious-file samples, sealed.
	Samples *jetstream.SampleStore
	Handler http.Handler
	Data    string // the data folder

	geo    *geoip.Resolver
	logger *slog.Logger
	cancel context.CancelFunc
	done   chan struct{}
}

// Open starts everything and returns once the verdict index holds every
// stored verdict.
func Open(ctx context.Context, o Options) (c *Cloud, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.JetStream.Dir == "" {
		o.JetStream.Dir = filepath.Join(o.Data, "nats")
	}
	c = &Cloud{logger: o.Logger, done: make(chan struct{}), Data: o.Data}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	if c.DB, err = jetstream.Open(ctx, o.JetStream); err != nil {
		return c, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.Index = reputation.NewIndex()
	c.Hub = reputation.NewHub()
	c.Filters = reputation.NewFilters(c.Index)
	c.Keys, err = pseudonym.Open(pseudonym.Config{
		Path:   filepath.Join(o.Data, "keys", "pseudonyms.json"),
		Period: o.PseudonymRotation,
		Keep:   o.PseudonymKeep,
	}, time.Now())
	if err != nil {
		close(c.done)
		return c, fmt.Errorf("pseudonym keys: %w", err)
	}
	if o.Rules == (reputation.Rules{}) {
		o.Rules = reputation.DefaultRules()
	}
	if err := o.Rules.Validate(); err != nil {
		close(c.done)
		return c, fmt.Errorf("rules: %w", err)
	}
	c.Engine = &reputation.Engine{
		Rules:    o.Rules,
		Evidence: c.DB.Evidence(),
		History:  c.DB.History(),
		Verdicts: c.DB.Verdicts(),
		Licences: c.DB.Licences(),
		Reported: c.DB.Evidence(),
		Logger:   o.Logger,
	}
	go func() {
		defer close(c.done)
		var wg sync.WaitGroup
		wg.Go(func() { c.aggregate(runCtx) })
		wg.Go(func() { c.rebuildFilters(runCtx) })
		wg.Go(func() { c.rotateKeys(runCtx) })
		c.follow(runCtx)
		wg.Wait()
	}()
	select {
	case <-c.Index.Ready():
	case <-time.After(30 * time.Second):
		return c, errors.New("verdict index: not loaded after 30s")
	case <-ctx.Done():
		return c, ctx.Err()
	}
	if c.geo, err = geoip.Open(o.CountryDB, o.ASNDB); err != nil {
		return c, fmt.Errorf("geoip: %w", err)
	}

	var mac audit.MAC
	if c.Identity, mac, err = openIdentity(ctx, c.DB, o); err != nil {
		return c, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herd_verdicts_indexed", Help: "Stored verdicts held in the lookup index."},
		func() float64 { return float64(c.Index.Len()) }))
	c.Ingest = ingest.New(ingest.Pipeline{
		Sink:     c.DB.Telemetry(),
		Consents: c.DB.Consent(),
		Keys:     c.Keys,
		Locate: func(a netip.Addr) (string, uint32) {
			p := c.geo.Lookup(a)
			return p.Country, p.ASN
		},
		Scrubber: scrub.Inventory{},
	}, reg)
	api := &httpapi.Server{
		Reputation:     c.Index,
		Verdicts:       c.DB.Verdicts(),
		Ingest:         c.Ingest,
		Consent:        c.Ingest,
		Telemetry:      c.DB.Telemetry(),
		Live:           c.Hub,
		Prefixes:       c.Index,
		Filters:        c.Filters,
		Evidence:       c.DB.Evidence(),
		History:        c.DB.History(),
		Health:         c.DB.Ping,
		AdminToken:     o.AdminToken,
		RequireDevices: o.RequireDevices,
		PositiveTTL:    o.PositiveTTL,
		NegativeTTL:    o.NegativeTTL,
		Logger:         o.Logger,
		Registry:       reg,
	}
	api.Identity = c.Identity
	api.StoredEvents = storedEvents{c.DB.Telemetry()}
	if api.WiFiKeys, err = newWiFiKeys(c.Identity.Vault, WiFiKeyVersion); err != nil {
		return c, err
	}
	if err := c.openSamples(ctx, o, api); err != nil {
		return c, err
	}
	api.Subjects = &dsr.Service{Identity: c.Identity, Ingest: c.Ingest, Stores: ingest.SubjectStores{
		Events: c.DB.Telemetry(), Consents: c.DB.Consent(), Licences: c.DB.Licences(), Evidence: c.DB.Evidence(),
		Samples: c.Samples,
	}}
	api.Audit = auditLog{log: c.DB.Audit(), mac: mac}
	if err := c.openRules(ctx, o, api); err != nil {
		return c, fmt.Errorf("rules: %w", err)
	}
	if err := c.openTransparency(ctx, api); err != nil {
		return c, fmt.Errorf("transparency: %w", err)
	}
	c.Handler = api.Handler()
	return c, nil
}

// auditLog is the audit chain keyed by the vault.
type auditLog struct {
	log *jetstream.AuditLog
	mac audit.MAC
}

func (a auditLog) Append(ctx context.Context, e audit.Entry) (audit.Entry, error) {
	return a.log.Append(ctx, e, a.mac)
}

func (a auditLog) Entries(ctx context.Context) ([]audit.Entry, uint64, error) {
	return a.log.Entries(ctx)
}

func (a auditLog) Verify(ctx context.Context) (audit.Report, error) { return a.log.Verify(ctx, a.mac) }

// openIdentity opens the identity side: its key vault in DATA/identity
// (apart from the pseudonym keys) and its own buckets. It returns the
// service and the audit chain's MAC.
func openIdentity(ctx context.Context, db *jetstream.DB, o Options) (svc *identity.Service, mac audit.MAC, err error) {
	v, err := vault.Open(filepath.Join(o.Data, "identity"))
	if err != nil {
		return nil, nil, err
	}
	mac = func(b []byte) (string, error) { return v.MAC("audit-chain", b) }
	open := func(name, desc string) (identity.KV, error) { return db.IdentityBucket(ctx, name, desc) }
	var st identity.Stores
	for _, b := range []struct {
		dst        *identity.KV
		name, desc string
	}{
		{&st.Licences, jetstream.IdentityLicences, "licences (sealed)"},
		{&st.Devices, jetstream.IdentityDevices, "enrolled devices (sealed)"},
		{&st.Bindings, jetstream.IdentityBindings, "hardware bindings (sealed)"},
		{&st.Keys, jetstream.IdentityKeys, "per-licence data keys, wrapped"},
	} {
		if *b.dst, err = open(b.name, b.desc); err != nil {
			return nil, nil, err
		}
	}
	if st.Seats, err = db.IdentityBucket(ctx, jetstream.IdentitySeats, "each licence's devices (sealed)"); err != nil {
		return nil, nil, err
	}
	if st.Operators, err = db.IdentityBucket(ctx, jetstream.IdentityOperator, "operators and their roles (sealed)"); err != nil {
		return nil, nil, err
	}
	return &identity.Service{CA: o.CA, Stores: st, Vault: v, Logger: o.Logger}, mac, nil
}

// follow keeps the index in step with the verdict store, resuming after
// the last applied change if the feed breaks.
func (c *Cloud) follow(ctx context.Context) {
	for ctx.Err() == nil {
		ch, err := c.DB.Verdicts().Changes(ctx, c.Index.Seq())
		if err == nil {
			for ch := range ch {
				c.Index.Apply(ch)
				c.Hub.Publish(ch)
				c.Filters.Apply(ch)
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.logger.Warn("verdict feed interrupted; resuming", "after", c.Index.Seq(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// aggregate feeds the reputation engine from the telemetry stream. Every
// replica consumes under one durable name, so each stored group is
// aggregated once, by one of them.
func (c *Cloud) aggregate(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.DB.Telemetry().Consume(ctx, "herd-reputation", reputation.Categories, func(ctx context.Context, g jetstream.Group) error {
			err := c.Engine.Observe(ctx, g.Device, g.Events)
			if err != nil {
				c.logger.Warn("reputation engine: telemetry group not aggregated; retrying", "seq", g.Seq, "err", err)
			}
			return err
		})
		if ctx.Err() != nil {
			return
		}
		c.logger.Warn("reputation engine: telemetry feed interrupted; resuming", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// filterCheck is how often the offline filter is checked for a rebuild.
const filterCheck = 10 * time.Minute

// rebuildFilters builds the offline filter's snapshot once the index is
// loaded, then again whenever enough changed.
func (c *Cloud) rebuildFilters(ctx context.Context) {
	select {
	case <-c.Index.Ready():
	case <-ctx.Done():
		return
	}
	t := time.NewTicker(filterCheck)
	defer t.Stop()
	for {
		if c.Filters.Due() {
			if err := c.Filters.Rebuild(); err != nil {
				c.logger.Error("offline filter: rebuild failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// rotateKeys rotates the device pseudonym key when its period is over.
func (c *Cloud) rotateKeys(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			rotated, err := c.Keys.Rotate(now)
			if err != nil {
				c.logger.Error("pseudonym key rotation failed", "err", err)
			} else if rotated {
				c.logger.Info("pseudonym key rotated")
			}
		}
	}
}

// Close stops following and closes storage.
func (c *Cloud) Close() error {
	if c.cancel != nil {
		c.cancel()
		<-c.done
	}
	var errs []error
	if c.DB != nil {
		errs = append(errs, c.DB.Close())
	}
	if c.geo != nil {
		errs = append(errs, c.geo.Close())
	}
	return errors.Join(errs...)
}
