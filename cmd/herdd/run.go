package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"slices"
	"strings"
	"time"

	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/identity/pki"
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
	ca    *pki.Authority // nil when serving plain HTTP
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
	insecure := fl.Bool("insecure-http", false, "development only: serve plain HTTP, without TLS or device certificates")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "Usage: herdd [flags]\n\nRuns the Herd cloud. With no flags: data in ./herd-data, API on https://127.0.0.1:8440\n(its own CA in ./herd-data/tls; the CA's fingerprint is printed at start).")
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
	if *insecure {
		m.Config.TLS.InsecureHTTP = true
	}
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
	var tlsCfg *tls.Config
	if !c.TLS.InsecureHTTP {
		if tlsCfg, err = m.serverTLS(c); err != nil {
			return err
		}
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
		CA:                m.ca,
		RequireDevices:    m.ca != nil,
		SampleMaxBytes:    int64(c.Samples.MaxBytes),
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
	if tlsCfg != nil {
		m.ln = tls.NewListener(m.ln, tlsCfg)
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
	if m.ca != nil {
		logger.Info("agents trust this cloud by its CA", "ca_fingerprint", m.ca.Fingerprint(), "ca_file", filepath.Join(c.Data, TLSDir, pki.CAFile))
	} else {
		logger.Warn("serving plain HTTP (insecure_http): for development only; nothing is encrypted and devices cannot authenticate")
	}
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
	if m.Config.TLS.InsecureHTTP {
		return "http://" + m.ln.Addr().String()
	}
	return "https://" + m.ln.Addr().String()
}

// CA returns the cloud's certificate authority (nil over plain HTTP).
func (m *Main) CA() *pki.Authority { return m.ca }

// TLSDir is the folder of the data directory that holds the cloud's CA and
// server certificate.
const TLSDir = "tls"

// serverTLS loads (or on first start creates) the cloud's CA and the server
// certificate: the configured one, or one the CA issues for the hosts.
func (m *Main) serverTLS(c Config) (*tls.Config, error) {
	dir := filepath.Join(c.Data, TLSDir)
	now := time.Now()
	ca, _, err := pki.LoadOrCreate(dir, now)
	if err != nil {
		return nil, err
	}
	m.ca = ca
	var cert tls.Certificate
	if c.TLS.Cert != "" {
		cert, err = tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
		if err != nil {
			return nil, fmt.Errorf("config: tls.cert %s: %w", c.TLS.Cert, err)
		}
	} else {
		hosts := c.TLS.Hosts
		if len(hosts) == 0 {
			hosts = pki.DefaultHosts()
			if h, _, err := net.SplitHostPort(c.Listen); err == nil && h != "" && !slices.Contains(hosts, h) {
				if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
					hosts = append(hosts, h)
				}
			}
		}
		if cert, err = ca.ServerCertificate(dir, hosts, now); err != nil {
			return nil, err
		}
	}
	return ca.ServerConfig(cert), nil
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
