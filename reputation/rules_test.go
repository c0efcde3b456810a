package reputation

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

func evidence(detected map[string]int, installs map[string]int) herd.Evidence {
	ev := herd.Evidence{Object: herd.Object{Kind: herd.KindSHA256, Value: strings.Repeat("a", 64)}}
	ev.Seen(time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC))
	for method, k := range detected {
		for i := range k {
			ev.AddDetection(method, fmt.Sprintf("lic-%d", i)) // the same licences across methods
		}
	}
	for pub, k := range installs {
		for i := range k {
			ev.AddInstall(pub, fmt.Sprintf("inst-%d", i))
		}
	}
	ev.AddThreatName("Trojan.Test")
	return ev
}

func TestRulesEvaluate(t *testing.T) {
	r := DefaultRules() // malicious 3, suspicious 2, clean 10
	for _, tt := range []struct {
		name               string
		detected, installs map[string]int
		want               herd.Verdict
		reason             string
	}{
		{"nothing", nil, nil, herd.VerdictUnknown, ""},
		{"one source", map[string]int{"signature": 1}, nil, herd.VerdictUnknown, ""},
		{"two sources", map[string]int{"signature": 2}, nil, herd.VerdictSuspicious, "detected on 2 independent sources (signature: 2); 2 make it suspicious, 3 malicious"},
		{"three sources", map[string]int{"behaviour": 3}, nil, herd.VerdictMalicious, "detected on 3 independent sources (behaviour: 3); the rule asks for 3"},
		{"one licence, two methods", map[string]int{"signature": 1, "behaviour": 1}, nil, herd.VerdictUnknown, ""},
		{"installed widely", nil, map[string]int{"Mozilla": 10}, herd.VerdictClean, `installed from "Mozilla" on 10 independent sources and never detected`},
		{"installed on too few", nil, map[string]int{"Mozilla": 9}, herd.VerdictUnknown, ""},
		{"conflict", map[string]int{"heuristic": 1}, map[string]int{"Mozilla": 10}, herd.VerdictSuspicious, "conflicting evidence: detected on 1 independent sources (heuristic: 1) and installed from \"Mozilla\" on 10"},
		{"conflict beats malicious", map[string]int{"signature": 5}, map[string]int{"Acme": 12}, herd.VerdictSuspicious, "conflicting evidence"},
	} {
		d := r.Evaluate(evidence(tt.detected, tt.installs))
		if d.Verdict != tt.want {
			t.Errorf("%s: verdict %s, want %s (%v)", tt.name, d.Verdict, tt.want, d.Reasons)
			continue
		}
		if tt.reason != "" && (len(d.Reasons) == 0 || !strings.Contains(d.Reasons[0], tt.reason)) {
			t.Errorf("%s: reasons %q, want %q", tt.name, d.Reasons, tt.reason)
		}
		if d.Verdict == herd.VerdictMalicious && d.Threat != "Trojan.Test" {
			t.Errorf("%s: threat %q", tt.name, d.Threat)
		}
	}
}

func TestRulesValidate(t *testing.T) {
	for _, tt := range []struct {
		r    Rules
		want string
	}{
		{Rules{MaliciousSources: 0, SuspiciousSources: 1, CleanSources: 1, DeviceRate: 1}, "malicious_sources = 0"},
		{Rules{MaliciousSources: 2, SuspiciousSources: 3, CleanSources: 1, DeviceRate: 1}, "suspicious_sources = 3"},
		{Rules{MaliciousSources: 2, SuspiciousSources: 1, CleanSources: 0, DeviceRate: 1}, "clean_sources = 0"},
		{Rules{MaliciousSources: 2, SuspiciousSources: 1, CleanSources: 300, DeviceRate: 1}, "clean_sources = 300: must be ≤ 256"},
		{Rules{MaliciousSources: 2, SuspiciousSources: 1, CleanSources: 1, DeviceRate: 0}, "device_rate = 0"},
	} {
		if err := tt.r.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%+v: %v, want %q", tt.r, err, tt.want)
		}
	}
	if err := DefaultRules().Validate(); err != nil {
		t.Fatal(err)
	}
}

// One device's reports beyond DeviceRate in an hour are ignored and counted.
func TestEngineDeviceRate(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 10, 0, 0, time.UTC)
	e := &Engine{Rules: Rules{DeviceRate: 3}, Now: func() time.Time { return now }}
	for i := range 3 {
		if !e.allow("dev") {
			t.Fatalf("report %d refused", i+1)
		}
	}
	if e.allow("dev") || !e.allow("other") || e.Limited() != 1 {
		t.Fatalf("over the rate: limited %d", e.Limited())
	}
	now = now.Add(time.Hour)
	if !e.allow("dev") {
		t.Fatal("a new hour starts afresh")
	}
}
