package interop

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/herdsec/herd"
)

// Herd's custom STIX properties (STIX 2.1, section 11.1). They carry what
// the standard properties cannot, so that a bundle written by EncodeSTIX
// decodes to the records it was made from.
const (
	// propThreat holds the threat name when the indicator's name is not it:
	// a generated name for a record without one.
	propThreat = "x_herd_threat"
	// propSource holds the record's source (operator, import, rules…).
	propSource = "x_herd_source"
)

// IndicatorID returns the STIX id of the indicator EncodeSTIX writes for
// obj (normalized): a UUIDv5 of the object, the same in every export, so
// that tools that import an export again update their indicator instead
// of adding another.
func IndicatorID(obj herd.Object) string {
	return "indicator--" + uuidV5(herdNamespace, obj.String()).String()
}

// stixIndicator is the indicator EncodeSTIX writes, in this field order.
type stixIndicator struct {
	Type           string   `json:"type"`
	SpecVersion    string   `json:"spec_version"`
	ID             string   `json:"id"`
	Created        string   `json:"created"`
	Modified       string   `json:"modified"`
	Name           string   `json:"name"`
	IndicatorTypes []string `json:"indicator_types"`
	Pattern        string   `json:"pattern"`
	PatternType    string   `json:"pattern_type"`
	PatternVersion string   `json:"pattern_version"`
	ValidFrom      string   `json:"valid_from"`
	Threat         *string  `json:"x_herd_threat,omitempty"`
	Source         string   `json:"x_herd_source,omitempty"`
}

// indicatorTypes maps verdicts to the STIX indicator-type vocabulary.
var indicatorTypes = map[herd.Verdict]string{
	herd.VerdictMalicious:  "malicious-activity",
	herd.VerdictSuspicious: "anomalous-activity",
	herd.VerdictClean:      "benign",
}

// EncodeSTIX writes recs, in order, as a STIX 2.1 bundle with one
// indicator per record: its pattern matches the object, its
// indicator_types say the verdict, its name is the threat name (or one
// made up from the verdict and object), and created, modified and
// valid_from are the record's update time to the millisecond. The bundle's
// id is derived from its content, so the same records give the same bytes.
// Objects are written normalized (herd.Object.Normalize); a record that
// would not decode again (Record.Validate) is an error and nothing is
// written.
func EncodeSTIX(w io.Writer, recs []herd.Record) error {
	sum := sha256.New()
	recs = slices.Clone(recs)
	for i, r := range recs {
		r, err := checkRecord(i, r)
		if err != nil {
			return err
		}
		recs[i] = r
		fmt.Fprintf(sum, "%s\x00%s\x00%s\x00%s\x00%s\x00", r.Object, r.Verdict, r.Threat, r.Source, r.Updated.UTC().Format(stixTime))
	}
	bundleID := "bundle--" + uuidV5(herdNamespace, "bundle:"+hex.EncodeToString(sum.Sum(nil))).String()

	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "{\n  \"type\": \"bundle\",\n  \"id\": %q", bundleID)
	if len(recs) > 0 {
		// STIX forbids empty lists: an empty bundle has no objects property.
		bw.WriteString(",\n  \"objects\": [\n")
	}
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false) // URLs stay readable: & not \u0026
	for i, r := range recs {
		ts := r.Updated.UTC().Format(stixTime)
		in := stixIndicator{
			Type:           "indicator",
			SpecVersion:    "2.1",
			ID:             IndicatorID(r.Object),
			Created:        ts,
			Modified:       ts,
			Name:           r.Threat,
			IndicatorTypes: []string{indicatorTypes[r.Verdict]},
			Pattern:        formatPattern(r.Object),
			PatternType:    "stix",
			PatternVersion: "2.1",
			ValidFrom:      ts,
			Source:         r.Source,
		}
		if in.Name == "" {
			in.Name = fmt.Sprintf("herd %s %s", r.Verdict, r.Object)
		}
		if threatFromName(in.Name, r.Object.Value) != r.Threat {
			in.Threat = &r.Threat
		}
		line.Reset()
		if err := enc.Encode(in); err != nil {
			return fmt.Errorf("record %d (%s): %w", i, r.Object, err)
		}
		bw.WriteString("    ")
		bw.Write(bytes.TrimSuffix(line.Bytes(), []byte("\n")))
		if i < len(recs)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	if len(recs) > 0 {
		bw.WriteString("  ]")
	}
	bw.WriteString("\n}\n")
	return bw.Flush()
}

// STIXResult is what DecodeSTIX found in a bundle.
type STIXResult struct {
	// Records holds one record per object, in the order in which the
	// objects first appear. Source is empty unless the bundle names it.
	Records []herd.Record
	// Skipped counts the objects that gave no record, by reason, e.g.
	// "identity (not an indicator)": 1, "revoked": 2.
	Skipped map[string]int
}

// maxProblems bounds the problems an error lists; its message counts all.
const maxProblems = 20

// DecodeSTIX reads a STIX 2.1 (or 2.0) bundle and returns a record for
// each indicator that names one object with a verdict:
//
//   - the pattern must be a single equality comparison of
//     file:hashes.MD5, 'SHA-1' or 'SHA-256' (also written SHA1, SHA256),
//     url:value, domain-name:value, ipv4-addr:value or ipv6-addr:value;
//   - indicator_types give the verdict: malicious-activity, attribution
//     and compromised are malicious, anomalous-activity is suspicious,
//     benign is clean, the worst one wins. Without any of them, labels
//     are read the same way (STIX 2.0 kept the indicator type there, and
//     "malicious" counts too); an indicator with neither is skipped;
//   - the threat name is the indicator's name, unless that only repeats
//     the observable's value (as OpenCTI's names do);
//   - Updated is the modified time (else created), to the millisecond.
//
// Other objects, revoked indicators, indicators whose pattern_type is not
// stix, those expired at now (valid_until; a zero now checks nothing) and
// older indicators of an object that a later one also names are skipped
// and counted. A bundle that does not parse, an object without a type, or
// an indicator that cannot be read is an *herd.Error (EINVALID) that lists
// each problem with its index in objects, and no records are returned.
// name is the file's name, for messages.
func DecodeSTIX(r io.Reader, name string, now time.Time) (STIXResult, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return STIXResult{}, fmt.Errorf("read %s: %w", name, err)
	}
	var bundle map[string]json.RawMessage
	if err := json.Unmarshal(data, &bundle); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			line := 1 + bytes.Count(data[:min(int(syn.Offset), len(data))], []byte("\n"))
			return STIXResult{}, herd.Errorf(herd.EINVALID, "%s:%d: not valid JSON: %s", name, line, strings.TrimPrefix(syn.Error(), "json: "))
		}
		return STIXResult{}, herd.Errorf(herd.EINVALID, "%s: not a STIX bundle (want a JSON object with \"type\": \"bundle\")", name)
	}
	if bundle == nil {
		return STIXResult{}, herd.Errorf(herd.EINVALID, "%s: not a STIX bundle (want a JSON object with \"type\": \"bundle\")", name)
	}
	fields := props{fields: bundle}
	typ, ok := fields.str("type")
	if fields.err == nil && (!ok || typ != "bundle") {
		fields.fail("type", fmt.Sprintf("%q: want \"bundle\"", clip(typ)))
	}
	var objects []json.RawMessage
	if raw, ok := bundle["objects"]; ok && fields.err == nil {
		if json.Unmarshal(raw, &objects) != nil {
			fields.fail("objects", "want a list of STIX objects")
		}
	}
	if fields.err != nil {
		return STIXResult{}, herd.Errorf(herd.EINVALID, "%s: not a STIX bundle: field %q: %s", name, fields.err.Field, fields.err.Message)
	}

	res := STIXResult{Skipped: map[string]int{}}
	var problems []herd.Problem
	seen := map[herd.Object]int{} // index in res.Records
	for i, raw := range objects {
		rec, skip, p := decodeObject(raw, now)
		switch {
		case p != nil:
			p.Index = i
			problems = append(problems, *p)
		case skip != "":
			res.Skipped[skip]++
		default:
			j, dup := seen[rec.Object]
			if !dup {
				seen[rec.Object] = len(res.Records)
				res.Records = append(res.Records, rec)
				continue
			}
			if !rec.Updated.Before(res.Records[j].Updated) {
				res.Records[j] = rec
			}
			res.Skipped["superseded by a later indicator of the same object"]++
		}
	}
	if len(problems) > 0 {
		return STIXResult{}, &herd.Error{
			Code:     herd.EINVALID,
			Message:  fmt.Sprintf("%s: %d of %d objects invalid", name, len(problems), len(objects)),
			Problems: problems[:min(len(problems), maxProblems)],
		}
	}
	return res, nil
}

// patternTypes is the STIX pattern-type vocabulary, for skip reasons.
var patternTypes = map[string]bool{"pcre": true, "sigma": true, "snort": true, "suricata": true, "yara": true}

// decodeObject reads one object of a bundle: a record, or the reason it
// gives none, or a problem (without its index).
func decodeObject(raw json.RawMessage, now time.Time) (rec herd.Record, skip string, p *herd.Problem) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil || fields == nil {
		return rec, "", &herd.Problem{Message: "not a JSON object"}
	}
	o := props{fields: fields}
	typ, ok := o.str("type")
	if !ok && o.err == nil {
		o.fail("type", "missing")
	}
	if o.err == nil && !isTypeName(typ) {
		o.fail("type", fmt.Sprintf("%q: not a STIX object type", clip(typ)))
	}
	if o.err != nil {
		return rec, "", o.err
	}
	if typ != "indicator" {
		return rec, clip(typ) + " (not an indicator)", nil
	}

	id, _ := o.str("id")
	if o.err == nil && !(strings.HasPrefix(id, "indicator--") && isUUID(strings.TrimPrefix(id, "indicator--"))) {
		o.fail("id", fmt.Sprintf("%q: want indicator--UUID", clip(id)))
	}
	o.id = id
	revoked := o.boolean("revoked")
	patternType, _ := o.str("pattern_type")
	patternType = strings.ToLower(patternType)
	pattern, hasPattern := o.str("pattern")
	types := o.strs("indicator_types")
	labels := o.strs("labels")
	indName, _ := o.str("name")
	threat, hasThreat := o.str(propThreat)
	source, _ := o.str(propSource)
	until := o.time("valid_until")
	updated := o.time("modified")
	if _, ok := fields["modified"]; !ok {
		updated = o.time("created")
	}
	if o.err != nil {
		return rec, "", o.err
	}

	switch {
	case revoked:
		return rec, "revoked", nil
	case patternType != "" && patternType != "stix":
		if !patternTypes[patternType] {
			patternType = "other"
		}
		return rec, "pattern_type " + patternType + " (not a STIX pattern)", nil
	case !now.IsZero() && !until.IsZero() && !until.After(now):
		return rec, "expired (valid_until has passed)", nil
	}
	v := verdictOf(types)
	if v == herd.VerdictUnknown {
		v = verdictOf(labels)
	}
	if v == herd.VerdictUnknown {
		return rec, "no verdict in indicator_types or labels", nil
	}

	if !hasPattern {
		return rec, "", o.problem("pattern", "missing")
	}
	obj, value, err := parsePattern(pattern)
	if err == nil {
		obj, err = obj.Normalize()
	}
	if err != nil {
		return rec, "", o.problem("pattern", fmt.Sprintf("%q: %s", clip(pattern), herd.ErrorMessage(err)))
	}
	if !hasThreat {
		threat = threatFromName(indName, value, obj.Value)
	} else if len(threat) > herd.MaxThreatName || strings.IndexFunc(threat, unicode.IsControl) >= 0 {
		return rec, "", o.problem(propThreat, fmt.Sprintf("longer than %d bytes or holds control characters", herd.MaxThreatName))
	}
	if err := checkSource(source); err != nil {
		return rec, "", o.problem(propSource, herd.ErrorMessage(err))
	}
	return herd.Record{Object: obj, Verdict: v, Threat: threat, Source: source, Updated: updated.Truncate(time.Millisecond)}, "", nil
}

// verdictOf maps indicator types (or STIX 2.0 labels) to a verdict: the
// worst one named, or VerdictUnknown.
func verdictOf(types []string) herd.Verdict {
	worst := herd.VerdictUnknown
	for _, t := range types {
		var v herd.Verdict
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "malicious-activity", "attribution", "compromised", "malicious":
			v = herd.VerdictMalicious
		case "anomalous-activity":
			v = herd.VerdictSuspicious
		case "benign":
			v = herd.VerdictClean
		}
		if v.Severity() > worst.Severity() {
			worst = v
		}
	}
	return worst
}

// threatFromName turns an indicator's name into a threat name: control
// characters become spaces, the length is cut to herd.MaxThreatName, and a
// name that only repeats the observable's value gives none.
func threatFromName(name string, values ...string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if len(name) > herd.MaxThreatName {
		n := herd.MaxThreatName
		for n > 0 && !utf8.RuneStart(name[n]) {
			n--
		}
		name = strings.TrimSpace(name[:n])
	}
	for _, v := range values {
		if strings.EqualFold(name, v) {
			return ""
		}
	}
	return name
}

// isTypeName reports whether s is a STIX type name: 3 to 250 lower-case
// letters, digits and hyphens. (Some producers write shorter custom names;
// only the characters matter for safe messages.)
func isTypeName(s string) bool {
	if s == "" || len(s) > 250 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// props reads the properties of one STIX object and keeps the first
// problem, so that a caller reads every property and checks once.
type props struct {
	fields map[string]json.RawMessage
	id     string // for problems
	err    *herd.Problem
}

func (o *props) problem(field, msg string) *herd.Problem {
	if o.id != "" {
		msg = o.id + ": " + msg
	}
	return &herd.Problem{Field: field, Message: msg}
}

func (o *props) fail(field, msg string) {
	if o.err == nil {
		o.err = o.problem(field, msg)
	}
}

// str returns a string property and whether it is present.
func (o *props) str(key string) (string, bool) {
	raw, ok := o.fields[key]
	if !ok {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		o.fail(key, "want a string")
	}
	return s, true
}

func (o *props) strs(key string) []string {
	raw, ok := o.fields[key]
	if !ok {
		return nil
	}
	var s []string
	if json.Unmarshal(raw, &s) != nil {
		o.fail(key, "want a list of strings")
	}
	return s
}

func (o *props) boolean(key string) bool {
	raw, ok := o.fields[key]
	if !ok {
		return false
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		o.fail(key, "want true or false")
	}
	return b
}

func (o *props) time(key string) time.Time {
	s, ok := o.str(key)
	if !ok || o.err != nil {
		return time.Time{}
	}
	t, err := parseTime(s)
	if err != nil {
		o.fail(key, herd.ErrorMessage(err))
	}
	return t
}
