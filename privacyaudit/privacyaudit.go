// Package privacyaudit measures how anonymous stored telemetry really is:
// it groups stored events into equivalence classes over their
// quasi-identifiers (type, country, hour and the payload fields that say
// what kind of device or software sent them) and counts the classes that
// fewer than k devices share. It reads events and keeps no payload value
// beyond the quasi-identifiers, which are already generalized.
package privacyaudit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/internal/jsonwalk"
	"github.com/herdsec/herd/inventory"
)

// The audit's parameters are kept with the data inventory, which
// publishes them in docs/PRIVACY.md.
const (
	// DefaultK is the smallest number of devices a class must hold when
	// no k is given.
	DefaultK = inventory.AuditK
	// MaxK bounds k.
	MaxK = inventory.AuditMaxK
	// DefaultSmallest is how many of the smallest classes a report lists.
	DefaultSmallest = inventory.AuditSmallest
)

// ParseK reads k as given in a query (empty: DefaultK). It must be an
// integer from 2 to MaxK: k = 1 holds for every class and proves nothing.
func ParseK(s string) (int, error) {
	if s == "" {
		return DefaultK, nil
	}
	if len(s) > 8 {
		return 0, herd.Errorf(herd.EINVALID, "k: %.8q… is not a number from 2 to %d", s, MaxK)
	}
	k, err := strconv.Atoi(s)
	if err != nil {
		return 0, herd.Errorf(herd.EINVALID, "k: %q is not a number from 2 to %d", s, MaxK)
	}
	if k < 2 || k > MaxK {
		return 0, herd.Errorf(herd.EINVALID, "k: %d is out of range: it must be from 2 to %d", k, MaxK)
	}
	return k, nil
}

// DefaultFields are the payload fields taken as quasi-identifiers, by
// event type (inventory.AuditQuasiIdentifiers).
func DefaultFields() map[string][]string { return inventory.AuditQuasiIdentifiers() }

// Config sets what the audit counts.
type Config struct {
	// K is the smallest number of distinct devices a class must hold;
	// 0: DefaultK.
	K int
	// Fields are the payload quasi-identifiers by event type; nil:
	// DefaultFields. A type not listed is classed by its record fields
	// (type, country, hour) alone.
	Fields map[string][]string
	// ASN adds the network to the quasi-identifiers.
	ASN bool
	// Smallest is how many of the smallest classes to list; 0:
	// DefaultSmallest, negative: none.
	Smallest int
}

// Auditor counts equivalence classes of stored events. Its memory grows
// with the number of distinct classes, not with the number of events: a
// class is kept as a hash of its quasi-identifiers, its record count, its
// label and at most k device pseudonyms (hashed). Not safe for concurrent
// use.
type Auditor struct {
	cfg     Config
	classes map[[16]byte]*class
	events  uint64
	skipped uint64

	// Buffers reused from event to event.
	key, scratch, name []byte
	raws               [][]byte
}

type class struct {
	typ     string
	values  []Value
	records uint64
	devices [][8]byte // distinct device hashes, at most k
}

// New returns an auditor with cfg's defaults filled in.
func New(cfg Config) *Auditor {
	if cfg.K == 0 {
		cfg.K = DefaultK
	}
	if cfg.Fields == nil {
		cfg.Fields = DefaultFields()
	}
	if cfg.Smallest == 0 {
		cfg.Smallest = DefaultSmallest
	}
	return &Auditor{cfg: cfg, classes: make(map[[16]byte]*class)}
}

// Add counts one stored event. An event whose payload is not a JSON object
// is counted as skipped and placed in no class.
func (a *Auditor) Add(ev herd.StoredEvent) {
	a.events++
	key, ok := a.appendKey(a.key[:0], ev)
	if !ok {
		a.skipped++
		return
	}
	a.key = key
	sum := sha256.Sum256(key)
	var id [16]byte
	copy(id[:], sum[:])
	c := a.classes[id]
	if c == nil {
		c = &class{typ: ev.Type, values: a.values(ev.Type, key)}
		a.classes[id] = c
	}
	c.records++
	if len(c.devices) < a.cfg.K {
		d := sha256.Sum256([]byte(ev.Device))
		var dk [8]byte
		copy(dk[:], d[:])
		if !slices.Contains(c.devices, dk) {
			c.devices = append(c.devices, dk)
		}
	}
}

// hourLayout names an hour in reports.
const hourLayout = "2006-01-02T15Z"

// appendKey appends the event's class to dst: its type, then each
// quasi-identifier as a length and its text, so that no two classes share
// a key. Payload fields come in the configured order ("" when absent or
// not a scalar).
func (a *Auditor) appendKey(dst []byte, ev herd.StoredEvent) ([]byte, bool) {
	dst = appendPart(dst, ev.Type)
	dst = appendPart(dst, ev.Country)
	if a.cfg.ASN {
		dst = appendPart(dst, strconv.FormatUint(uint64(ev.ASN), 10))
	}
	a.scratch = ev.Hour.UTC().Truncate(time.Hour).AppendFormat(a.scratch[:0], hourLayout)
	dst = appendPart(dst, a.scratch)
	fields := a.cfg.Fields[ev.Type]
	if len(fields) == 0 {
		return dst, true
	}
	raws, ok := a.payloadFields(ev.Payload, fields)
	if !ok {
		return dst, false
	}
	for _, raw := range raws {
		a.scratch = appendScalar(a.scratch[:0], raw)
		dst = appendPart(dst, a.scratch)
	}
	return dst, true
}

func appendPart[T string | []byte](dst []byte, part T) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(part)))
	return append(dst, part...)
}

// payloadFields returns the raw values of fields in a JSON object payload,
// nil for each one absent (of a key given twice, the last, as
// encoding/json decides). Stored payloads are checked with json.Valid,
// which does not allocate, and then only walked.
func (a *Auditor) payloadFields(p []byte, fields []string) ([][]byte, bool) {
	if !json.Valid(p) {
		return nil, false
	}
	i := jsonwalk.SkipSpace(p, 0)
	if p[i] != '{' {
		return nil, false
	}
	a.raws = slices.Grow(a.raws[:0], len(fields))[:len(fields)]
	clear(a.raws)
	i++
	for {
		i = jsonwalk.SkipSpace(p, i)
		if p[i] == '}' {
			return a.raws, true
		}
		if p[i] == ',' {
			i = jsonwalk.SkipSpace(p, i+1)
		}
		end := jsonwalk.StringEnd(p, i)
		a.name = jsonwalk.Unquote(a.name[:0], p[i:end])
		i = jsonwalk.SkipSpace(p, end)
		i = jsonwalk.SkipSpace(p, i+1) // past ':'
		end = jsonwalk.ValueEnd(p, i)
		for k, f := range fields {
			if f == string(a.name) {
				a.raws[k] = p[i:end]
			}
		}
		i = end
	}
}

// appendScalar appends a JSON scalar as text: a string's text, true,
// false, a number as written; nothing for null, objects, arrays and absent
// fields.
func appendScalar(dst, raw []byte) []byte {
	if len(raw) == 0 {
		return dst
	}
	switch raw[0] {
	case '"':
		return jsonwalk.Unquote(dst, raw)
	case 'n', '{', '[':
		return dst
	}
	return append(dst, raw...)
}

// values decodes a class key into the quasi-identifiers it names; it runs
// once per class.
func (a *Auditor) values(typ string, key []byte) []Value {
	names := []string{"country"}
	if a.cfg.ASN {
		names = append(names, "asn")
	}
	names = append(names, "hour")
	names = append(names, a.cfg.Fields[typ]...)
	values := make([]Value, 0, len(names))
	_, key = nextPart(key) // the type
	for _, n := range names {
		var v []byte
		v, key = nextPart(key)
		values = append(values, Value{Name: n, Value: string(v)})
	}
	return values
}

func nextPart(key []byte) (part, rest []byte) {
	n, w := binary.Uvarint(key)
	return key[w : w+int(n)], key[w+int(n):]
}

// Value is one quasi-identifier of a class.
type Value struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Class is one equivalence class in a report.
type Class struct {
	Type   string  `json:"type"`
	Values []Value `json:"values"`
	// Records is how many stored events the class holds.
	Records uint64 `json:"records"`
	// Devices is how many distinct devices sent them, counted up to k.
	Devices int `json:"devices"`
}

// Label renders the class's quasi-identifiers as name=value pairs.
func (c Class) Label() string {
	parts := make([]string, 0, len(c.Values)+1)
	parts = append(parts, c.Type)
	for _, v := range c.Values {
		val := v.Value
		if val == "" {
			val = "-"
		}
		parts = append(parts, v.Name+"="+val)
	}
	return strings.Join(parts, " ")
}

// TypeReport is the audit of one event type.
type TypeReport struct {
	Type             string   `json:"type"`
	QuasiIdentifiers []string `json:"quasi_identifiers"`
	Records          uint64   `json:"records"`
	Classes          uint64   `json:"classes"`
	ClassesBelowK    uint64   `json:"classes_below_k"`
	RecordsBelowK    uint64   `json:"records_below_k"`
}

// SecondPass reports what the cloud's second scrubbing pass removed that
// agents should already have removed.
type SecondPass struct {
	// Available is false when the count could not be read.
	Available bool              `json:"available"`
	ByType    map[string]uint64 `json:"by_type,omitempty"`
	Total     uint64            `json:"total"`
	Note      string            `json:"note"`
}

// Budget reports the differential privacy budget spent.
type Budget struct {
	Available bool   `json:"available"`
	Note      string `json:"note"`
}

// Report is the result of an audit.
type Report struct {
	K                int          `json:"k"`
	QuasiIdentifiers []string     `json:"quasi_identifiers"` // the record fields every class uses
	Records          uint64       `json:"records"`
	Skipped          uint64       `json:"skipped"` // payload not a JSON object: in no class
	Classes          uint64       `json:"classes"`
	ClassesBelowK    uint64       `json:"classes_below_k"`
	RecordsBelowK    uint64       `json:"records_below_k"`
	Types            []TypeReport `json:"types"`
	// Smallest lists the smallest classes below k, fewest devices first.
	Smallest   []Class    `json:"smallest"`
	SecondPass SecondPass `json:"second_pass"`
	Budget     Budget     `json:"budget"`
}

// BudgetNotAvailable is the budget part of a report while the cloud keeps
// no privacy budget ledger.
var BudgetNotAvailable = Budget{Available: false, Note: "the cloud keeps no differential privacy budget ledger yet: the budget spent cannot be reported"}

// Report summarizes what was added. SecondPass and Budget are left for
// the caller, which knows where they are kept.
func (a *Auditor) Report() Report {
	r := Report{K: a.cfg.K, Records: a.events, Skipped: a.skipped, Classes: uint64(len(a.classes)), Budget: BudgetNotAvailable}
	r.QuasiIdentifiers = []string{"type", "country"}
	if a.cfg.ASN {
		r.QuasiIdentifiers = append(r.QuasiIdentifiers, "asn")
	}
	r.QuasiIdentifiers = append(r.QuasiIdentifiers, "hour")
	types := make(map[string]*TypeReport)
	var small []*class
	for _, c := range a.classes {
		t := types[c.typ]
		if t == nil {
			t = &TypeReport{Type: c.typ, QuasiIdentifiers: append([]string(nil), a.cfg.Fields[c.typ]...)}
			types[c.typ] = t
		}
		t.Records += c.records
		t.Classes++
		if len(c.devices) < a.cfg.K {
			t.ClassesBelowK++
			t.RecordsBelowK += c.records
			r.ClassesBelowK++
			r.RecordsBelowK += c.records
			small = append(small, c)
		}
	}
	for _, t := range types {
		r.Types = append(r.Types, *t)
	}
	sort.Slice(r.Types, func(i, j int) bool { return r.Types[i].Type < r.Types[j].Type })
	classes := make([]Class, len(small))
	labels := make([]string, len(small))
	for i, c := range small {
		classes[i] = Class{Type: c.typ, Values: c.values, Records: c.records, Devices: len(c.devices)}
		labels[i] = classes[i].Label()
	}
	sort.Sort(byDevices{classes, labels})
	if a.cfg.Smallest > 0 && len(classes) > a.cfg.Smallest {
		classes = classes[:a.cfg.Smallest]
	} else if a.cfg.Smallest < 0 {
		classes = nil
	}
	r.Smallest = classes
	if r.Types == nil {
		r.Types = []TypeReport{}
	}
	if r.Smallest == nil {
		r.Smallest = []Class{}
	}
	return r
}

// byDevices orders classes by device count, then label, for a report
// that reads the same every time.
type byDevices struct {
	classes []Class
	labels  []string
}

func (b byDevices) Len() int { return len(b.classes) }
func (b byDevices) Less(i, j int) bool {
	if b.classes[i].Devices != b.classes[j].Devices {
		return b.classes[i].Devices < b.classes[j].Devices
	}
	return b.labels[i] < b.labels[j]
}
func (b byDevices) Swap(i, j int) {
	b.classes[i], b.classes[j] = b.classes[j], b.classes[i]
	b.labels[i], b.labels[j] = b.labels[j], b.labels[i]
}
