package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/jetstream"
)

// TokenFile is the admin token's file name in the data directory.
const TokenFile = "admin.token"

// Main is herdd's program: ParseFlags, Run, Close. Tests drive it directly.
type Main struct {
	Config Config
	Stderr io.Writer
	Getenv func(string) string

	cloud *cloud.Cloud
	db    *jetstream.DB
	ln    net.Listener
	http  *http.Server
}

// NewMain returns a Main with the default configuration.
func NewMain() *Main {
	return &Main{Config: DefaultConfig(), Stderr: os.Stderr, Getenv: os.Getenv}
}

// ParseFlags reads the config file, the environment and the flags.
func (m *Main) ParseFlags(args []string) error {
	fl := flag.NewFlagSet("herdd", flag.ContinueOnError)
	fl.SetOutput(m.Stderr)
	configPath := fl.String("config", m.Getenv("HERD_CONFIG"), "YAML config `file` (env HERD_CONFIG)")
	data := fl.String("data", "", "data `dir` (default ./herd-data; env HERD_DATA)")
	listen := fl.String("listen", "", "HTTP listen `address` (default 127.0.0.1:8440; env HERD_LISTEN)")
	natsURL := fl.String("nats", "", "external NATS `URL`; empty runs JetStream embedded (env HERD_NATS_URL)")
	natsListen := fl.String("nats-listen", "", "open a NATS client port on the embedded server at `address` (env HERD_NATS_LISTEN)")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: herdd [flags]\n\nRuns the Herd cloud. With no flags: data in ./herd-data, API on http://127.0.0.1:8440.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if *configPath != "" {
		if err := m.Config.LoadConfigFile(*configPath); err != nil {
			return err
		}
	}
	m.Config.LoadEnv(m.Getenv)
	for _, f := range []struct{ flag, dst *string }{{data, &m.Config.Data}, {listen, &m.Config.Listen}, {natsURL, &m.Config.NATS.URL}, {natsListen, &m.Config.NATS.Listen}} {
		if *f.flag != "" {
			*f.dst = *f.flag
		}
	}
	return m.Config.Validate()
}

// Run opens storage, starts following verdicts and serves HTTP. It returns
// once the server accepts connections.
func (m *Main) Run(ctx context.Context) error {
	c := m.Config
	if err := c.Validate(); err != nil {
		return err
	}
	logger := newLogger(m.Stderr, c.LogLevel)
	if err := os.MkdirAll(c.Data, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	token, created, err := loadOrCreateToken(filepath.Join(c.Data, TokenFile))
	if err != nil {
		return err
	}
	always, interval, _ := c.syncPolicy()
	m.cloud, err = cloud.Open(ctx, cloud.Options{
		Data: c.Data,
		JetStream: jetstream.Config{
			URL:             c.NATS.URL,
			Listen:          c.NATS.Listen,
			MaxMemory:       int64(c.NATS.MaxMemory),
			MaxStore:        int64(c.NATS.MaxStore),
			SyncInterval:    interval,
			SyncAlways:      always,
			PublishTimeout:  time.Duration(c.NATS.PublishTimeout),
			DedupWindow:     time.Duration(c.Telemetry.DedupWindow),
			DedupMemory:     c.Telemetry.DedupMemory,
			TelemetryMaxAge: time.Duration(c.Telemetry.MaxAge),
		},
		AdminToken:        token,
		PositiveTTL:       time.Duration(c.Lookup.PositiveTTL),
		NegativeTTL:       time.Duration(c.Lookup.NegativeTTL),
		PseudonymRotation: time.Duration(c.Pseudonym.Rotation),
		PseudonymKeep:     c.Pseudonym.Keep,
		Rules:             c.Rules,
		CountryDB:         c.GeoIP.CountryDB,
		ASNDB:             c.GeoIP.ASNDB,
		Logger:            logger,
	})
	if err != nil {
		return err
	}
	m.db = m.cloud.DB
	m.ln, err = net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	m.http = &http.Server{Handler: m.cloud.Handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := m.http.Serve(m.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server stopped", "err", err)
		}
	}()
	store := "embedded JetStream in " + filepath.Join(c.Data, "nats")
	if c.NATS.URL != "" {
		store = "NATS at " + c.NATS.URL
	}
	logger.Info("herdd ready", "url", m.URL(), "store", store, "verdicts", m.cloud.Index.Len(), "nats_client_url", m.db.ClientURL())
	if created {
		logger.Info("admin token created", "file", filepath.Join(c.Data, TokenFile))
	}
	return nil
}

// URL returns the base URL the API is served on.
func (m *Main) URL() string {
	if m.ln == nil {
		return ""
	}
	return "http://" + m.ln.Addr().String()
}

// Close stops serving and closes storage.
func (m *Main) Close() error {
	var errs []error
	if m.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.http.Shutdown(ctx); err != nil {
			m.http.Close()
		}
	}
	if m.cloud != nil {
		errs = append(errs, m.cloud.Close())
	}
	return errors.Join(errs...)
}

// loadOrCreateToken returns the admin token, creating it (mode 0600) on
// first start. A token file readable by others is refused.
func loadOrCreateToken(path string) (token string, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		raw := make([]byte, 32)
		if _, err := rand.Read(raw); err != nil {
			return "", false, err
		}
		token = hex.EncodeToString(raw)
		if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
			return "", false, fmt.Errorf("admin token: %w", err)
		}
		return token, true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("admin token: %w", err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return "", false, fmt.Errorf("admin token %s: mode %v lets others read it; chmod 600 it", path, st.Mode().Perm())
	}
	token = strings.TrimSpace(string(b))
	if len(token) < 32 {
		return "", false, fmt.Errorf("admin token %s: shorter than 32 characters", path)
	}
	return token, false, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
