package main

import (
	"strings"
	"testing"
)

func TestConfigSamples(t *testing.T) {
	m := newTestMain(nil)
	if err := m.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	if m.Config.Samples.MaxBytes != 32<<20 {
		t.Fatalf("samples.max_bytes defaults to %d, want 32MiB", m.Config.Samples.MaxBytes)
	}
	m = newTestMain(nil)
	if err := m.ParseFlags([]string{"--config", writeFile(t, "c.yaml", "samples:\n  max_bytes: 8MiB\n")}); err != nil {
		t.Fatal(err)
	}
	if m.Config.Samples.MaxBytes != 8<<20 {
		t.Fatalf("samples.max_bytes = %d, want 8MiB as configured", m.Config.Samples.MaxBytes)
	}
	for _, tt := range []struct{ yaml, want string }{
		{"samples:\n  max_bytes: 0\n", "samples.max_bytes = 0: must be between 1 and 1GiB"},
		{"samples:\n  max_bytes: 2GiB\n", "samples.max_bytes = 2147483648: must be between 1 and 1GiB"},
		{"samples:\n  max_byte: 1\n", "field max_byte not found"},
	} {
		err := newTestMain(nil).ParseFlags([]string{"--config", writeFile(t, "c.yaml", tt.yaml)})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("config %q: err = %v, want it to contain %q", tt.yaml, err, tt.want)
		}
	}
}
