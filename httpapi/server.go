package httpapi

import (
	"net/netip"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/ingest"
	"github.com/herdsec/herd/inventory"
	"github.com/herdsec/herd/scrub"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/herdsec/herd"
)

// Server serves the agent API and the admin API.
type Server struct {
	Reputation herd.ReputationService
	Verdicts   herd.VerdictStore
	// Ingest takes telemetry batches (package ingest).
	Ingest herd.Ingester
	// Consent stores consent records and erases withdrawn data.
	Consent ConsentService
	// Telemetry reports the size of the telemetry store.
	Telemetry herd.TelemetryStatser
	// Prefixes answers private prefix lookups (POST /v1/lookup/prefix).
	Prefixes PrefixIndex
	// Filters serves the offline filter (GET /v1/filter).
	Filters FilterService
	// Live, if set, delivers the changes this replica applies to its index;
	// change streams then read the store only to catch up, and follow Live.
	Live LiveChanges
	// Evidence and History explain verdicts (GET /v1/admin/verdict/explain).
	Evidence herd.EvidenceStore
	History  herd.VerdictHistory
	// Health reports whether the server's storage answers.
	Health func(ctx context.Context) error
	// AdminToken is the bearer token of the admin API.
	AdminToken string
	// Subjects answers data subjects' access and deletion requests.
	Subjects DataSubjects
	// Audit keeps the record of admin actions; nil: none is kept.
	Audit AuditLog
	// Identity runs licences and enrollment (POST /v1/enroll, the licence
	// and device admin routes); nil: those routes answer unavailable.
	Identity IdentityService
	// Samples keeps suspicious-file samples (POST /v1/samples, the
	// /v1/admin/samples routes); nil: those routes answer unavailable.
	Samples SampleService
	// MaxSampleBytes caps a sample upload; 0: DefaultMaxSampleBytes.
	MaxSampleBytes int64
	// RequireDevices: the agent routes need an enrolled device's client
	// certificate (mutual TLS), and telemetry and consent are accepted
	// only for the device the certificate names.
	RequireDevices bool
	// Rules publishes and serves the signed behaviour rules (GET /v1/rules,
	// /v1/admin/rules); nil: those routes answer unavailable.
	Rules RuleService
	// WiFiKeys holds the region's key for access point pseudonyms
	// (GET /v1/keys/wifi, enrolled devices only); nil: that route answers
	// unavailable.
	WiFiKeys WiFiKeyService
	// StoredEvents is read by the anonymization audit
	// (GET /v1/admin/privacy/audit); nil: that route answers unavailable.
	StoredEvents StoredEventSource
	// Transparency keeps the register of requests for user data (the
	// /v1/admin/transparency routes); nil: those routes answer unavailable.
	Transparency TransparencyService
	// PositiveTTL and NegativeTTL are how long agents may cache known and
	// unknown answers.
	PositiveTTL time.Duration
	NegativeTTL time.Duration
	// Heartbeat is how often an idle verdict stream sends a comment line.
	Heartbeat time.Duration
	Logger    *slog.Logger
	Registry  *prometheus.Registry

	metrics *metrics
	// lastChange is the latest change encoded for the streams: every
	// connected agent is sent the same bytes, encoded once.
	lastChange atomic.Pointer[encodedChange]
}

type encodedChange struct {
	seq  uint64
	text []byte
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Registry == nil {
		s.Registry = prometheus.NewRegistry()
	}
	if s.Heartbeat <= 0 {
		s.Heartbeat = 15 * time.Second
	}
	s.metrics = newMetrics(s.Registry)
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		h := rt.handler
		if rt.admin {
			h = s.admin(rt.Method+" "+rt.Path, rt.roles, h)
		}
		if rt.device {
			h = s.device(h)
		}
		if rt.timed {
			mux.Handle(rt.Method+" "+rt.Path, s.instrument(rt.Method+" "+rt.Path, h))
		} else {
			mux.Handle(rt.Method+" "+rt.Path, h)
		}
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, herd.Errorf(herd.ENOTFOUND, "no route %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Route is one endpoint of the API.
type Route struct {
	Method, Path string
	admin        bool     // needs an operator's bearer token
	roles        []string // the roles that may call an admin route (admin may call all)
	device       bool     // needs an enrolled device's certificate when RequireDevices is set
	timed        bool     // request duration is recorded (not for long-lived streams)
	handler      http.HandlerFunc
}

func (s *Server) routes() []Route {
	metrics := promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{})
	return append([]Route{
		{Method: "POST", Path: "/v1/lookup", device: true, timed: true, handler: s.handleLookup},
		{Method: "POST", Path: "/v1/lookup/prefix", device: true, timed: true, handler: s.handlePrefixLookup},
		{Method: "GET", Path: "/v1/filter", device: true, timed: true, handler: s.handleFilter},
		{Method: "GET", Path: "/v1/rules", device: true, timed: true, handler: s.handleRules},
		{Method: "GET", Path: "/v1/keys/wifi", device: true, timed: true, handler: s.handleWiFiKey},
		{Method: "POST", Path: "/v1/admin/rules", admin: true, roles: adminOnly, timed: true, handler: s.handlePublishRules},
		{Method: "GET", Path: "/v1/admin/rules", admin: true, roles: analystOrSupport, timed: true, handler: s.handleRulesSummary},
		{Method: "POST", Path: "/v1/telemetry", device: true, timed: true, handler: s.handleTelemetry},
		{Method: "POST", Path: "/v1/consent", device: true, timed: true, handler: s.handleConsent},
		{Method: "GET", Path: "/v1/inventory", timed: true, handler: s.handleInventory},
		{Method: "GET", Path: "/v1/verdicts/stream", device: true, handler: s.handleStream},
		{Method: "POST", Path: "/v1/enroll", timed: true, handler: s.handleEnroll},
		{Method: "POST", Path: "/v1/admin/licenses", admin: true, roles: support, timed: true, handler: s.handleCreateLicence},
		{Method: "GET", Path: "/v1/admin/licenses/{id}", admin: true, roles: supportOrPrivacy, timed: true, handler: s.handleGetLicence},
		{Method: "POST", Path: "/v1/admin/devices/{id}/revoke", admin: true, roles: support, timed: true, handler: s.handleRevoke},
		{Method: "POST", Path: "/v1/admin/operators", admin: true, roles: adminOnly, timed: true, handler: s.handleCreateOperator},
		{Method: "GET", Path: "/v1/admin/operators", admin: true, roles: adminOnly, timed: true, handler: s.handleListOperators},
		{Method: "DELETE", Path: "/v1/admin/operators/{name}", admin: true, roles: adminOnly, timed: true, handler: s.handleRemoveOperator},
		{Method: "GET", Path: "/v1/admin/licenses/{id}/export", admin: true, roles: privacy, timed: true, handler: s.handleExportPerson},
		{Method: "DELETE", Path: "/v1/admin/licenses/{id}", admin: true, roles: privacy, timed: true, handler: s.handleDeletePerson},
		{Method: "GET", Path: "/v1/my-data", device: true, timed: true, handler: s.handleExportMyData},
		{Method: "DELETE", Path: "/v1/my-data", device: true, timed: true, handler: s.handleDeleteMyData},
		{Method: "GET", Path: "/v1/admin/audit", admin: true, roles: privacy, timed: true, handler: s.handleAudit},
		{Method: "GET", Path: "/v1/admin/audit/verify", admin: true, roles: privacy, timed: true, handler: s.handleAuditVerify},
		{Method: "GET", Path: "/healthz", timed: true, handler: s.handleHealth},
		{Method: "GET", Path: "/metrics", handler: metrics.ServeHTTP},
		{Method: "POST", Path: "/v1/admin/verdicts", admin: true, roles: analyst, timed: true, handler: s.handleSetVerdicts},
		{Method: "GET", Path: "/v1/admin/verdict", admin: true, roles: analystOrSupport, timed: true, handler: s.handleGetVerdict},
		{Method: "GET", Path: "/v1/admin/verdict/explain", admin: true, roles: analystOrSupport, timed: true, handler: s.handleExplain},
		{Method: "GET", Path: "/v1/admin/telemetry/stats", admin: true, roles: analystOrPrivacy, timed: true, handler: s.handleTelemetryStats},
		{Method: "GET", Path: "/v1/admin/privacy/audit", admin: true, roles: privacy, timed: true, handler: s.handlePrivacyAudit},
		{Method: "POST", Path: "/v1/samples", device: true, timed: true, handler: s.handleSampleUpload},
		{Method: "GET", Path: "/v1/admin/samples", admin: true, roles: analyst, timed: true, handler: s.handleListSamples},
		{Method: "GET", Path: "/v1/admin/samples/{sha256}", admin: true, roles: analyst, timed: true, handler: s.handleGetSample},
		{Method: "POST", Path: "/v1/admin/samples/{sha256}/verdict", admin: true, roles: analyst, timed: true, handler: s.handleSampleVerdict},
	}, s.transparencyRoutes()...)
}

// Routes lists the API's endpoints (method and path), as documented in
// api/openapi.yaml.
func Routes() []Route {
	s := &Server{Registry: prometheus.NewRegistry()}
	return s.routes()
}

func (s *Server) instrument(route string, h http.HandlerFunc) http.Handler {
	hist := s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h(w, r)
		hist.Observe(time.Since(start).Seconds())
	})
}

func (s *Server) handleLookup(w http.ResponseWriter, r *http.Request) {
	objs, err := s.decodeLookup(w, r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	recs, err := s.Reputation.Lookup(r.Context(), objs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pos, neg := int(s.PositiveTTL/time.Second), int(s.NegativeTTL/time.Second)
	resp := LookupResponse{Results: make([]Answer, len(recs)), PositiveTTL: pos, NegativeTTL: neg}
	for i, rec := range recs {
		a := Answer{Kind: objs[i].Kind, Value: objs[i].Value, Verdict: rec.Verdict, Threat: rec.Threat, Source: rec.Source, Test: rec.Test, TTL: pos}
		if rec.Verdict == herd.VerdictUnknown {
			a.TTL = neg
		}
		resp.Results[i] = a
	}
	s.metrics.lookups.Add(float64(len(objs)))
	bp := bufPool.Get().(*[]byte)
	b := append(appendLookupResponse((*bp)[:0], &resp), '\n')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	bufPool.Put(bp)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// decodeLookup reads the body (bounded) and decodes it on the fast path,
// falling back to DecodeLookup for anything the fast path does not take.
func (s *Server) decodeLookup(w http.ResponseWriter, r *http.Request) ([]herd.Object, error) {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := bytes.NewBuffer((*bp)[:0])
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, maxLookupBody))
	*bp = buf.Bytes()
	if err != nil {
		return nil, bodyError(err)
	}
	if req, ok := decodeLookupFast(buf.Bytes()); ok {
		return ValidateLookup(req)
	}
	return DecodeLookup(bytes.NewReader(buf.Bytes()))
}

// ValidateLookup checks a lookup batch and returns its objects normalized.
// Every bad object is listed with its index and field.
func ValidateLookup(req LookupRequest) ([]herd.Object, error) {
	if len(req.Objects) == 0 {
		return nil, herd.Errorf(herd.EINVALID, "objects: empty batch")
	}
	if len(req.Objects) > MaxLookupObjects {
		return nil, herd.Errorf(herd.ETOOLARGE, "objects: %d objects, the limit is %d per request", len(req.Objects), MaxLookupObjects)
	}
	objs := make([]herd.Object, len(req.Objects))
	var problems []herd.Problem
	for i, o := range req.Objects {
		n, err := normalize(o)
		if err != nil {
			field := "value"
			if !kindKnown(o.Kind) {
				field = "kind"
			}
			problems = append(problems, herd.Problem{Index: i, Field: field, Message: herd.ErrorMessage(err)})
			continue
		}
		objs[i] = n
	}
	if problems != nil {
		return nil, &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("objects: %d of %d invalid", len(problems), len(objs)), Problems: clipProblems(problems)}
	}
	return objs, nil
}

// normalize returns an object's canonical form. URLs are canonicalized as
// Google Safe Browsing specifies, so that every spelling of one address
// finds the same verdict, whether it is looked up or set.
func normalize(o herd.Object) (herd.Object, error) {
	n, err := o.Normalize() // strict first: a URL with a space is an error, not guessed at
	if err != nil || n.Kind != herd.KindURL {
		return n, err
	}
	c, err := scrub.Canonicalize(n.Value)
	if err != nil {
		return o, herd.Errorf(herd.EINVALID, "url %q: %v", clip(o.Value), err)
	}
	// The canonical form is kept as Canonicalize made it; it must still be
	// a valid URL object.
	if _, err := (herd.Object{Kind: herd.KindURL, Value: c}).Normalize(); err != nil {
		return o, err
	}
	return herd.Object{Kind: herd.KindURL, Value: c}, nil
}

func kindKnown(k herd.Kind) bool {
	for _, x := range herd.Kinds {
		if k == x {
			return true
		}
	}
	return false
}

func (s *Server) handleTelemetry(w http.ResponseWriter, r *http.Request) {
	req, err := DecodeTelemetry(http.MaxBytesReader(w, r.Body, maxTelemetryBody), time.Now())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := sameDevice(r, req.Device); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Ingest.Ingest(r.Context(), herd.TelemetryBatch{Device: req.Device, Client: clientAddr(r), Events: req.Events})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// ValidateTelemetry checks a telemetry batch. A batch with any bad event is
// refused whole, listing every bad event, so that nothing is half-stored and
// the agent can fix and re-send the same ids.
func ValidateTelemetry(req TelemetryRequest, now time.Time) error {
	if err := ingest.ValidDevice(req.Device); err != nil {
		return err
	}
	if len(req.Events) == 0 {
		return herd.Errorf(herd.EINVALID, "events: empty batch")
	}
	if len(req.Events) > MaxTelemetryEvents {
		return herd.Errorf(herd.ETOOLARGE, "events: %d events, the limit is %d per request", len(req.Events), MaxTelemetryEvents)
	}
	var problems []herd.Problem
	bad := func(i int, field, msg string) {
		problems = append(problems, herd.Problem{Index: i, Field: field, Message: msg})
	}
	badEvents := 0
	for i, ev := range req.Events {
		before := len(problems)
		switch {
		case ev.ID == "":
			bad(i, "id", "missing")
		case len(ev.ID) > MaxEventIDLen:
			bad(i, "id", fmt.Sprintf("longer than %d bytes", MaxEventIDLen))
		case !idChars(ev.ID):
			bad(i, "id", "only letters, digits and . _ : - are allowed")
		}
		if ev.Type == "" {
			bad(i, "type", "missing")
		} else if len(ev.Type) > 64 {
			bad(i, "type", "longer than 64 bytes")
		}
		if !ev.Category.Valid() {
			bad(i, "category", fmt.Sprintf("%q is not a category", clip(string(ev.Category))))
		}
		switch {
		case ev.Time.IsZero():
			bad(i, "time", "missing")
		case ev.Time.After(now.Add(24 * time.Hour)):
			bad(i, "time", "more than 24 hours in the future")
		}
		switch {
		case len(ev.Payload) == 0:
			bad(i, "payload", "missing")
		case len(ev.Payload) > MaxPayloadBytes:
			bad(i, "payload", fmt.Sprintf("larger than %d bytes", MaxPayloadBytes))
		case ev.Payload[0] != '{':
			bad(i, "payload", "must be a JSON object")
		}
		if len(problems) > before {
			badEvents++
		}
	}
	if problems != nil {
		return &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("events: %d of %d invalid, nothing stored", badEvents, len(req.Events)), Problems: clipProblems(problems)}
	}
	return nil
}

func idChars(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// handleStream serves verdict changes as Server-Sent Events. Each event's id
// is the change's sequence number; a client that reconnects with
// Last-Event-ID (or ?after=) receives every change after it.
// LiveChanges fans out the verdict changes a replica applies (package
// reputation's Hub).
type LiveChanges interface {
	// Subscribe returns every change published from now on (the channel is
	// closed if the subscriber falls more than buf changes behind) and the
	// sequence number of the last change published before.
	Subscribe(buf int) (changes <-chan herd.VerdictChange, seq uint64, cancel func())
}

// liveBuffer is how many changes a stream may fall behind before it is
// closed; the agent then reconnects and catches up from the store.
const liveBuffer = 1024

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	after, err := streamStart(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var changes, live <-chan herd.VerdictChange
	backlogCtx, stopBacklog := context.WithCancel(ctx)
	defer stopBacklog()
	if s.Live != nil {
		var cur uint64
		var stop func()
		live, cur, stop = s.Live.Subscribe(liveBuffer)
		defer stop()
		if after < cur {
			// Behind this replica: catch up from the store first. The
			// subscription started before the catch-up, so nothing falls
			// between the two.
			changes, err = s.Verdicts.Changes(backlogCtx, after)
		} else {
			ch := make(chan herd.VerdictChange, 1)
			ch <- herd.VerdictChange{CaughtUp: true}
			changes = ch
		}
	} else {
		changes, err = s.Verdicts.Changes(ctx, after)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "retry: 2000\n\n"); err != nil {
		return
	}
	_ = rc.Flush()
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	tick := time.NewTicker(s.Heartbeat)
	defer tick.Stop()
	// First the store's backlog up to its caught-up mark, then either this
	// replica's live changes (skipping what the backlog already sent) or,
	// without Live, the store's watch as it goes on.
	last := after // the highest sequence sent
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			_, err = io.WriteString(w, ": ping\n\n")
		case c, ok := <-changes:
			if !ok {
				return // the store's feed ended, or this stream fell behind
			}
			if c.CaughtUp && live != nil {
				stopBacklog() // the store's watch is not needed any more
				changes, live = live, nil
			}
			if !c.CaughtUp && c.Seq <= last {
				continue // sent already, from the backlog
			}
			last = max(last, c.Seq)
			err = s.writeChange(w, c)
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// StreamEvent is the data of one "verdict" event of the change stream.
type StreamEvent struct {
	Seq     uint64      `json:"seq"`
	Record  herd.Record `json:"record"`
	Deleted bool        `json:"deleted,omitempty"`
}

func (s *Server) writeChange(w io.Writer, c herd.VerdictChange) error {
	if c.CaughtUp {
		_, err := io.WriteString(w, "event: caught-up\ndata: {}\n\n")
		return err
	}
	e := s.lastChange.Load()
	if e == nil || e.seq != c.Seq {
		b, err := json.Marshal(StreamEvent{Seq: c.Seq, Record: c.Record, Deleted: c.Deleted})
		if err != nil {
			return err
		}
		e = &encodedChange{seq: c.Seq, text: fmt.Appendf(nil, "id: %d\nevent: verdict\ndata: %s\n\n", c.Seq, b)}
		s.lastChange.Store(e)
	}
	_, err := w.Write(e.text)
	return err
}

func streamStart(r *http.Request) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	field := "Last-Event-ID"
	if q := r.URL.Query().Get("after"); q != "" {
		v, field = q, "after"
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, herd.Errorf(herd.EINVALID, "%s %q: not a sequence number", field, clip(v))
	}
	return n, nil
}

// ConsentService stores consent records (package ingest).
type ConsentService interface {
	SetConsent(ctx context.Context, device string, rec consent.Record) (ingest.Receipt, error)
}

func (s *Server) handleConsent(w http.ResponseWriter, r *http.Request) {
	var req ConsentRequest
	if err := decodeJSON(http.MaxBytesReader(w, r.Body, maxConsentBody), &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := sameDevice(r, req.Device); err != nil {
		s.writeError(w, r, err)
		return
	}
	receipt, err := s.Consent.SetConsent(r.Context(), req.Device, req.Record)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, receipt)
}

func (s *Server) handleInventory(w http.ResponseWriter, r *http.Request) {
	b, err := inventory.JSON()
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}

// clientAddr is the address the request came from; the cloud maps it to a
// country and ASN and then forgets it.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.Health(ctx); err != nil {
			s.Logger.Warn("health check failed", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleSetVerdicts(w http.ResponseWriter, r *http.Request) {
	recs, err := DecodeVerdicts(http.MaxBytesReader(w, r.Body, maxAdminBody), time.Now().UTC())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var resp SetVerdictsResponse
	for _, rec := range recs {
		seq, err := s.Verdicts.Put(r.Context(), rec)
		if err != nil {
			s.writeError(w, r, fmt.Errorf("verdict %d of %d (%d stored): %w", resp.Stored+1, len(recs), resp.Stored, err))
			return
		}
		resp.Stored++
		resp.Seq = seq
	}
	// Read-your-writes: answer once this replica's index serves the change,
	// so a scan started after the answer sees the new verdict.
	if w, ok := s.Reputation.(interface {
		WaitFor(context.Context, uint64) error
	}); ok {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		err := w.WaitFor(ctx, resp.Seq)
		cancel()
		if err != nil {
			s.Logger.Warn("verdict stored but not yet indexed", "seq", resp.Seq, "err", err)
		}
	}
	s.Logger.Info("verdicts set", "count", resp.Stored, "seq", resp.Seq)
	writeJSON(w, http.StatusOK, resp)
}

// ValidateVerdicts checks an admin verdict batch and returns the records to store.
func ValidateVerdicts(req SetVerdictsRequest, now time.Time) ([]herd.Record, error) {
	if len(req.Verdicts) == 0 {
		return nil, herd.Errorf(herd.EINVALID, "verdicts: empty batch")
	}
	if len(req.Verdicts) > MaxAdminVerdicts {
		return nil, herd.Errorf(herd.ETOOLARGE, "verdicts: %d verdicts, the limit is %d per request", len(req.Verdicts), MaxAdminVerdicts)
	}
	recs := make([]herd.Record, 0, len(req.Verdicts))
	var problems []herd.Problem
	for i, v := range req.Verdicts {
		obj, err := normalize(herd.Object{Kind: v.Kind, Value: v.Value})
		if err != nil {
			field := "value"
			if !kindKnown(v.Kind) {
				field = "kind"
			}
			problems = append(problems, herd.Problem{Index: i, Field: field, Message: herd.ErrorMessage(err)})
			continue
		}
		src := v.Source
		switch src {
		case "":
			src = herd.SourceOperator
		case herd.SourceOperator, herd.SourceImport:
		default:
			problems = append(problems, herd.Problem{Index: i, Field: "source", Message: fmt.Sprintf("%q: want operator or import", clip(src))})
			continue
		}
		rec := herd.Record{Object: obj, Verdict: v.Verdict, Threat: v.Threat, Source: src, Updated: now}
		if err := rec.Validate(); err != nil {
			field := "threat"
			if !v.Verdict.Valid() || v.Verdict == herd.VerdictUnknown {
				field = "verdict"
			}
			problems = append(problems, herd.Problem{Index: i, Field: field, Message: herd.ErrorMessage(err)})
			continue
		}
		recs = append(recs, rec)
	}
	if problems != nil {
		return nil, &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("verdicts: %d of %d invalid, nothing stored", len(problems), len(req.Verdicts)), Problems: clipProblems(problems)}
	}
	return recs, nil
}

func (s *Server) handleGetVerdict(w http.ResponseWriter, r *http.Request) {
	_, resp, err := s.currentVerdict(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// currentVerdict parses the object query parameter and returns the
// object's stored verdict, or what a lookup gives.
func (s *Server) currentVerdict(r *http.Request) (herd.Object, VerdictResponse, error) {
	var resp VerdictResponse
	obj, err := herd.ParseObject(r.URL.Query().Get("object"))
	if err == nil {
		obj, err = normalize(obj)
	}
	if err != nil {
		return obj, resp, err
	}
	rec, err := s.Verdicts.Get(r.Context(), obj)
	switch herd.ErrorCode(err) {
	case "":
		resp.Record, resp.Stored = rec, true
	case herd.ENOTFOUND:
		recs, err := s.Reputation.Lookup(r.Context(), []herd.Object{obj})
		if err != nil {
			return obj, resp, err
		}
		resp.Record = recs[0]
	default:
		return obj, resp, err
	}
	return obj, resp, nil
}

func (s *Server) handleExplain(w http.ResponseWriter, r *http.Request) {
	if s.Evidence == nil || s.History == nil {
		s.writeError(w, r, herd.Errorf(herd.ENOTFOUND, "this server keeps no evidence"))
		return
	}
	obj, cur, err := s.currentVerdict(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	resp := ExplainResponse{Record: cur.Record, Stored: cur.Stored, History: []herd.HistoryEntry{}}
	ev, err := s.Evidence.Evidence(r.Context(), obj)
	switch herd.ErrorCode(err) {
	case "":
		resp.Evidence = &ev
	case herd.ENOTFOUND:
	default:
		s.writeError(w, r, err)
		return
	}
	h, err := s.History.History(r.Context(), obj)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if h != nil {
		resp.History = h
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleTelemetryStats(w http.ResponseWriter, r *http.Request) {
	st, err := s.Telemetry.Stats(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// DecodeLookup decodes and validates a lookup request body and returns its
// objects normalized.
func DecodeLookup(r io.Reader) ([]herd.Object, error) {
	var env struct {
		Objects []json.RawMessage `json:"objects"`
	}
	if err := decodeJSON(r, &env); err != nil {
		return nil, err
	}
	if len(env.Objects) > MaxLookupObjects {
		return nil, herd.Errorf(herd.ETOOLARGE, "objects: %d objects, the limit is %d per request", len(env.Objects), MaxLookupObjects)
	}
	objs, err := decodeItems[herd.Object]("objects", env.Objects)
	if err != nil {
		return nil, err
	}
	return ValidateLookup(LookupRequest{Objects: objs})
}

// DecodeTelemetry decodes and validates a telemetry batch.
func DecodeTelemetry(r io.Reader, now time.Time) (TelemetryRequest, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return TelemetryRequest{}, bodyError(err)
	}
	if req, ok := decodeTelemetryFast(body); ok {
		if len(req.Events) > MaxTelemetryEvents {
			return TelemetryRequest{}, herd.Errorf(herd.ETOOLARGE, "events: %d events, the limit is %d per request", len(req.Events), MaxTelemetryEvents)
		}
		return req, ValidateTelemetry(req, now)
	}
	return decodeTelemetry(bytes.NewReader(body), now)
}

// decodeTelemetry is DecodeTelemetry with encoding/json alone.
func decodeTelemetry(r io.Reader, now time.Time) (TelemetryRequest, error) {
	var env struct {
		Device string            `json:"device"`
		Events []json.RawMessage `json:"events"`
	}
	if err := decodeJSON(r, &env); err != nil {
		return TelemetryRequest{}, err
	}
	if len(env.Events) > MaxTelemetryEvents {
		return TelemetryRequest{}, herd.Errorf(herd.ETOOLARGE, "events: %d events, the limit is %d per request", len(env.Events), MaxTelemetryEvents)
	}
	evs, err := decodeItems[herd.Event]("events", env.Events)
	if err != nil {
		return TelemetryRequest{}, err
	}
	req := TelemetryRequest{Device: env.Device, Events: evs}
	return req, ValidateTelemetry(req, now)
}

// DecodeVerdicts decodes and validates an admin verdict batch.
func DecodeVerdicts(r io.Reader, now time.Time) ([]herd.Record, error) {
	var env struct {
		Verdicts []json.RawMessage `json:"verdicts"`
	}
	if err := decodeJSON(r, &env); err != nil {
		return nil, err
	}
	if len(env.Verdicts) > MaxAdminVerdicts {
		return nil, herd.Errorf(herd.ETOOLARGE, "verdicts: %d verdicts, the limit is %d per request", len(env.Verdicts), MaxAdminVerdicts)
	}
	vs, err := decodeItems[VerdictInput]("verdicts", env.Verdicts)
	if err != nil {
		return nil, err
	}
	return ValidateVerdicts(SetVerdictsRequest{Verdicts: vs}, now)
}

// decodeItems decodes each item of a batch on its own, so that a JSON-level
// error (a wrong type, an unknown field, a bad time) is reported with the
// item's index and field, like a validation error. A nil slice stays nil.
func decodeItems[T any](batch string, raws []json.RawMessage) ([]T, error) {
	if raws == nil {
		return nil, nil
	}
	out := make([]T, len(raws))
	var problems []herd.Problem
	for i, raw := range raws {
		if err := decodeStrict(bytes.NewReader(raw), &out[i]); err != nil {
			problems = append(problems, itemProblem(i, err))
		}
	}
	if problems != nil {
		return nil, &herd.Error{Code: herd.EINVALID, Message: fmt.Sprintf("%s: %d of %d invalid, nothing stored", batch, len(problems), len(raws)), Problems: clipProblems(problems)}
	}
	return out, nil
}

// itemProblem turns the decoding error of one batch item into a problem.
func itemProblem(i int, err error) herd.Problem {
	var typ *json.UnmarshalTypeError
	var pe *time.ParseError
	switch {
	case errors.As(err, &typ):
		return herd.Problem{Index: i, Field: typ.Field, Message: fmt.Sprintf("got JSON %s, want %s", typ.Value, wireType(typ.Type))}
	case errors.As(err, &pe):
		return herd.Problem{Index: i, Field: "time", Message: "not an RFC 3339 time (e.g. 2026-11-25T06:00:00Z)"}
	}
	msg := strings.TrimPrefix(err.Error(), "json: ")
	if f, ok := strings.CutPrefix(msg, "unknown field "); ok {
		if f = strings.Trim(f, `"`); f == "" {
			f = `""` // a field with an empty name
		}
		return herd.Problem{Index: i, Field: f, Message: "unknown field"}
	}
	return herd.Problem{Index: i, Message: msg}
}

// wireType names the JSON type a Go type is decoded from.
func wireType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "JSON value"
		}
		return "array"
	case reflect.Map, reflect.Struct:
		return "object"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "number"
	}
	return t.String()
}

// decodeJSON decodes one JSON value into v, refusing unknown fields and
// trailing data, with errors that say where the body is wrong.
func decodeJSON(r io.Reader, v any) error {
	if err := decodeStrict(r, v); err != nil {
		var e *herd.Error
		if errors.As(err, &e) {
			return err
		}
		return bodyError(err)
	}
	return nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and trailing
// data, and returns encoding/json's own errors.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return herd.Errorf(herd.EINVALID, "body: data after the JSON value")
	}
	return nil
}

// bodyError turns a JSON decoding error into a message naming the place.
func bodyError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var max *http.MaxBytesError
	switch {
	case errors.As(err, &max):
		return herd.Errorf(herd.ETOOLARGE, "body: larger than %d bytes", max.Limit)
	case errors.As(err, &syn):
		return herd.Errorf(herd.EINVALID, "body: invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		return herd.Errorf(herd.EINVALID, "body: field %q: got JSON %s, want %s", typ.Field, typ.Value, wireType(typ.Type))
	case errors.Is(err, io.EOF):
		return herd.Errorf(herd.EINVALID, "body: empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return herd.Errorf(herd.EINVALID, "body: truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return herd.Errorf(herd.EINVALID, "body: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return herd.Errorf(herd.EINVALID, "body: %s", strings.TrimPrefix(err.Error(), "json: "))
}

// statusOf maps an error code to an HTTP status.
func statusOf(code string) int {
	switch code {
	case herd.EINVALID:
		return http.StatusBadRequest
	case herd.ENOTFOUND:
		return http.StatusNotFound
	case herd.ECONFLICT:
		return http.StatusConflict
	case herd.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case herd.ECONSENT, herd.EFORBIDDEN:
		return http.StatusForbidden
	case herd.ETOOLARGE:
		return http.StatusRequestEntityTooLarge
	case herd.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := herd.ErrorCode(err)
	if code == herd.EINTERNAL || code == herd.EUNAVAILABLE {
		s.Logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	var body ErrorBody
	body.Error.Code = code
	body.Error.Message = herd.ErrorMessage(err)
	var e *herd.Error
	if errors.As(err, &e) && len(e.Problems) > 0 {
		// The problems travel in their own field; the message does not repeat them.
		body.Error.Message = e.Message
		body.Error.Problems = e.Problems
	}
	s.metrics.errors.WithLabelValues(code).Inc()
	writeJSON(w, statusOf(code), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"code":"internal","message":"internal error"}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// maxProblems bounds how many problems one error lists.
const maxProblems = 100

func clipProblems(p []herd.Problem) []herd.Problem {
	if len(p) > maxProblems {
		return p[:maxProblems]
	}
	return p
}

func clip(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:77] + "..."
}
