package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/rules/bundle"
	"github.com/herdsec/herd/audit"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/dsr"
	"github.com/herdsec/herd/identity"
	"github.com/herdsec/herd/ingest"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/privacyaudit"
	"github.com/herdsec/herd/transparency"
)

// The tests in this file keep api/openapi.yaml true: every route, every wire
// field, every enum and every limit it documents is compared with the code,
// both ways, so that a change on either side alone fails.

const openAPIPath = "../api/openapi.yaml"

// openAPI is the part of an OpenAPI 3.1 document that Herd's document uses. Decoding
// is strict (KnownFields), so a misspelt keyword fails instead of being
// silently ignored.
type openAPI struct {
	OpenAPI    string                           `yaml:"openapi"`
	Info       map[string]any                   `yaml:"info"`
	Servers    []map[string]any                 `yaml:"servers"`
	Tags       []map[string]any                 `yaml:"tags"`
	Security   []map[string][]string            `yaml:"security"`
	Paths      map[string]map[string]*operation `yaml:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type        string `yaml:"type"`
			Scheme      string `yaml:"scheme"`
			Description string `yaml:"description"`
		} `yaml:"securitySchemes"`
		Responses map[string]*response `yaml:"responses"`
		Schemas   map[string]*schema   `yaml:"schemas"`
	} `yaml:"components"`
}

type operation struct {
	OperationID string                `yaml:"operationId"`
	Tags        []string              `yaml:"tags"`
	Summary     string                `yaml:"summary"`
	Description string                `yaml:"description"`
	Security    []map[string][]string `yaml:"security"`
	Roles       []string              `yaml:"x-roles"`
	Parameters  []struct {
		Name        string  `yaml:"name"`
		In          string  `yaml:"in"`
		Required    bool    `yaml:"required"`
		Description string  `yaml:"description"`
		Schema      *schema `yaml:"schema"`
	} `yaml:"parameters"`
	RequestBody *struct {
		Required bool                  `yaml:"required"`
		Content  map[string]*mediaType `yaml:"content"`
	} `yaml:"requestBody"`
	Responses map[string]*response `yaml:"responses"`
}

type response struct {
	Ref         string                `yaml:"$ref"`
	Description string                `yaml:"description"`
	Content     map[string]*mediaType `yaml:"content"`
}

type mediaType struct {
	Schema    *schema            `yaml:"schema"`
	Example   any                `yaml:"example"`
	SSEEvents map[string]*schema `yaml:"x-sse-events"`
}

type schema struct {
	Ref                  string             `yaml:"$ref"`
	Type                 string             `yaml:"type"`
	Format               string             `yaml:"format"`
	Description          string             `yaml:"description"`
	Enum                 []string           `yaml:"enum"`
	Default              any                `yaml:"default"`
	Pattern              string             `yaml:"pattern"`
	Minimum              *int               `yaml:"minimum"`
	Maximum              *int               `yaml:"maximum"`
	MinLength            *int               `yaml:"minLength"`
	MaxLength            *int               `yaml:"maxLength"`
	MinItems             *int               `yaml:"minItems"`
	MaxItems             *int               `yaml:"maxItems"`
	MaxProperties        *int               `yaml:"maxProperties"`
	Required             []string           `yaml:"required"`
	AdditionalProperties *bool              `yaml:"additionalProperties"`
	Properties           map[string]*schema `yaml:"properties"`
	Items                *schema            `yaml:"items"`
	XMaxBytes            *int               `yaml:"x-max-bytes"`
}

// MustLoadOpenAPI reads and strictly decodes api/openapi.yaml.
func MustLoadOpenAPI(tb testing.TB) *openAPI {
	tb.Helper()
	b, err := os.ReadFile(openAPIPath)
	if err != nil {
		tb.Fatal(err)
	}
	var doc openAPI
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		tb.Fatalf("%s: %v", openAPIPath, err)
	}
	if doc.OpenAPI != "3.1.0" {
		tb.Fatalf("%s: openapi = %q, want 3.1.0", openAPIPath, doc.OpenAPI)
	}
	return &doc
}

const schemaRefPrefix = "#/components/schemas/"

// resolve follows a schema's $ref, failing on a dangling one.
func (d *openAPI) resolve(tb testing.TB, s *schema) *schema {
	tb.Helper()
	for s != nil && s.Ref != "" {
		name, ok := strings.CutPrefix(s.Ref, schemaRefPrefix)
		if !ok || d.Components.Schemas[name] == nil {
			tb.Fatalf("$ref %q: no such schema", s.Ref)
		}
		s = d.Components.Schemas[name]
	}
	return s
}

func (d *openAPI) response(tb testing.TB, r *response) *response {
	tb.Helper()
	if r == nil || r.Ref == "" {
		return r
	}
	name, ok := strings.CutPrefix(r.Ref, "#/components/responses/")
	if !ok || d.Components.Responses[name] == nil {
		tb.Fatalf("$ref %q: no such response", r.Ref)
	}
	return d.Components.Responses[name]
}

func refName(s *schema) string {
	if s == nil {
		return ""
	}
	return strings.TrimPrefix(s.Ref, schemaRefPrefix)
}

var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func TestOpenAPIRoutes(t *testing.T) {
	doc := MustLoadOpenAPI(t)

	documented := map[string]*operation{}
	for path, item := range doc.Paths {
		for method, op := range item {
			if !slices.Contains(httpMethods, method) {
				t.Errorf("paths[%q]: %q is not an HTTP method", path, method)
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = op
		}
	}
	served := map[string]Route{}
	for _, rt := range Routes() {
		served[rt.Method+" "+rt.Path] = rt
	}
	for k := range served {
		if documented[k] == nil {
			t.Errorf("route %s is served but not documented in %s", k, openAPIPath)
		}
	}
	for k := range documented {
		if _, ok := served[k]; !ok {
			t.Errorf("route %s is documented in %s but not served", k, openAPIPath)
		}
	}
	if len(doc.Security) != 0 {
		t.Errorf("global security %v: security must be declared per operation", doc.Security)
	}
	if bs, ok := doc.Components.SecuritySchemes["bearer"]; !ok || bs.Type != "http" || bs.Scheme != "bearer" {
		t.Errorf("securitySchemes.bearer = %+v, want type http, scheme bearer", bs)
	}
	if ds, ok := doc.Components.SecuritySchemes["device"]; !ok || ds.Type != "mutualTLS" {
		t.Errorf("securitySchemes.device = %+v, want type mutualTLS", ds)
	}

	// Admin routes, and only they, need the bearer token.
	for k, rt := range served {
		op := documented[k]
		if op == nil {
			continue
		}
		want := []map[string][]string(nil)
		switch {
		case rt.admin:
			want = []map[string][]string{{"bearer": {}}}
		case rt.device:
			want = []map[string][]string{{"device": {}}}
		}
		if !reflect.DeepEqual(op.Security, want) {
			t.Errorf("%s: security = %v, want %v", k, op.Security, want)
		}
		if !slices.Equal(sorted(op.Roles), sorted(rt.roles)) {
			t.Errorf("%s: x-roles %v, the route needs %v", k, op.Roles, rt.roles)
		}
		if _, has403 := op.Responses["403"]; rt.admin && !has403 {
			t.Errorf("%s: an admin route answers 403 to an operator without its roles; document it", k)
		}
		if rt.admin && len(rt.roles) == 0 {
			t.Errorf("%s: an admin route without roles", k)
		}
		// Enrollment answers 401 to a wrong licence key.
		_, has401 := op.Responses["401"]
		if want401 := rt.admin || rt.device || k == "POST /v1/enroll"; has401 != want401 {
			t.Errorf("%s: documents 401 = %v, want %v (admin route: %v, device route: %v)", k, has401, want401, rt.admin, rt.device)
		}
	}

	// Each route names the wire types its handler uses.
	type body struct{ req, resp string }
	bodies := map[string]body{
		"POST /v1/lookup":                    {"LookupRequest", "LookupResponse"},
		"POST /v1/lookup/prefix":             {"PrefixRequest", "PrefixResponse"},
		"GET /v1/filter":                     {"", ""},
		"POST /v1/telemetry":                 {"TelemetryRequest", "TelemetryResponse"},
		"POST /v1/consent":                   {"ConsentRequest", "ConsentResponse"},
		"GET /v1/inventory":                  {"", "Inventory"},
		"GET /v1/verdicts/stream":            {"", ""},
		"GET /healthz":                       {"", "HealthStatus"},
		"GET /metrics":                       {"", ""},
		"POST /v1/admin/verdicts":            {"SetVerdictsRequest", "SetVerdictsResponse"},
		"GET /v1/admin/verdict":              {"", "VerdictResponse"},
		"GET /v1/admin/verdict/explain":      {"", "ExplainResponse"},
		"GET /v1/admin/telemetry/stats":      {"", "TelemetryStats"},
		"GET /v1/admin/privacy/audit":        {"", "PrivacyAuditReport"},
		"POST /v1/enroll":                    {"EnrollRequest", "Enrollment"},
		"POST /v1/admin/licenses":            {"LicenceRequest", "LicenceResponse"},
		"GET /v1/admin/licenses/{id}":        {"", "LicenceResponse"},
		"POST /v1/admin/devices/{id}/revoke": {"", "Device"},
		"POST /v1/admin/operators":           {"OperatorRequest", "OperatorResponse"},
		"GET /v1/admin/operators":            {"", "OperatorsResponse"},
		"DELETE /v1/admin/operators/{name}":  {"", ""},
		"GET /v1/admin/audit":                {"", "AuditResponse"},
		"GET /v1/admin/licenses/{id}/export": {"", "PersonExport"},
		"DELETE /v1/admin/licenses/{id}":     {"", "PersonDeletion"},
		"GET /v1/my-data":                    {"", "DeviceExport"},
		"DELETE /v1/my-data":                 {"", "DeviceDeletion"},
		"GET /v1/admin/audit/verify":         {"", "AuditReport"},
		"GET /v1/rules":                      {"", "RuleBundle"},
		"GET /v1/keys/wifi":                  {"", "WiFiKey"},
		"POST /v1/admin/rules":               {"PublishRulesRequest", "RulesSummary"},
		"GET /v1/admin/rules":                {"", "RulesSummary"},
		// Sample uploads and downloads are the file's bytes (application/octet-stream).
		"POST /v1/samples":                        {"", "SampleReceipt"},
		"GET /v1/admin/samples":                   {"", "SamplesResponse"},
		"GET /v1/admin/samples/{sha256}":          {"", ""},
		"POST /v1/admin/samples/{sha256}/verdict": {"SampleVerdictRequest", "SampleVerdictResponse"},
		// The report also answers text/html (?format=html).
		"POST /v1/admin/transparency/requests":               {"TransparencyNew", "TransparencyRequest"},
		"GET /v1/admin/transparency/requests":                {"", "TransparencyList"},
		"GET /v1/admin/transparency/requests/{id}":           {"", "TransparencyRequest"},
		"POST /v1/admin/transparency/requests/{id}/review":   {"", "TransparencyRequest"},
		"POST /v1/admin/transparency/requests/{id}/decision": {"DecisionRequest", "TransparencyRequest"},
		"POST /v1/admin/transparency/requests/{id}/fulfil":   {"FulfilRequest", "TransparencyRequest"},
		"GET /v1/admin/transparency/report":                  {"", "TransparencyReport"},
	}
	ids := map[string]string{}
	for k, op := range documented {
		if prev, dup := ids[op.OperationID]; op.OperationID == "" || dup {
			t.Errorf("%s: operationId %q is empty or also used by %s", k, op.OperationID, prev)
		}
		ids[op.OperationID] = k
		if op.Summary == "" {
			t.Errorf("%s: no summary", k)
		}
		want, ok := bodies[k]
		if !ok {
			t.Errorf("%s: add the route's request and response schemas to this test", k)
			continue
		}
		var req string
		if op.RequestBody != nil {
			if !op.RequestBody.Required {
				t.Errorf("%s: requestBody is not required", k)
			}
			if mt := op.RequestBody.Content["application/json"]; mt != nil {
				req = refName(mt.Schema)
			}
		}
		if req != want.req {
			t.Errorf("%s: request schema %q, want %q", k, req, want.req)
		}
		ok200 := doc.response(t, op.Responses["200"])
		if ok200 == nil {
			t.Errorf("%s: no 200 answer", k)
			continue
		}
		if want.resp != "" {
			mt := ok200.Content["application/json"]
			if mt == nil || refName(mt.Schema) != want.resp {
				t.Errorf("%s: 200 answer is not application/json %s", k, want.resp)
			}
		}
		for code, r := range op.Responses {
			r = doc.response(t, r)
			if r.Description == "" {
				t.Errorf("%s: answer %s has no description", k, code)
			}
			if code[0] != '4' && code[0] != '5' || k == "GET /healthz" {
				continue
			}
			if mt := r.Content["application/json"]; mt == nil || refName(mt.Schema) != "ErrorBody" {
				t.Errorf("%s: answer %s is not an ErrorBody", k, code)
			}
			wantCode := map[string]string{"400": herd.EINVALID, "401": herd.EUNAUTHORIZED, "403": herd.EFORBIDDEN, "404": herd.ENOTFOUND,
				"409": herd.ECONFLICT, "413": herd.ETOOLARGE, "500": herd.EINTERNAL, "503": herd.EUNAVAILABLE}[code]
			if wantCode == "" {
				t.Errorf("%s: answer %s: no error code maps to that status", k, code)
			} else if got := statusOf(wantCode); fmt.Sprint(got) != code {
				t.Errorf("%s: answer %s documents code %s, which the server answers with %d", k, code, wantCode, got)
			}
		}
	}

	stream := doc.response(t, documented["GET /v1/verdicts/stream"].Responses["200"]).Content["text/event-stream"]
	if stream == nil {
		t.Fatal("GET /v1/verdicts/stream: 200 answer is not text/event-stream")
	}
	if got := refName(stream.SSEEvents["verdict"]); got != "StreamEvent" {
		t.Errorf("stream event \"verdict\" has schema %q, want StreamEvent", got)
	}
	if _, ok := stream.SSEEvents["caught-up"]; !ok || len(stream.SSEEvents) != 2 {
		t.Errorf("stream events %v, want verdict and caught-up", slices.Sorted(maps.Keys(stream.SSEEvents)))
	}
	if metrics := doc.response(t, documented["GET /metrics"].Responses["200"]); metrics.Content["text/plain"] == nil {
		t.Error("GET /metrics: 200 answer is not text/plain")
	}
}

// wireTypes maps each documented object schema to the Go type that goes on
// the wire. Nested types reached through $ref are checked where they are used,
// and on their own.
var wireTypes = map[string]reflect.Type{
	"LookupRequest":       reflect.TypeFor[LookupRequest](),
	"LookupResponse":      reflect.TypeFor[LookupResponse](),
	"Answer":              reflect.TypeFor[Answer](),
	"Object":              reflect.TypeFor[herd.Object](),
	"TelemetryRequest":    reflect.TypeFor[TelemetryRequest](),
	"Event":               reflect.TypeFor[herd.Event](),
	"TelemetryResponse":   reflect.TypeFor[TelemetryResponse](),
	"ConsentRequest":      reflect.TypeFor[ConsentRequest](),
	"ConsentRecord":       reflect.TypeFor[consent.Record](),
	"ConsentResponse":     reflect.TypeFor[ConsentResponse](),
	"StreamEvent":         reflect.TypeFor[StreamEvent](),
	"Record":              reflect.TypeFor[herd.Record](),
	"SetVerdictsRequest":  reflect.TypeFor[SetVerdictsRequest](),
	"VerdictInput":        reflect.TypeFor[VerdictInput](),
	"SetVerdictsResponse": reflect.TypeFor[SetVerdictsResponse](),
	"VerdictResponse":     reflect.TypeFor[VerdictResponse](),
	"PrefixRequest":       reflect.TypeFor[PrefixRequest](),
	"PrefixQuery":         reflect.TypeFor[PrefixQuery](),
	"PrefixResponse":      reflect.TypeFor[PrefixResponse](),
	"PrefixResult":        reflect.TypeFor[PrefixResult](),
	"PrefixEntry":         reflect.TypeFor[PrefixEntry](),
	"ExplainResponse":     reflect.TypeFor[ExplainResponse](),
	"Evidence":            reflect.TypeFor[herd.Evidence](),
	"HistoryEntry":        reflect.TypeFor[herd.HistoryEntry](),
	"TelemetryStats":      reflect.TypeFor[TelemetryStats](),
	"ErrorBody":           reflect.TypeFor[ErrorBody](),
	"EnrollRequest":       reflect.TypeFor[identity.EnrollRequest](),
	"Enrollment":          reflect.TypeFor[identity.Enrollment](),
	"LicenceRequest":      reflect.TypeFor[LicenceRequest](),
	"LicenceResponse":     reflect.TypeFor[LicenceResponse](),
	"Device":              reflect.TypeFor[identity.Device](),
	"OperatorRequest":     reflect.TypeFor[OperatorRequest](),
	"OperatorResponse":    reflect.TypeFor[OperatorResponse](),
	"OperatorsResponse":   reflect.TypeFor[OperatorsResponse](),
	"AuditEntry":          reflect.TypeFor[audit.Entry](),
	"AuditResponse":       reflect.TypeFor[AuditResponse](),
	"AuditReport":         reflect.TypeFor[audit.Report](),
	"Licence":             reflect.TypeFor[identity.Licence](),
	"StoredEvent":         reflect.TypeFor[herd.StoredEvent](),
	"DeviceData":          reflect.TypeFor[ingest.DeviceData](),
	"DeviceExport":        reflect.TypeFor[dsr.DeviceExport](),
	"PersonExport":        reflect.TypeFor[dsr.PersonExport](),
	"DeviceErasure":       reflect.TypeFor[ingest.DeviceErasure](),
	"IdentityErasure":     reflect.TypeFor[identity.IdentityErasure](),
	"PersonDeletion":      reflect.TypeFor[dsr.PersonDeletion](),
	"DeviceDeletion":      reflect.TypeFor[dsr.DeviceDeletion](),
	"Problem":             reflect.TypeFor[herd.Problem](),
	"RuleBundle":          reflect.TypeFor[bundle.Envelope](),
	"WiFiKey":             reflect.TypeFor[WiFiKey](),
	"PublishRulesRequest": reflect.TypeFor[PublishRulesRequest](),
	"RuleFile":            reflect.TypeFor[bundle.File](),
	"RulesSummary":        reflect.TypeFor[bundle.Summary](),
	"RuleSummary":         reflect.TypeFor[bundle.RuleSummary](),
	// The transparency register (package transparency).
	"TransparencyNew":     reflect.TypeFor[transparency.New](),
	"TransparencyRequest": reflect.TypeFor[transparency.Request](),
	"TransparencyStep":    reflect.TypeFor[transparency.Step](),
	"TransparencyList":    reflect.TypeFor[TransparencyList](),
	"DecisionRequest":     reflect.TypeFor[DecisionRequest](),
	"FulfilRequest":       reflect.TypeFor[FulfilRequest](),
	"TransparencyReport":  reflect.TypeFor[transparency.Report](),
	"TransparencyRow":     reflect.TypeFor[transparency.Row](),
	// The health check answers with a map; this is its one key.
	"HealthStatus": reflect.TypeFor[struct {
		Status string `json:"status"`
	}](),
	// The inventory is encoded by package inventory from unexported types;
	// these copies are kept equal to its output by TestOpenAPIInventory.
	"Inventory":          reflect.TypeFor[inventoryDoc](),
	"InventoryCategory":  reflect.TypeFor[inventoryCategory](),
	"InventoryEventType": reflect.TypeFor[inventoryEventType](),
	"InventoryField":     reflect.TypeFor[inventoryField](),
	"InventoryDerived":   reflect.TypeFor[inventoryDerived](),
	"InventoryMechanism": reflect.TypeFor[inventoryMechanism](),
	"InventoryParameter": reflect.TypeFor[inventoryParameter](),
	"InventoryProfile":   reflect.TypeFor[inventoryProfile](),

	// The anonymization audit (package privacyaudit).
	"PrivacyAuditReport":     reflect.TypeFor[privacyaudit.Report](),
	"PrivacyAuditType":       reflect.TypeFor[privacyaudit.TypeReport](),
	"PrivacyAuditClass":      reflect.TypeFor[privacyaudit.Class](),
	"PrivacyAuditValue":      reflect.TypeFor[privacyaudit.Value](),
	"PrivacyAuditSecondPass": reflect.TypeFor[privacyaudit.SecondPass](),
	"PrivacyAuditBudget":     reflect.TypeFor[privacyaudit.Budget](),
}

// inventoryDoc and the types below are the JSON form of GET /v1/inventory,
// as inventory.JSON writes it.
type inventoryDoc struct {
	LicenseVersion   string               `json:"license_version"`
	StatementVersion string               `json:"statement_version"`
	Categories       []inventoryCategory  `json:"categories"`
	EventTypes       []inventoryEventType `json:"event_types"`
	Derived          []inventoryDerived   `json:"derived"`
	Mechanisms       []inventoryMechanism `json:"mechanisms"`
	ConsentProfiles  []inventoryProfile   `json:"consent_profiles"`
}

type inventoryCategory struct {
	Name    herd.Category `json:"name"`
	Title   string        `json:"title"`
	Purpose string        `json:"purpose"`
}

type inventoryEventType struct {
	Name          string           `json:"name"`
	Category      herd.Category    `json:"category"`
	Purpose       string           `json:"purpose"`
	RetentionDays int              `json:"retention_days"`
	Destination   string           `json:"destination"`
	Fields        []inventoryField `json:"fields"`
}

type inventoryField struct {
	Name     string   `json:"name"`
	Kind     string   `json:"kind"`
	Rule     string   `json:"rule"`
	Purpose  string   `json:"purpose"`
	FreeText bool     `json:"free_text"`
	Required bool     `json:"required"`
	MaxLen   int      `json:"max_len,omitempty"`
	MaxItems int      `json:"max_items,omitempty"`
	Enum     []string `json:"enum,omitempty"`
	Pattern  string   `json:"pattern,omitempty"`
	Min      *int64   `json:"min,omitempty"`
	Max      *int64   `json:"max,omitempty"`
}

type inventoryDerived struct {
	Name    string `json:"name"`
	Purpose string `json:"purpose"`
	How     string `json:"how"`
}

type inventoryMechanism struct {
	Name        string               `json:"name"`
	Rule        string               `json:"rule,omitempty"`
	Description string               `json:"description"`
	Parameters  []inventoryParameter `json:"parameters,omitempty"`
}

type inventoryParameter struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type inventoryProfile struct {
	Name    string          `json:"name"`
	Summary string          `json:"summary"`
	On      []herd.Category `json:"on"`
	Lookups string          `json:"lookups"`
}

func TestOpenAPIInventory(t *testing.T) {
	// The copies of the inventory's types hold exactly what inventory.JSON
	// writes: decoding refuses a field they lack, and encoding them again
	// gives the same document, so a field they have and it has not (or
	// with another omitempty) shows too.
	b, err := inventory.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var inv inventoryDoc
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&inv); err != nil {
		t.Fatalf("inventory.JSON() does not decode into inventoryDoc: %v", err)
	}
	again, err := json.Marshal(inv)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inventoryDoc does not round-trip inventory.JSON():\n got %s\nwant %s", again, b)
	}

	// Every value of a documented enum that the inventory uses is documented.
	doc := MustLoadOpenAPI(t)
	prop := func(schemaName, p string) []string {
		s := doc.resolve(t, doc.Components.Schemas[schemaName])
		return doc.resolve(t, s.Properties[p]).Enum
	}
	for _, et := range inv.EventTypes {
		if e := prop("InventoryEventType", "destination"); !slices.Contains(e, et.Destination) {
			t.Errorf("event type %s: destination %q is not in the enum %q", et.Name, et.Destination, e)
		}
		for _, f := range et.Fields {
			if e := prop("InventoryField", "kind"); !slices.Contains(e, f.Kind) {
				t.Errorf("event type %s field %s: kind %q is not in the enum %q", et.Name, f.Name, f.Kind, e)
			}
		}
	}
	for _, m := range inv.Mechanisms {
		if e := prop("InventoryMechanism", "rule"); m.Rule != "" && !slices.Contains(e, m.Rule) {
			t.Errorf("mechanism %s: rule %q is not in the enum %q", m.Name, m.Rule, e)
		}
	}
	if inv.LicenseVersion != consent.LicenseVersion || inv.StatementVersion != consent.StatementVersion {
		t.Errorf("inventory versions %s, %s, want %s, %s", inv.LicenseVersion, inv.StatementVersion, consent.LicenseVersion, consent.StatementVersion)
	}
}

// requestTypes are decoded with unknown fields refused, so their schemas must
// say additionalProperties: false.
var requestTypes = []string{"PublishRulesRequest", "RuleFile", "PrefixRequest", "PrefixQuery", "LookupRequest", "Object", "TelemetryRequest", "Event", "ConsentRequest", "ConsentRecord", "SetVerdictsRequest", "VerdictInput", "TransparencyNew", "DecisionRequest", "FulfilRequest"}

func TestOpenAPISchemasMatchWireTypes(t *testing.T) {
	doc := MustLoadOpenAPI(t)
	for name, s := range doc.Components.Schemas {
		if s.Type == "object" && wireTypes[name] == nil {
			t.Errorf("schema %s: no Go type; add it to wireTypes", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(wireTypes)) {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Errorf("schema %s: missing from %s", name, openAPIPath)
			continue
		}
		checkSchema(t, doc, name, s, wireTypes[name])
	}
	for _, name := range requestTypes {
		if s := doc.Components.Schemas[name]; s == nil || s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("schema %s: the server refuses unknown fields; say additionalProperties: false", name)
		}
	}
}

var (
	timeType       = reflect.TypeFor[time.Time]()
	rawMessageType = reflect.TypeFor[json.RawMessage]()
)

// checkSchema compares schema s, found at path, with Go type t as
// encoding/json writes and reads it: the property names, which of them are
// required, the JSON types, recursively.
func checkSchema(t *testing.T, doc *openAPI, path string, s *schema, typ reflect.Type) {
	t.Helper()
	s = doc.resolve(t, s)
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	want := jsonType(typ)
	if s.Type != want {
		t.Errorf("%s: type %q, want %q (Go %v)", path, s.Type, want, typ)
		return
	}
	switch {
	case typ == timeType:
		if s.Format != "date-time" {
			t.Errorf("%s: format %q, want date-time (Go time.Time)", path, s.Format)
		}
	case typ == rawMessageType:
	case typ.Kind() == reflect.Slice && typ.Elem().Kind() == reflect.Uint8:
		if s.Format != "byte" {
			t.Errorf("%s: format %q, want byte (Go []byte: base64)", path, s.Format)
		}
	case typ.Kind() == reflect.Slice:
		if s.Items == nil {
			t.Errorf("%s: array without items", path)
			return
		}
		checkSchema(t, doc, path+"[]", s.Items, typ.Elem())
	case typ.Kind() == reflect.Struct:
		fields := jsonFields(typ)
		var names, required []string
		for _, f := range fields {
			names = append(names, f.name)
			if !f.omitempty {
				required = append(required, f.name)
			}
		}
		docNames := slices.Sorted(maps.Keys(s.Properties))
		if !slices.Equal(docNames, sorted(names)) {
			t.Errorf("%s: properties %v, want the JSON fields of Go %v: %v", path, docNames, typ, sorted(names))
		}
		// A field without omitempty is always written, so it is required;
		// a request decoder refuses the same fields when they are missing.
		if !slices.Equal(sorted(s.Required), sorted(required)) {
			t.Errorf("%s: required %v, want the fields without omitempty: %v", path, sorted(s.Required), sorted(required))
		}
		for _, f := range fields {
			if p := s.Properties[f.name]; p != nil {
				checkSchema(t, doc, path+"."+f.name, p, f.typ)
			}
		}
	}
}

func jsonType(t reflect.Type) string {
	switch {
	case t == timeType:
		return "string"
	case t == rawMessageType:
		return "object" // every JSON payload of the API is an object
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8:
		return "string" // bytes, in base64
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "unsupported Go kind " + t.Kind().String()
}

type jsonField struct {
	name      string
	omitempty bool
	typ       reflect.Type
	depth     int
	tagged    bool
}

// jsonFields lists the fields encoding/json encodes for struct type t:
// exported fields under their tag name, "-" left out, untagged embedded
// structs flattened, and of several fields with one name the shallowest,
// tagged one (or none, if that is ambiguous), as encoding/json decides.
func jsonFields(t reflect.Type) []jsonField {
	var all []jsonField
	var walk func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			f := t.Field(i)
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := f.Type
			if f.Anonymous {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !f.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
				if name == "" && ft.Kind() == reflect.Struct {
					walk(ft, depth+1, seen)
					continue
				}
			} else if !f.IsExported() {
				continue
			}
			jf := jsonField{name: name, typ: f.Type, depth: depth, tagged: name != ""}
			if name == "" {
				jf.name = f.Name
			}
			for _, o := range strings.Split(opts, ",") {
				if o == "omitempty" || o == "omitzero" {
					jf.omitempty = true
				}
			}
			all = append(all, jf)
		}
	}
	walk(t, 0, map[reflect.Type]bool{})

	byName := map[string][]jsonField{}
	for _, f := range all {
		byName[f.name] = append(byName[f.name], f)
	}
	var out []jsonField
	for _, fs := range byName {
		sort.SliceStable(fs, func(i, j int) bool { return fs[i].depth < fs[j].depth })
		top := fs[0].depth
		var dominant []jsonField
		for _, f := range fs {
			if f.depth == top {
				dominant = append(dominant, f)
			}
		}
		var tagged []jsonField
		for _, f := range dominant {
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
		switch {
		case len(dominant) == 1:
			out = append(out, dominant[0])
		case len(tagged) == 1:
			out = append(out, tagged[0])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func TestJSONFieldsFollowsEncodingJSON(t *testing.T) {
	// jsonFields is itself checked against encoding/json, on a type with
	// every case it handles.
	type Inner struct {
		A string `json:"a"`
		B int    `json:"b,omitempty"`
		C bool   // promoted under its Go name
	}
	type inner2 struct {
		D string `json:"d"`
	}
	type Outer struct {
		Inner
		*inner2
		B      string `json:"b"` // shadows Inner.B
		Hidden string `json:"-"`
		//lint:ignore SA5008 the "-," form, a field named "-", is one of the cases checked
		Dash   string `json:"-,"`
		secret string
		Named  Inner `json:"named"`
	}
	v := Outer{Inner: Inner{A: "a", B: 1, C: true}, inner2: &inner2{D: "d"}, B: "b", Dash: "x", secret: "s"}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(maps.Keys(m))
	var got []string
	for _, f := range jsonFields(reflect.TypeFor[Outer]()) {
		got = append(got, f.name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("jsonFields(Outer) = %v, encoding/json writes %v", got, want)
	}
	// The fields encoding/json leaves out of a zero value are the omitempty ones.
	b, err = json.Marshal(Outer{inner2: &inner2{}})
	if err != nil {
		t.Fatal(err)
	}
	m = nil
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, f := range jsonFields(reflect.TypeFor[Outer]()) {
		if _, written := m[f.name]; written == f.omitempty {
			t.Errorf("field %q: omitempty = %v, but encoding/json writes it in a zero value: %v", f.name, f.omitempty, written)
		}
	}
}

func TestOpenAPIEnumsAndLimits(t *testing.T) {
	doc := MustLoadOpenAPI(t)
	sch := func(path string) *schema {
		t.Helper()
		parts := strings.Split(path, ".")
		s := doc.Components.Schemas[parts[0]]
		for _, p := range parts[1:] {
			if s = doc.resolve(t, s); s == nil {
				break
			}
			if p == "[]" {
				s = s.Items
			} else {
				s = s.Properties[p]
			}
		}
		if s = doc.resolve(t, s); s == nil {
			t.Fatalf("schema %s: missing", path)
		}
		return s
	}
	strs := func(xs ...any) []string {
		var out []string
		for _, x := range xs {
			out = append(out, fmt.Sprint(x))
		}
		return out
	}
	var kinds, categories []any
	for _, k := range herd.Kinds {
		kinds = append(kinds, k)
	}
	for _, c := range herd.Categories {
		categories = append(categories, c)
	}
	var verdicts, storable []any
	for _, v := range []herd.Verdict{herd.VerdictMalicious, herd.VerdictSuspicious, herd.VerdictClean, herd.VerdictUnknown, "", "bogus"} {
		if v.Valid() {
			verdicts = append(verdicts, v)
			// What Record.Validate accepts is what can be set.
			if (herd.Record{Object: herd.Object{Kind: herd.KindIP, Value: "192.0.2.1"}, Verdict: v}).Validate() == nil {
				storable = append(storable, v)
			}
		}
	}
	var sources []any
	for _, src := range []string{"", herd.SourceOperator, herd.SourceImport, herd.SourceBuiltin, herd.SourceLocalDB} {
		_, err := ValidateVerdicts(SetVerdictsRequest{Verdicts: []VerdictInput{{Kind: herd.KindIP, Value: "192.0.2.1", Verdict: herd.VerdictClean, Source: src}}}, time.Now())
		if err == nil && src != "" {
			sources = append(sources, src)
		}
	}
	enums := []struct {
		path string
		want []string
	}{
		{"Kind", strs(kinds...)},
		{"Object.kind", strs(kinds...)},
		{"Answer.kind", strs(kinds...)},
		{"VerdictInput.kind", strs(kinds...)},
		{"Verdict", strs(verdicts...)},
		{"Answer.verdict", strs(verdicts...)},
		{"Record.verdict", append(strs(verdicts...), "")}, // "" in a deletion
		{"VerdictInput.verdict", strs(storable...)},
		{"VerdictInput.source", strs(sources...)},
		{"Answer.source", []string{herd.SourceBuiltin, herd.SourceOperator, herd.SourceImport}},
		{"Category", strs(categories...)},
		{"Event.category", strs(categories...)},
		{"ErrorBody.error.code", []string{herd.EINVALID, herd.ENOTFOUND, herd.ECONFLICT, herd.EUNAUTHORIZED, herd.EFORBIDDEN, herd.ECONSENT, herd.ETOOLARGE, herd.EUNAVAILABLE, herd.EINTERNAL}},
		{"Problem.code", []string{herd.ECONSENT, herd.EINVALID, "undeclared"}},
		{"ConsentRecord.profile", append(slices.Clone(consent.Profiles), consent.ProfileCustom)},
		{"InventoryProfile.name", consent.Profiles},
		{"InventoryCategory.name", strs(categories...)},
		{"InventoryField.rule", sorted(inventory.Rules)},
		{"InventoryMechanism.rule", sorted(inventory.Rules)},
		{"InventoryEventType.destination", []string{inventory.DestinationTelemetry, inventory.DestinationIdentity}},
	}
	for _, e := range enums {
		if got := sch(e.path).Enum; !slices.Equal(sorted(got), sorted(e.want)) {
			t.Errorf("%s: enum %q, want %q", e.path, got, e.want)
		}
	}

	// Maps keyed by category document each category as a property.
	for _, path := range []string{"ConsentRecord.choices", "ConsentResponse.deleted"} {
		s := sch(path)
		if got, want := slices.Sorted(maps.Keys(s.Properties)), sorted(strs(categories...)); !slices.Equal(got, want) {
			t.Errorf("%s: properties %q, want the categories %q", path, got, want)
		}
		if s.AdditionalProperties == nil || *s.AdditionalProperties {
			t.Errorf("%s: keys other than categories are refused; say additionalProperties: false", path)
		}
	}

	intp := func(p *int) string {
		if p == nil {
			return "absent"
		}
		return fmt.Sprint(*p)
	}
	limits := []struct {
		path, keyword string
		got           *int
		want          int
	}{
		{"LookupRequest.objects", "maxItems", sch("LookupRequest.objects").MaxItems, MaxLookupObjects},
		{"LookupRequest.objects", "minItems", sch("LookupRequest.objects").MinItems, 1},
		{"TelemetryRequest.events", "maxItems", sch("TelemetryRequest.events").MaxItems, MaxTelemetryEvents},
		{"TelemetryRequest.events", "minItems", sch("TelemetryRequest.events").MinItems, 1},
		{"SetVerdictsRequest.verdicts", "maxItems", sch("SetVerdictsRequest.verdicts").MaxItems, MaxAdminVerdicts},
		{"SetVerdictsRequest.verdicts", "minItems", sch("SetVerdictsRequest.verdicts").MinItems, 1},
		{"Event.id", "maxLength", sch("Event.id").MaxLength, MaxEventIDLen},
		{"TelemetryRequest.device", "maxLength", sch("TelemetryRequest.device").MaxLength, ingest.MaxDeviceIDLen},
		{"ConsentRequest.device", "maxLength", sch("ConsentRequest.device").MaxLength, ingest.MaxDeviceIDLen},
		{"Event.payload", "x-max-bytes", sch("Event.payload").XMaxBytes, MaxPayloadBytes},
		{"Object.value", "maxLength", sch("Object.value").MaxLength, herd.MaxURLLen},
		{"VerdictInput.value", "maxLength", sch("VerdictInput.value").MaxLength, herd.MaxURLLen},
		{"VerdictInput.threat", "maxLength", sch("VerdictInput.threat").MaxLength, herd.MaxThreatName},
		{"ErrorBody.error.problems", "maxItems", sch("ErrorBody.error.problems").MaxItems, maxProblems},
	}
	for _, l := range limits {
		if l.got == nil || *l.got != l.want {
			t.Errorf("%s: %s %s, want %d", l.path, l.keyword, intp(l.got), l.want)
		}
	}
}

func TestOpenAPIEventIDPattern(t *testing.T) {
	// The documented pattern accepts exactly the ids the server accepts.
	doc := MustLoadOpenAPI(t)
	id := doc.resolve(t, doc.resolve(t, doc.Components.Schemas["Event"]).Properties["id"])
	re, err := regexp.Compile(id.Pattern)
	if err != nil {
		t.Fatalf("Event.id pattern %q: %v", id.Pattern, err)
	}
	now := time.Now()
	payload := json.RawMessage(`{"sha256":"275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}`)
	for c := range 256 {
		s := "a" + string(rune(c)) + "z"
		err := ValidateTelemetry(TelemetryRequest{Device: "device-0001", Events: []herd.Event{{ID: s, Type: "threat.detected", Category: herd.CategoryThreats, Time: now, Payload: payload}}}, now)
		if accepted := err == nil; accepted != re.MatchString(s) {
			t.Errorf("id %q: server accepts %v, pattern %q matches %v", s, accepted, id.Pattern, !accepted)
		}
	}

	// Likewise the device id.
	dev := doc.resolve(t, doc.resolve(t, doc.Components.Schemas["TelemetryRequest"]).Properties["device"])
	re, err = regexp.Compile(dev.Pattern)
	if err != nil {
		t.Fatalf("TelemetryRequest.device pattern %q: %v", dev.Pattern, err)
	}
	for c := range 256 {
		s := "a" + string(rune(c)) + "z"
		err := ValidateTelemetry(TelemetryRequest{Device: s, Events: []herd.Event{{ID: "event-1", Type: "threat.detected", Category: herd.CategoryThreats, Time: now, Payload: payload}}}, now)
		if accepted := err == nil; accepted != re.MatchString(s) {
			t.Errorf("device %q: server accepts %v, pattern %q matches %v", s, accepted, dev.Pattern, !accepted)
		}
	}
}

func sorted[S ~[]E, E ~string](s S) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[i] = string(x)
	}
	slices.Sort(out)
	return out
}

func TestOpenAPIExamples(t *testing.T) {
	// Every example decodes into its Go type with no unknown field, and a
	// request example passes the server's own decoder.
	doc := MustLoadOpenAPI(t)
	check := func(where string, mt *mediaType) {
		t.Helper()
		if mt == nil || mt.Example == nil {
			return
		}
		name := refName(mt.Schema)
		typ := wireTypes[name]
		if typ == nil {
			t.Errorf("%s: example for schema %q, which has no Go type", where, name)
			return
		}
		b, err := json.Marshal(mt.Example)
		if err != nil {
			t.Errorf("%s: example: %v", where, err)
			return
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(reflect.New(typ).Interface()); err != nil {
			t.Errorf("%s: example does not decode into %v: %v", where, typ, err)
		}
		now := time.Date(2025, 11, 24, 10, 0, 0, 0, time.UTC)
		switch name {
		case "LookupRequest":
			_, err = DecodeLookup(bytes.NewReader(b))
		case "TelemetryRequest":
			_, err = DecodeTelemetry(bytes.NewReader(b), now)
		case "SetVerdictsRequest":
			_, err = DecodeVerdicts(bytes.NewReader(b), now)
		case "ConsentRequest":
			// What the pipeline checks before it stores a record.
			var req ConsentRequest
			if err = decodeJSON(bytes.NewReader(b), &req); err == nil {
				if err = ingest.ValidDevice(req.Device); err == nil {
					err = req.Record.Validate()
				}
			}
		}
		if err != nil {
			t.Errorf("%s: the server refuses the example: %v", where, err)
		}
	}
	n := 0
	for path, item := range doc.Paths {
		for method, op := range item {
			k := strings.ToUpper(method) + " " + path
			if op.RequestBody != nil {
				for ct, mt := range op.RequestBody.Content {
					check(k+" request "+ct, mt)
					n++
				}
			}
			for code, r := range op.Responses {
				for ct, mt := range r.Content {
					check(k+" "+code+" "+ct, mt)
					n++
				}
			}
		}
	}
	for name, r := range doc.Components.Responses {
		for ct, mt := range r.Content {
			check("responses."+name+" "+ct, mt)
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d media types found", n)
	}
}
