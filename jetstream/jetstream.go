// Package jetstream stores Herd's streams and key-value buckets in NATS
// JetStream, on an embedded in-process server or on an external cluster
// through the same code path.
package jetstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// Config says where JetStream runs and how it keeps data.
type Config struct {
	// URL of an external NATS server or cluster. Empty: run an embedded server.
	URL string
	// Dir is the embedded server's store directory.
	Dir string
	// Listen, if set, opens a NATS client port (host:port) on the embedded
	// server; by default it is reached in-process only and opens no port.
	Listen string
	// MaxMemory and MaxStore cap the embedded server's JetStream memory and
	// disk use in bytes. JetStream's own defaults claim most of the machine.
	MaxMemory int64
	MaxStore  int64
	// SyncInterval is how often the embedded file store fsyncs; SyncAlways
	// fsyncs every write. Either way a write reaches the operating system
	// before it is acknowledged, so a killed process loses nothing; the
	// interval bounds what a power loss can take.
	SyncInterval time.Duration
	SyncAlways   bool
	// PublishTimeout bounds every asynchronous publish (the client has none).
	PublishTimeout time.Duration
	// DedupWindow is how long JetStream remembers the ids of telemetry
	// messages, to recognise a batch re-sent as it was.
	DedupWindow time.Duration
	// DedupMemory is how many telemetry event ids each sink remembers, to
	// recognise an event re-sent in a different batch (about 36 bytes of
	// memory each).
	DedupMemory int
	// TelemetryMaxAge is how long raw telemetry is kept.
	TelemetryMaxAge time.Duration
	// Replicas for streams and buckets on a cluster (1 when embedded).
	Replicas int
}

// Defaults returns the configuration herdd uses when nothing is set.
func Defaults() Config {
	return Config{
		MaxMemory:       256 << 20,
		MaxStore:        10 << 30,
		SyncInterval:    time.Second,
		PublishTimeout:  10 * time.Second,
		DedupWindow:     2 * time.Hour,
		DedupMemory:     1 << 20,
		TelemetryMaxAge: 30 * 24 * time.Hour,
		Replicas:        1,
	}
}

// DB is an open connection to JetStream holding Herd's buckets and streams.
type DB struct {
	cfg       Config
	srv       *server.Server // nil when external
	nc        *nats.Conn
	js        natsjs.JetStream
	verdicts  *VerdictStore
	telemetry *TelemetrySink
	consent   *ConsentStore
	evidence  *EvidenceStore
	history   *HistoryStore
	licences  *LicenceStore
	audit     *AuditLog
}

// Open starts the embedded server (or connects to cfg.URL) and creates the
// buckets and streams Herd needs if they do not exist.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	def := Defaults()
	if cfg.PublishTimeout <= 0 {
		cfg.PublishTimeout = def.PublishTimeout
	}
	if cfg.DedupWindow <= 0 {
		cfg.DedupWindow = def.DedupWindow
	}
	if cfg.DedupMemory <= 0 {
		cfg.DedupMemory = def.DedupMemory
	}
	if cfg.TelemetryMaxAge <= 0 {
		cfg.TelemetryMaxAge = def.TelemetryMaxAge
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	db := &DB{cfg: cfg}
	var err error
	if cfg.URL == "" {
		if db.srv, err = startEmbedded(cfg); err != nil {
			return nil, err
		}
		db.nc, err = nats.Connect("", nats.InProcessServer(db.srv), nats.Name("herdd"), nats.MaxReconnects(-1))
	} else {
		db.nc, err = nats.Connect(cfg.URL, nats.Name("herdd"), nats.MaxReconnects(-1), nats.RetryOnFailedConnect(false))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if db.js, err = natsjs.New(db.nc, natsjs.WithPublishAsyncTimeout(cfg.PublishTimeout)); err != nil {
		db.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	if db.verdicts, err = openVerdicts(ctx, db.js, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if db.telemetry, err = openTelemetry(ctx, db.js, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if db.consent, err = openConsent(ctx, db.js, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if db.evidence, db.history, db.licences, err = openReputation(ctx, db.js, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if db.audit, err = openAudit(ctx, db.js, cfg); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func startEmbedded(cfg Config) (*server.Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded nats: no store directory")
	}
	opts := &server.Options{
		ServerName:         "herdd",
		JetStream:          true,
		StoreDir:           cfg.Dir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		SyncInterval:       cfg.SyncInterval,
		SyncAlways:         cfg.SyncAlways,
		DontListen:         true,
		NoSigs:             true,
		NoLog:              true,
	}
	if cfg.Listen != "" {
		host, port, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: %w", cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: listen %q: bad port", cfg.Listen)
		}
		opts.DontListen, opts.Host, opts.Port = false, host, p
		if p == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, errors.New("embedded nats: not ready after 10s")
	}
	return srv, nil
}

// ClientURL returns the URL of the embedded server's client port, or "" if
// it opened none.
func (db *DB) ClientURL() string {
	if db.srv == nil || db.cfg.Listen == "" {
		return ""
	}
	return db.srv.ClientURL()
}

// Verdicts returns the verdict key-value store.
func (db *DB) Verdicts() *VerdictStore { return db.verdicts }

// Consent returns the consent record store.
func (db *DB) Consent() *ConsentStore { return db.consent }

// Telemetry returns the telemetry stream.
func (db *DB) Telemetry() *TelemetrySink { return db.telemetry }

// Evidence returns the store of what the fleet reported per object.
func (db *DB) Evidence() *EvidenceStore { return db.evidence }

// History returns the store of verdict histories.
func (db *DB) History() *HistoryStore { return db.history }

// Licences returns the device-to-licence map.
func (db *DB) Licences() *LicenceStore { return db.licences }

// Ping checks that JetStream answers.
func (db *DB) Ping(ctx context.Context) error {
	if _, err := db.js.AccountInfo(ctx); err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	return nil
}

// Close drains the connection and stops the embedded server.
func (db *DB) Close() error {
	if db.nc != nil {
		db.nc.Close()
	}
	if db.srv != nil {
		db.srv.Shutdown()
		db.srv.WaitForShutdown()
	}
	return nil
}
