package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/reputation"
)

// Config is herdd's configuration: defaults, then a YAML file, then
// environment variables, then flags.
type Config struct {
	Data      string          `yaml:"data"`
	Listen    string          `yaml:"listen"`
	LogLevel  string          `yaml:"log_level"`
	NATS      NATSConfig      `yaml:"nats"`
	Telemetry TelemetryConfig `yaml:"telemetry"`
	Lookup    LookupConfig    `yaml:"lookup"`
	GeoIP     GeoIPConfig     `yaml:"geoip"`
	Pseudonym PseudonymConfig `yaml:"pseudonym"`
	// Rules turn the fleet's evidence into verdicts.
	Rules reputation.Rules `yaml:"rules"`
	TLS   TLSConfig        `yaml:"tls"`
	// Samples sets how suspicious-file uploads are taken.
	Samples SamplesConfig `yaml:"samples"`
}

// TLSConfig sets how the API is served. By default herdd is its own CA (in
// DATA/tls): it issues its server certificate and the devices' client
// certificates. Replicas of one cloud must share that folder's CA.
type TLSConfig struct {
	// Cert and Key: a server certificate (PEM, chain first to last) to serve
	// instead of one issued by the cloud's own CA. Device certificates are
	// still issued and checked by the cloud's CA.
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
	// Hosts the issued server certificate names; empty: localhost,
	// 127.0.0.1, ::1, this machine's name and the listen address's host.
	Hosts []string `yaml:"hosts"`
	// InsecureHTTP serves plain HTTP: for development only. Nothing is
	// encrypted and devices cannot authenticate.
	InsecureHTTP bool `yaml:"insecure_http"`
}

// GeoIPConfig names the MaxMind databases that map a client address to a
// country and an ASN (the address itself is then forgotten). Empty: unknown.
type GeoIPConfig struct {
	CountryDB string `yaml:"country_db"`
	ASNDB     string `yaml:"asn_db"`
}

// PseudonymConfig sets how often the device pseudonym key rotates and how
// many old keys are kept (enough to find a device's data for deletion
// during telemetry.max_age).
type PseudonymConfig struct {
	Rotation Duration `yaml:"rotation"`
	Keep     int      `yaml:"keep"`
}

// NATSConfig says where JetStream runs.
type NATSConfig struct {
	URL            string   `yaml:"url"`    // external server; empty = embedded
	Listen         string   `yaml:"listen"` // open a client port on the embedded server
	MaxMemory      Size     `yaml:"max_memory"`
	MaxStore       Size     `yaml:"max_store"`
	Sync           string   `yaml:"sync"` // "always" or an interval such as "1s"
	PublishTimeout Duration `yaml:"publish_timeout"`
}

// TelemetryConfig sets how telemetry is kept.
type TelemetryConfig struct {
	DedupWindow Duration `yaml:"dedup_window"`
	DedupMemory int      `yaml:"dedup_memory"`
	MaxAge      Duration `yaml:"max_age"`
}

// LookupConfig sets how long agents may cache answers.
type LookupConfig struct {
	PositiveTTL Duration `yaml:"positive_ttl"`
	NegativeTTL Duration `yaml:"negative_ttl"`
}

// DefaultConfig is what herdd runs with when nothing is configured.
func DefaultConfig() Config {
	js := jetstream.Defaults()
	return Config{
		Data:     "./herd-data",
		Listen:   "127.0.0.1:8440",
		LogLevel: "info",
		NATS: NATSConfig{
			MaxMemory:      Size(js.MaxMemory),
			MaxStore:       Size(js.MaxStore),
			Sync:           js.SyncInterval.String(),
			PublishTimeout: Duration(js.PublishTimeout),
		},
		Telemetry: TelemetryConfig{DedupWindow: Duration(js.DedupWindow), DedupMemory: js.DedupMemory, MaxAge: Duration(js.TelemetryMaxAge)},
		Lookup:    LookupConfig{PositiveTTL: Duration(time.Hour), NegativeTTL: Duration(15 * time.Minute)},
		// Keys rotate as the data inventory documents; 5 old keys cover
		// the 30 days raw telemetry is kept, for deletion on request.
		Pseudonym: PseudonymConfig{Rotation: Duration(inventory.PseudonymRotation), Keep: 5},
		Rules:     reputation.DefaultRules(),
		Samples:   defaultSamples(),
	}
}

// LoadConfigFile overlays the YAML file at path on c. Unknown fields are errors.
func (c *Config) LoadConfigFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

// LoadEnv overlays HERD_* environment variables on c.
func (c *Config) LoadEnv(getenv func(string) string) {
	for name, dst := range map[string]*string{
		"HERD_DATA":             &c.Data,
		"HERD_LISTEN":           &c.Listen,
		"HERD_NATS_URL":         &c.NATS.URL,
		"HERD_NATS_LISTEN":      &c.NATS.Listen,
		"HERD_LOG_LEVEL":        &c.LogLevel,
		"HERD_GEOIP_COUNTRY_DB": &c.GeoIP.CountryDB,
		"HERD_GEOIP_ASN_DB":     &c.GeoIP.ASNDB,
	} {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
}

// Validate checks every value and names the field of a bad one.
func (c *Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("config: %s = %v: %s", field, v, why)
	}
	if c.Data == "" && c.NATS.URL == "" {
		return bad("data", `""`, "a data directory is needed")
	}
	if c.Listen == "" {
		return bad("listen", `""`, "an address to listen on is needed")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("log_level", c.LogLevel, "want debug, info, warn or error")
	}
	if c.NATS.URL != "" && !strings.Contains(c.NATS.URL, "://") {
		return bad("nats.url", c.NATS.URL, "want nats://HOST:PORT")
	}
	if c.NATS.MaxMemory < 1<<20 {
		return bad("nats.max_memory", c.NATS.MaxMemory, "must be at least 1MiB")
	}
	if c.NATS.MaxStore < 1<<20 {
		return bad("nats.max_store", c.NATS.MaxStore, "must be at least 1MiB")
	}
	if _, _, err := c.syncPolicy(); err != nil {
		return bad("nats.sync", c.NATS.Sync, err.Error())
	}
	if c.NATS.PublishTimeout <= 0 {
		return bad("nats.publish_timeout", c.NATS.PublishTimeout, "must be > 0")
	}
	if c.Telemetry.DedupWindow <= 0 {
		return bad("telemetry.dedup_window", c.Telemetry.DedupWindow, "must be > 0")
	}
	if c.Telemetry.DedupMemory <= 0 {
		return bad("telemetry.dedup_memory", c.Telemetry.DedupMemory, "must be > 0")
	}
	if c.Telemetry.MaxAge < c.Telemetry.DedupWindow {
		return bad("telemetry.max_age", c.Telemetry.MaxAge, "must be at least telemetry.dedup_window")
	}
	if c.Pseudonym.Rotation < Duration(time.Hour) {
		return bad("pseudonym.rotation", c.Pseudonym.Rotation, "must be at least 1h")
	}
	if c.Pseudonym.Keep < 1 || c.Pseudonym.Keep > 100 {
		return bad("pseudonym.keep", c.Pseudonym.Keep, "must be between 1 and 100")
	}
	if time.Duration(c.Pseudonym.Rotation)*time.Duration(c.Pseudonym.Keep) < time.Duration(c.Telemetry.MaxAge) {
		return bad("pseudonym.keep", c.Pseudonym.Keep, "old keys must cover telemetry.max_age (rotation × keep), or withdrawn data could not be found")
	}
	if c.Lookup.PositiveTTL < 0 {
		return bad("lookup.positive_ttl", c.Lookup.PositiveTTL, "must be >= 0")
	}
	if c.Lookup.NegativeTTL < 0 || time.Duration(c.Lookup.NegativeTTL) > 24*time.Hour {
		return bad("lookup.negative_ttl", c.Lookup.NegativeTTL, "must be between 0 and 24h")
	}
	if err := c.Samples.validate(bad); err != nil {
		return err
	}
	if err := c.Rules.Validate(); err != nil {
		return fmt.Errorf("config: rules.%w", err)
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		return bad("tls.cert", fmt.Sprintf("%q (tls.key %q)", c.TLS.Cert, c.TLS.Key), "give both a certificate and its key, or neither")
	}
	if c.TLS.InsecureHTTP && c.TLS.Cert != "" {
		return bad("tls.insecure_http", true, "conflicts with tls.cert: choose one")
	}
	for _, h := range c.TLS.Hosts {
		if strings.TrimSpace(h) == "" || strings.ContainsAny(h, " /:") && net.ParseIP(h) == nil {
			return bad("tls.hosts", fmt.Sprintf("%q", h), "want a host name or an IP address")
		}
	}
	return nil
}

func (c *Config) syncPolicy() (always bool, interval time.Duration, err error) {
	if c.NATS.Sync == "always" {
		return true, 0, nil
	}
	d, err := time.ParseDuration(c.NATS.Sync)
	if err != nil || d <= 0 {
		return false, 0, errors.New(`want "always" or an interval such as "1s"`)
	}
	return false, d, nil
}

// Duration is a time.Duration written as "90s", "2h".
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML parses a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (e.g. 90s, 2h)", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// Size is a byte count written as 1048576, "512MiB", "10GiB".
type Size int64

func (s Size) String() string { return strconv.FormatInt(int64(s), 10) }

// UnmarshalYAML parses a size.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = Size(v)
	return nil
}

// ParseSize parses a byte count with an optional KiB, MiB, GiB or TiB suffix.
func ParseSize(s string) (int64, error) {
	mult := int64(1)
	num := s
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}} {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (e.g. 1048576, 512MiB, 10GiB)", s)
	}
	return n * mult, nil
}
