// Package httpapi is Herd's wire API: the agent API v1 and the admin API as
// JSON over HTTP (documented in api/openapi.yaml), with a Go client.
package httpapi

import (
	"github.com/herdsec/herd"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/ingest"
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
	maxConsentBody     = 64 << 10
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
	Device string       `json:"device"` // the agent's device id; the cloud keeps only keyed pseudonyms of it
	Events []herd.Event `json:"events"`
}

// TelemetryResponse says what was stored, and which events were rejected
// (code consent or invalid: nothing of them is kept) or lost fields.
type TelemetryResponse = herd.IngestResult

// ConsentRequest is the body of POST /v1/consent.
type ConsentRequest struct {
	Device string         `json:"device"`
	Record consent.Record `json:"record"`
}

// ConsentResponse confirms the record and the deletions it caused.
type ConsentResponse = ingest.Receipt

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

// ExplainResponse is the answer of GET /v1/admin/verdict/explain: the
// verdict, the evidence the fleet reported and every decision with reasons.
type ExplainResponse struct {
	Record   herd.Record         `json:"record"`
	Stored   bool                `json:"stored"`
	Evidence *herd.Evidence      `json:"evidence,omitempty"`
	History  []herd.HistoryEntry `json:"history"`
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
