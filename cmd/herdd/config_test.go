package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newTestMain(env map[string]string) *Main {
	m := NewMain()
	m.Getenv = func(k string) string { return env[k] }
	return m
}

func TestConfigDefaults(t *testing.T) {
	m := newTestMain(nil)
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Data != "./herd-data" || c.Listen != "127.0.0.1:8440" || c.NATS.URL != "" || c.NATS.Listen != "" {
		t.Fatalf("defaults: %+v", c)
	}
	if c.NATS.MaxMemory != 256<<20 || c.NATS.MaxStore != 10<<30 || c.NATS.Sync != "1s" {
		t.Fatalf("JetStream limits must be explicit: %+v", c.NATS)
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "herdd.yaml", "data: /from/file\nlisten: 127.0.0.1:1\nnats:\n  max_store: 2GiB\n  sync: always\nlookup:\n  negative_ttl: 10m\n")
	m := newTestMain(map[string]string{"HERD_CONFIG": file, "HERD_LISTEN": "127.0.0.1:2"})
	if err := m.ParseFlags([]string{"--data", "/from/flag"}); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Data != "/from/flag" || c.Listen != "127.0.0.1:2" || c.NATS.MaxStore != 2<<30 || c.NATS.Sync != "always" || time.Duration(c.Lookup.NegativeTTL) != 10*time.Minute {
		t.Fatalf("config = %+v", c)
	}
}

func TestConfigErrorsNameTheField(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"datta: x\n", `field datta not found`},
		{"nats:\n  max_stor: 1GiB\n", `field max_stor not found`},
		{"nats:\n  max_store: lots\n", `"lots" is not a size`},
		{"nats:\n  max_memory: 12\n", `nats.max_memory = 12: must be at least 1MiB`},
		{"nats:\n  sync: sometimes\n", `nats.sync = sometimes`},
		{"lookup:\n  negative_ttl: 48h\n", `lookup.negative_ttl = 48h0m0s: must be between 0 and 24h`},
		{"telemetry:\n  dedup_window: soon\n", `"soon" is not a duration`},
		{"log_level: loud\n", `log_level = loud`},
		{"nats:\n  url: localhost:4222\n", `nats.url = localhost:4222`},
		{"rules:\n  malicious_sources: 0\n", `config: rules.malicious_sources = 0: must be ≥ 1`},
		{"rules:\n  clean_source: 3\n", `field clean_source not found`},
		{"telemetry:\n  dedup_memory: 0\n", `telemetry.dedup_memory = 0: must be > 0`},
	} {
		m := newTestMain(nil)
		err := m.ParseFlags([]string{"--config", writeFile(t, "c.yaml", tt.yaml)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: err = %v, want it to contain %q", tt.yaml, err, tt.want)
		}
	}
	if err := newTestMain(nil).ParseFlags([]string{"stray"}); err == nil {
		t.Error("a stray argument must be refused")
	}
}

func TestAdminTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), TokenFile)
	tok, created, err := loadOrCreateToken(path)
	if err != nil || !created || len(tok) != 64 {
		t.Fatalf("create: %q %v %v", tok, created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	again, created, err := loadOrCreateToken(path)
	if err != nil || created || again != tok {
		t.Fatalf("reload: %q %v %v", again, created, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadOrCreateToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable token must be refused, got %v", err)
	}
}

// FuzzConfig feeds arbitrary YAML to the config loader: it never panics, and
// whatever it accepts and validates holds values within their limits.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{"data: /x\n", "nats:\n  max_store: 2GiB\n  sync: always\n", "lookup: {negative_ttl: 25h}\n", "telemetry:\n  max_age: 1h\n  dedup_window: 2h\n", "[1,2]", "nats: 3"} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, s string) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		c := DefaultConfig()
		if err := c.LoadConfigFile(p); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			if !strings.HasPrefix(err.Error(), "config: ") {
				t.Fatalf("error %q does not name the config", err)
			}
			return
		}
		if c.NATS.MaxStore < 1<<20 || time.Duration(c.Lookup.NegativeTTL) > 24*time.Hour || c.Telemetry.MaxAge < c.Telemetry.DedupWindow {
			t.Fatalf("accepted out-of-range config %+v", c)
		}
	})
}
