// Package inventory is Herd's data inventory: every field that may leave a
// device, declared once with its category, purpose, retention and the
// depersonalization rule applied to it. The agent sends, and the cloud
// stores, nothing the inventory does not declare: both pass every payload
// through Clean. JSON and Markdown publish the same declarations to people.
package inventory

//go:generate go run ./internal/privacydoc ../docs/PRIVACY.md

import (
	"time"

	"github.com/herdsec/herd"
)

// Rule is the depersonalization rule applied to a field, by the agent before
// sending and again by the cloud before storing (package scrub implements
// the rules; Mechanisms documents their parameters).
type Rule string

const (
	// RuleNone: enums, numbers, booleans, versions: only type, enum and
	// pattern checks. A string field with RuleNone must have an enum or a
	// pattern, so that no free-form value escapes scrubbing.
	RuleNone Rule = "none"
	// RuleHash: a file hash in hex; lower-cased, nothing else.
	RuleHash Rule = "hash"
	// RuleURL: user info, fragments, tokens, account ids, e-mails and all
	// but known-harmless query keys removed.
	RuleURL Rule = "url"
	// RulePath: user folders and user names replaced by placeholders.
	RulePath Rule = "path"
	// RuleText: free text and command lines, run through every detector.
	RuleText Rule = "text"
	// RuleIP: addresses truncated to their /24 (IPv4) or /48 (IPv6) network.
	RuleIP Rule = "ip"
	// RuleKeyed: a keyed pseudonym computed on the agent (a Wi-Fi BSSID, a
	// hardware fingerprint): the raw value never leaves the device. It must
	// look like 32 to 64 hex digits.
	RuleKeyed Rule = "keyed"
)

// Rules lists every rule in a stable order.
var Rules = []Rule{RuleNone, RuleHash, RuleURL, RulePath, RuleText, RuleIP, RuleKeyed}

// Kind is the JSON type of a field's value.
type Kind string

const (
	KindString  Kind = "string"
	KindInteger Kind = "integer"
	KindBoolean Kind = "boolean"
	KindStrings Kind = "strings" // a list of strings
)

// Where an event type's data is stored.
const (
	// DestinationTelemetry: the depersonalized telemetry store, keyed by
	// rotating device pseudonyms.
	DestinationTelemetry = "telemetry"
	// DestinationIdentity: the encrypted identity store, the only place
	// contact data goes; never joined with telemetry.
	DestinationIdentity = "identity"
)

// Field is one value an event may carry.
type Field struct {
	Name     string
	Kind     Kind
	Rule     Rule
	Purpose  string // why Herd needs it, as a person would read it
	FreeText bool   // the value may hold arbitrary text written by a person or a program
	MaxLen   int    // bytes per string, checked before scrubbing; the scrubbed value is cut to it too
	MaxItems int    // for KindStrings
	Enum     []string
	Pattern  string // an RE2 expression the whole value must match (checked before scrubbing)
	Min, Max int64  // for KindInteger
	Required bool
}

// EventType is one kind of event an agent may send.
type EventType struct {
	Name     string
	Category herd.Category
	Purpose  string
	// Retention is how long the raw event is kept; 0 means as long as the
	// person keeps it (contact data: until they remove it, withdraw consent
	// or delete their account).
	Retention   time.Duration
	Destination string // DestinationTelemetry or DestinationIdentity
	Fields      []Field
}

// Field returns the declared field called name.
func (et *EventType) Field(name string) (*Field, bool) {
	for i := range et.Fields {
		if et.Fields[i].Name == name {
			return &et.Fields[i], true
		}
	}
	return nil, false
}

// Types returns every event type, in a stable order (by category as in
// herd.Categories, then as declared). The result is a copy.
func Types() []EventType {
	out := make([]EventType, len(types))
	for i, et := range types {
		et.Fields = append([]Field(nil), et.Fields...)
		for j := range et.Fields {
			et.Fields[j].Enum = append([]string(nil), et.Fields[j].Enum...)
		}
		out[i] = et
	}
	return out
}

// Get returns the event type called name. The result is shared with the
// inventory and must not be modified.
func Get(name string) (*EventType, bool) {
	et, ok := byName[name]
	return et, ok
}

var byName = func() map[string]*EventType {
	m := make(map[string]*EventType, len(types))
	for i := range types {
		m[types[i].Name] = &types[i]
	}
	return m
}()

// Scrubber applies a rule to one string value. Package scrub implements it.
type Scrubber interface {
	// Scrub returns value depersonalized by rule. ok=false means the value
	// must be dropped (fail closed: the scrubber could not make it safe);
	// hits counts the things it removed or replaced.
	Scrub(rule Rule, value string) (out string, hits int, ok bool)
}

const day = 24 * time.Hour

// MaxRetention bounds the retention of raw telemetry.
const MaxRetention = 30 * day
