package main

import "github.com/herdsec/herd/httpapi"

// SamplesConfig sets how suspicious-file samples are taken.
type SamplesConfig struct {
	// MaxBytes caps one upload; a larger file is refused (413).
	MaxBytes Size `yaml:"max_bytes"`
}

// maxSampleCap bounds samples.max_bytes: a sample is held in memory while
// it is checked and sealed.
const maxSampleCap = 1 << 30

func defaultSamples() SamplesConfig {
	return SamplesConfig{MaxBytes: httpapi.DefaultMaxSampleBytes}
}

func (s SamplesConfig) validate(bad func(field string, v any, why string) error) error {
	if s.MaxBytes < 1 || s.MaxBytes > maxSampleCap {
		return bad("samples.max_bytes", s.MaxBytes, "must be between 1 and 1GiB")
	}
	return nil
}
