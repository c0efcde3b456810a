// Package httpapi is Herd's wire API: the agent API v1 and the admin API as
// JSON over HTTP (documented in api/openapi.yaml), with a Go client.
package httpapi

import (
	"github.com/herdsec/herd"
)

// Limits of the agent API.
const (
	MaxLookupObjects   = 1000
	MaxTelemetryEvents = 1000
	MaxAdminVerdicts   = 10000
	MaxEventIDLen      = 128
	MaxPayloadBytes    = 64 << 10
	maxLookupBody      = 8 << 20
	maxTelemetryBody   = 16 << 20
	maxAdminBody       = 32 << 20
)

// LookupRequest is the body of POST /v1/lookup.
type LookupRequest struct {
	Objects []herd.Object `json:"objects"`
}

// Answer is the verdict of one looked-up object.
type Answer struct {
	Kind    herd.Kind    `json:"kind"`
	Value   string       `json:"value"`
	Verdict herd.Verdict `json:"verdict"`
	Threat  string       `json:"threat,omitempty"`
	Source  string       `json:"source,omitempty"`
	Test    bool         `json:"test,omitempty"`
	// TTL is how many seconds the agent may cache this answer: the
	// positive TTL for a known verdict, the negative TTL for unknown.
	TTL int `json:"ttl"`
}

// LookupResponse answers a lookup, in the order of the request.
type LookupResponse struct {
	Results     []Answer `json:"results"`
	PositiveTTL int      `json:"positive_ttl"`
	NegativeTTL int      `json:"negative_ttl"`
}

// TelemetryRequest is the body of POST /v1/telemetry.
type TelemetryRequest struct {
	Events []herd.Event `json:"events"`
}

// TelemetryResponse says what was stored.
type TelemetryResponse = herd.AppendResult

// VerdictInput is one verdict set through the admin API.
type VerdictInput struct {
	Kind    herd.Kind    `json:"kind"`
	Value   string       `json:"value"`
	Verdict herd.Verdict `json:"verdict"`
	Threat  string       `json:"threat,omitempty"`
	Source  string       `json:"source,omitempty"` // operator (default) or import
}

// SetVerdictsRequest is the body of POST /v1/admin/verdicts.
type SetVerdictsRequest struct {
	Verdicts []VerdictInput `json:"verdicts"`
}

// SetVerdictsResponse says how many verdicts were stored and the sequence
// number of the last change.
type SetVerdictsResponse struct {
	Stored int    `json:"stored"`
	Seq    uint64 `json:"seq"`
}

// VerdictResponse is the answer of GET /v1/admin/verdict.
type VerdictResponse struct {
	Record herd.Record `json:"record"`
	Stored bool        `json:"stored"` // false: built in or unknown
}

// TelemetryStats is the answer of GET /v1/admin/telemetry/stats.
type TelemetryStats = herd.TelemetryStats

// ErrorBody is the body of every error answer.
type ErrorBody struct {
	Error struct {
		Code     string         `json:"code"`
		Message  string         `json:"message"`
		Problems []herd.Problem `json:"problems,omitempty"`
	} `json:"error"`
}
