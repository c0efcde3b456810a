package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/consent"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
	"github.com/herdsec/herd/reputation"
)

const adminToken = "t0ken-3f9c2a7d41b86e05c9d2f1a4b7e83c60"

// TestServer is a running API server on 127.0.0.1 with real storage.
type TestServer struct {
	URL   string
	DB    *jetstream.DB
	Index *reputation.Index
	HTTP  *http.Client

	storageClosed bool // set by a test that closes DB on purpose
}

// MustOpenServer starts the API server on 127.0.0.1:0 over an embedded
// JetStream in a temporary directory, with the reputation index following
// the verdict store, and returns a client holding the admin token. Everything
// is stopped when the test ends.
func MustOpenServer(tb testing.TB) (*httpapi.Client, *TestServer) {
	tb.Helper()
	cl, err := cloud.Open(context.Background(), cloud.Options{
		Data:        tb.TempDir(),
		JetStream:   jetstream.Config{MaxMemory: 64 << 20, MaxStore: 256 << 20},
		AdminToken:  adminToken,
		PositiveTTL: time.Hour,
		NegativeTTL: 15 * time.Minute,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Close() })
	ts := &TestServer{DB: cl.DB, Index: cl.Index}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: cl.Handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	tb.Cleanup(func() {
		// Wait for the handlers to end before the storage closes; a stream
		// still open after 5 s is cut.
		ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
		defer stop()
		if err := hs.Shutdown(ctx); err != nil {
			hs.Close()
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
	})

	ts.URL = "http://" + ln.Addr().String()
	tr := &http.Transport{}
	tb.Cleanup(tr.CloseIdleConnections)
	ts.HTTP = &http.Client{Transport: tr, Timeout: 30 * time.Second}
	c, err := httpapi.NewClient(ts.URL)
	if err != nil {
		tb.Fatal(err)
	}
	c.HTTP, c.Token = ts.HTTP, adminToken
	rec, err := consent.FromProfile(consent.ProfileFull, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := c.SetConsent(context.Background(), testDevice, rec); err != nil {
		tb.Fatal(err)
	}
	return c, ts
}

// answer is one raw HTTP answer.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request as is, without the Go client.
func (ts *TestServer) do(t *testing.T, method, path string, header http.Header, body io.Reader) answer {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	res, err := ts.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read answer: %v", method, path, err)
	}
	return answer{res.StatusCode, res.Header, b}
}

// errorBody decodes an error answer strictly and checks its status and content type.
func (a answer) errorBody(t *testing.T, status int) httpapi.ErrorBody {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d; body %s", a.status, status, a.body)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var eb httpapi.ErrorBody
	dec := json.NewDecoder(bytes.NewReader(a.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&eb); err != nil {
		t.Fatalf("error body %s: %v", a.body, err)
	}
	return eb
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }

// eventually polls cond until it holds, for at most 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestLookupEICAR(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	objs := []herd.Object{
		{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256)},
		{Kind: herd.KindMD5, Value: herd.EICARMD5},
		{Kind: herd.KindSHA1, Value: herd.EICARSHA1},
		{Kind: herd.KindDomain, Value: "Unknown.Example."},
	}
	got, err := c.LookupAnswers(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	eicar := func(k herd.Kind, v string) httpapi.Answer {
		return httpapi.Answer{Kind: k, Value: v, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Test: true, TTL: 3600}
	}
	want := httpapi.LookupResponse{
		Results: []httpapi.Answer{
			eicar(herd.KindSHA256, herd.EICARSHA256),
			eicar(herd.KindMD5, herd.EICARMD5),
			eicar(herd.KindSHA1, herd.EICARSHA1),
			{Kind: herd.KindDomain, Value: "unknown.example", Verdict: herd.VerdictUnknown, TTL: 900},
		},
		PositiveTTL: 3600, NegativeTTL: 900,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("lookup\n got %+v\nwant %+v", got, want)
	}

	// On the wire: unknown answers leave out threat, source and test, and
	// nothing the document does not list is sent.
	a := ts.do(t, "POST", "/v1/lookup", nil, strings.NewReader(`{"objects":[{"kind":"ip","value":"::ffff:192.0.2.1"}]}`))
	if a.status != http.StatusOK || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, Content-Type %q", a.status, a.header.Get("Content-Type"))
	}
	var raw map[string]any
	if err := json.Unmarshal(a.body, &raw); err != nil {
		t.Fatalf("answer %s: %v", a.body, err)
	}
	wantRaw := map[string]any{
		"results":      []any{map[string]any{"kind": "ip", "value": "192.0.2.1", "verdict": "unknown", "ttl": 900.0}},
		"positive_ttl": 3600.0, "negative_ttl": 900.0,
	}
	if !reflect.DeepEqual(raw, wantRaw) {
		t.Fatalf("answer %s, want %v", a.body, wantRaw)
	}

	// The client's Lookup gives records.
	recs, err := c.Lookup(ctx, objs[:1])
	if err != nil {
		t.Fatal(err)
	}
	wantRec := herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: herd.EICARSHA256}, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Test: true}
	if len(recs) != 1 || recs[0] != wantRec {
		t.Fatalf("Lookup = %+v, want [%+v]", recs, wantRec)
	}
}

func TestLookupBatchLimits(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)

	// The client splits a long list into batches the server takes.
	objs := ips(2500)
	objs[1700] = herd.Object{Kind: herd.KindMD5, Value: herd.EICARMD5}
	recs, err := c.Lookup(ctx, objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(objs) {
		t.Fatalf("%d records for %d objects", len(recs), len(objs))
	}
	for i, r := range recs {
		want := herd.VerdictUnknown
		if i == 1700 {
			want = herd.VerdictMalicious
		}
		if r.Object != objs[i] || r.Verdict != want {
			t.Fatalf("record %d = %+v, want %v %s", i, r, objs[i], want)
		}
	}

	// One request over the limit is refused.
	_, err = c.LookupAnswers(ctx, ips(httpapi.MaxLookupObjects+1))
	if herd.ErrorCode(err) != herd.ETOOLARGE {
		t.Fatalf("1001 objects: err %v, want too_large", err)
	}
	eb := ts.do(t, "POST", "/v1/lookup", nil, strings.NewReader(lookupBody(ips(1001)...))).errorBody(t, http.StatusRequestEntityTooLarge)
	if eb.Error.Code != herd.ETOOLARGE || eb.Error.Message != "objects: 1001 objects, the limit is 1000 per request" {
		t.Fatalf("error %+v", eb.Error)
	}

	// Bad objects are listed with their index and field.
	eb = ts.do(t, "POST", "/v1/lookup", nil, strings.NewReader(lookupBody(ip(0), herd.Object{Kind: herd.KindSHA256, Value: sha63}))).errorBody(t, http.StatusBadRequest)
	want := []herd.Problem{{Index: 1, Field: "value", Message: `sha256 "` + sha63 + `": want 64 hex digits, got 63 characters`}}
	if eb.Error.Code != herd.EINVALID || !reflect.DeepEqual(eb.Error.Problems, want) {
		t.Fatalf("error %+v, want problems %+v", eb.Error, want)
	}
}

func TestAdminNeedsToken(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	body := verdictsBody(httpapi.VerdictInput{Kind: herd.KindDomain, Value: "evil.example", Verdict: herd.VerdictMalicious})
	routes := []struct{ method, path, body string }{
		{"POST", "/v1/admin/verdicts", body},
		{"GET", "/v1/admin/verdict?object=domain:evil.example", ""},
		{"GET", "/v1/admin/telemetry/stats", ""},
	}
	headers := map[string]http.Header{
		"no header":        nil,
		"wrong token":      bearer("t0ken-00000000000000000000000000000000"),
		"token prefix":     bearer(adminToken[:len(adminToken)-1]),
		"token and more":   bearer(adminToken + "x"),
		"empty token":      bearer(""),
		"basic scheme":     {"Authorization": {"Basic " + adminToken}},
		"token, no scheme": {"Authorization": {adminToken}},
	}
	for _, rt := range routes {
		for name, h := range headers {
			eb := ts.do(t, rt.method, rt.path, h, strings.NewReader(rt.body)).errorBody(t, http.StatusUnauthorized)
			if eb.Error.Code != herd.EUNAUTHORIZED || eb.Error.Message != "admin API: missing or wrong bearer token" || eb.Error.Problems != nil {
				t.Errorf("%s %s, %s: error %+v", rt.method, rt.path, name, eb.Error)
			}
		}
	}

	// The Go client reports the code.
	anon := *c
	anon.Token = ""
	if _, err := anon.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: herd.KindDomain, Value: "evil.example", Verdict: herd.VerdictMalicious}}); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("SetVerdicts without a token: err %v, want unauthorized", err)
	}
	anon.Token = "t0ken-wrong-wrong-wrong-wrong-wrong-wr"
	if _, err := anon.TelemetryStats(ctx); herd.ErrorCode(err) != herd.EUNAUTHORIZED {
		t.Fatalf("TelemetryStats with a wrong token: err %v, want unauthorized", err)
	}

	// Nothing refused was stored, and the right token works.
	got, err := c.GetVerdict(ctx, herd.Object{Kind: herd.KindDomain, Value: "evil.example"})
	if err != nil {
		t.Fatal(err)
	}
	want := httpapi.VerdictResponse{Record: herd.Record{Object: herd.Object{Kind: herd.KindDomain, Value: "evil.example"}, Verdict: herd.VerdictUnknown}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("GetVerdict = %+v, want %+v", got, want)
	}
	if a := ts.do(t, "GET", "/v1/admin/telemetry/stats", bearer(adminToken), nil); a.status != http.StatusOK {
		t.Fatalf("stats with the token: status %d %s", a.status, a.body)
	}
}

func TestSetVerdictsThenLookup(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	evil := herd.Object{Kind: herd.KindDomain, Value: "evil.example"}
	eicar := herd.Object{Kind: herd.KindSHA256, Value: herd.EICARSHA256}

	before, err := c.GetVerdict(ctx, eicar)
	if err != nil {
		t.Fatal(err)
	}
	if before.Stored || before.Record != herd.BuiltinRecords()[0] {
		t.Fatalf("EICAR before: %+v, want the built-in record, not stored", before)
	}

	start := time.Now().UTC()
	set, err := c.SetVerdicts(ctx, []httpapi.VerdictInput{
		{Kind: herd.KindDomain, Value: "Evil.EXAMPLE.", Verdict: herd.VerdictMalicious, Threat: "Phish.Kit"},
		// A stored verdict overrides the built-in one.
		{Kind: herd.KindSHA256, Value: strings.ToUpper(herd.EICARSHA256), Verdict: herd.VerdictClean, Source: herd.SourceImport},
	})
	if err != nil {
		t.Fatal(err)
	}
	if set.Stored != 2 || set.Seq == 0 {
		t.Fatalf("SetVerdicts = %+v, want 2 stored and a sequence number", set)
	}

	want := []httpapi.Answer{
		{Kind: herd.KindDomain, Value: "evil.example", Verdict: herd.VerdictMalicious, Threat: "Phish.Kit", Source: herd.SourceOperator, TTL: 3600},
		{Kind: herd.KindSHA256, Value: herd.EICARSHA256, Verdict: herd.VerdictClean, Source: herd.SourceImport, TTL: 3600},
		{Kind: herd.KindMD5, Value: herd.EICARMD5, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Test: true, TTL: 3600},
	}
	var got httpapi.LookupResponse
	eventually(t, "lookup shows the new verdicts", func() bool {
		got, err = c.LookupAnswers(ctx, []herd.Object{evil, eicar, {Kind: herd.KindMD5, Value: herd.EICARMD5}})
		if err != nil {
			t.Fatal(err)
		}
		return reflect.DeepEqual(got.Results, want)
	})
	if ts.Index.Seq() < set.Seq {
		t.Errorf("index at seq %d, want at least %d", ts.Index.Seq(), set.Seq)
	}

	vr, err := c.GetVerdict(ctx, evil)
	if err != nil {
		t.Fatal(err)
	}
	if !vr.Stored || vr.Record.Updated.Before(start.Add(-time.Second)) || vr.Record.Updated.After(time.Now().Add(time.Second)) {
		t.Fatalf("GetVerdict = %+v, want stored, updated since %v", vr, start)
	}
	vr.Record.Updated = time.Time{}
	wantRec := herd.Record{Object: evil, Verdict: herd.VerdictMalicious, Threat: "Phish.Kit", Source: herd.SourceOperator}
	if vr.Record != wantRec {
		t.Fatalf("GetVerdict record = %+v, want %+v", vr.Record, wantRec)
	}

	// A bad batch stores nothing.
	_, err = c.SetVerdicts(ctx, []httpapi.VerdictInput{
		{Kind: herd.KindDomain, Value: "evil.example", Verdict: herd.VerdictClean},
		{Kind: herd.KindDomain, Value: "other.example", Verdict: herd.VerdictUnknown},
	})
	wantProblems := []herd.Problem{{Index: 1, Field: "verdict", Message: `verdict "unknown": must be malicious, suspicious or clean`}}
	if herd.ErrorCode(err) != herd.EINVALID || !reflect.DeepEqual(herd.ErrorProblems(err), wantProblems) {
		t.Fatalf("bad batch: err %v, problems %+v; want invalid with %+v", err, herd.ErrorProblems(err), wantProblems)
	}
	if vr, err := c.GetVerdict(ctx, evil); err != nil || vr.Record.Verdict != herd.VerdictMalicious {
		t.Fatalf("after a refused batch: %+v, %v; want still malicious", vr, err)
	}

	// A bad object in the query is refused.
	eb := ts.do(t, "GET", "/v1/admin/verdict?object=evil.example", bearer(adminToken), nil).errorBody(t, http.StatusBadRequest)
	if eb.Error.Code != herd.EINVALID || eb.Error.Message != `object "evil.example": want KIND:VALUE, e.g. sha256:275a02…` {
		t.Fatalf("error %+v", eb.Error)
	}
}

func TestSetVerdictsReadYourWrites(t *testing.T) {
	// The server answers SetVerdicts once its own index serves the change,
	// so a lookup sent after the answer sees it without waiting.
	c, _ := MustOpenServer(t)
	ctx := ctxFor(t)
	for i := range 5 {
		obj := herd.Object{Kind: herd.KindIP, Value: fmt.Sprintf("198.51.100.%d", i)}
		if _, err := c.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: herd.VerdictSuspicious}}); err != nil {
			t.Fatal(err)
		}
		recs, err := c.Lookup(ctx, []herd.Object{obj})
		if err != nil {
			t.Fatal(err)
		}
		if recs[0].Verdict != herd.VerdictSuspicious {
			t.Fatalf("lookup right after SetVerdicts: %+v, want suspicious", recs[0])
		}
	}
}

func TestTelemetryDeduplicates(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	batch := []herd.Event{event("dev1:0001"), event("dev1:0002"), event("dev1:0003")}
	batch[0].Time = time.Date(2026, 11, 25, 5, 42, 17, 0, time.UTC)
	batch[1].Type, batch[1].Category, batch[1].Payload = "url.check", herd.CategoryWeb, json.RawMessage(`{"url":"https://example.com/","verdict":"unknown"}`)

	res, err := c.SendTelemetry(ctx, testDevice, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 3 || res.Duplicates != 0 || res.Rejected != nil || res.Dropped != nil {
		t.Fatalf("first send: %+v, want 3 stored", res)
	}
	res, err = c.SendTelemetry(ctx, testDevice, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 0 || res.Duplicates != 3 {
		t.Fatalf("re-send: %+v, want 3 duplicates", res)
	}
	st, err := c.TelemetryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != 3 || st.Messages != 2 || st.FirstSeq != 1 || st.LastSeq != 2 || st.Bytes == 0 {
		t.Fatalf("stats %+v, want 3 events in 2 messages (one per category), seq 1 to 2", st)
	}

	// A batch that partly repeats stores only the new events.
	res, err = c.SendTelemetry(ctx, testDevice, []herd.Event{batch[2], event("dev1:0004")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 1 || res.Duplicates != 1 {
		t.Fatalf("overlapping send: %+v, want 1 stored, 1 duplicate", res)
	}

	// What is stored is what was sent, depersonalized: the device as a
	// pseudonym, the time to the hour, the client address to a country.
	var stored []jetstream.Stored
	if err := ts.DB.Telemetry().Each(ctx, func(e jetstream.Stored) error {
		stored = append(stored, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sent := append(batch, event("dev1:0004"))
	if len(stored) != len(sent) {
		t.Fatalf("%d events stored, want %d", len(stored), len(sent))
	}
	// Stored in groups per category: compare as sets.
	want := map[string]int{}
	for _, w := range sent {
		want[w.Type+" "+string(w.Category)+" "+w.Time.UTC().Truncate(time.Hour).Format(time.RFC3339)+" "+string(w.Payload)]++
	}
	for i, e := range stored {
		if e.Country != "ZZ" || len(e.Device) != 32 || strings.Contains(string(e.Payload), testDevice) || e.Hour.Minute() != 0 {
			t.Errorf("stored event %d = %+v (payload %s)", i, e, e.Payload)
		}
		k := e.Type + " " + string(e.Category) + " " + e.Hour.Format(time.RFC3339) + " " + string(e.Payload)
		if want[k] == 0 {
			t.Errorf("stored event %d = %+v (payload %s) was not sent", i, e, e.Payload)
		}
		want[k]--
	}
}

func TestTelemetryBadBatchStoresNothing(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	if _, err := c.SendTelemetry(ctx, testDevice, []herd.Event{event("first")}); err != nil {
		t.Fatal(err)
	}
	before, err := c.TelemetryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}

	batch := []herd.Event{event("b-0"), event("b-1"), event("b-2")}
	batch[1].Category = "keystrokes"
	_, err = c.SendTelemetry(ctx, testDevice, batch)
	wantProblems := []herd.Problem{{Index: 1, Field: "category", Message: `"keystrokes" is not a category`}}
	if herd.ErrorCode(err) != herd.EINVALID || !reflect.DeepEqual(herd.ErrorProblems(err), wantProblems) {
		t.Fatalf("bad batch: err %#v, want invalid with problems %+v", err, wantProblems)
	}
	// The client gives back the error the server made: the first problem
	// is named once.
	if got, want := err.Error(), `events: 1 of 3 invalid, nothing stored: item 1: field "category": "keystrokes" is not a category`; got != want {
		t.Errorf("client error\n got %q\nwant %q", got, want)
	}
	after, err := c.TelemetryStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after != before {
		t.Fatalf("stats after a refused batch %+v, before %+v", after, before)
	}

	// On the wire it is a 400 naming the event.
	eb := ts.do(t, "POST", "/v1/telemetry", nil, strings.NewReader(telemetryBody(batch...))).errorBody(t, http.StatusBadRequest)
	if eb.Error.Code != herd.EINVALID || !reflect.DeepEqual(eb.Error.Problems, wantProblems) ||
		eb.Error.Message != `events: 1 of 3 invalid, nothing stored` {
		t.Fatalf("error %+v", eb.Error)
	}

	// Fixed and sent again with the same ids, every event is new: none of
	// the refused batch had been kept.
	batch[1].Category = herd.CategoryThreats
	res, err := c.SendTelemetry(ctx, testDevice, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Stored != 3 || res.Rejected != nil {
		t.Fatalf("fixed batch: %+v, want 3 stored", res)
	}
	if st, err := c.TelemetryStats(ctx); err != nil || st.Events != before.Events+3 {
		t.Fatalf("stats %+v (%v), want %d events", st, err, before.Events+3)
	}
}

// stream follows the verdict stream from after in the background.
type stream struct {
	changes chan herd.VerdictChange
	done    chan struct{}
	after   uint64 // set when done
	err     error  // set when done
	cancel  context.CancelFunc
}

var errStop = errors.New("stop")

// startStream follows c's verdict stream from after until stop returns
// true for a change (then Stream's fn returns errStop) or the test ends.
func startStream(t *testing.T, c *httpapi.Client, after uint64, stop func(herd.VerdictChange) bool) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stream{changes: make(chan herd.VerdictChange, 1000), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(s.done)
		s.after, s.err = c.Stream(ctx, after, func(ch herd.VerdictChange) error {
			s.changes <- ch
			if stop != nil && stop(ch) {
				return errStop
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-s.done })
	return s
}

// next returns the stream's next change.
func (s *stream) next(t *testing.T) herd.VerdictChange {
	t.Helper()
	select {
	case c := <-s.changes:
		return c
	case <-s.done:
		select {
		case c := <-s.changes:
			return c
		default:
		}
		t.Fatalf("stream ended: after %d, %v", s.after, s.err)
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	panic("unreachable")
}

func (s *stream) wait(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("stream did not end within 10s")
	}
}

func setVerdict(t *testing.T, c *httpapi.Client, obj herd.Object, v herd.Verdict) uint64 {
	t.Helper()
	res, err := c.SetVerdicts(ctxFor(t), []httpapi.VerdictInput{{Kind: obj.Kind, Value: obj.Value, Verdict: v, Threat: "T." + obj.Value}})
	if err != nil {
		t.Fatal(err)
	}
	return res.Seq
}

func domain(i int) herd.Object {
	return herd.Object{Kind: herd.KindDomain, Value: fmt.Sprintf("d%d.example", i)}
}

func checkChange(t *testing.T, got herd.VerdictChange, seq uint64, obj herd.Object, v herd.Verdict) {
	t.Helper()
	if got.CaughtUp || got.Deleted || got.Seq != seq || got.Record.Object != obj || got.Record.Verdict != v ||
		got.Record.Threat != "T."+obj.Value || got.Record.Source != herd.SourceOperator || got.Record.Updated.IsZero() {
		t.Fatalf("change %+v, want seq %d: %v %s, threat T.%s, by the operator", got, seq, obj, v, obj.Value)
	}
}

func TestStreamDeliversChanges(t *testing.T) {
	c, _ := MustOpenServer(t)
	seq1 := setVerdict(t, c, domain(1), herd.VerdictMalicious)

	s := startStream(t, c, 0, nil)
	checkChange(t, s.next(t), seq1, domain(1), herd.VerdictMalicious) // the backlog
	if ch := s.next(t); !ch.CaughtUp {
		t.Fatalf("after the backlog: %+v, want caught-up", ch)
	}

	// Changes made while connected arrive, in order.
	seq2 := setVerdict(t, c, domain(2), herd.VerdictSuspicious)
	seq3 := setVerdict(t, c, domain(1), herd.VerdictClean)
	checkChange(t, s.next(t), seq2, domain(2), herd.VerdictSuspicious)
	checkChange(t, s.next(t), seq3, domain(1), herd.VerdictClean)

	s.cancel()
	s.wait(t)
	if s.after != seq3 || !errors.Is(s.err, context.Canceled) {
		t.Fatalf("Stream returned %d, %v; want %d, context canceled", s.after, s.err, seq3)
	}
}

func TestStreamResumes(t *testing.T) {
	c, _ := MustOpenServer(t)
	setVerdict(t, c, domain(0), herd.VerdictMalicious)
	n := setVerdict(t, c, domain(1), herd.VerdictMalicious)

	// A client reads up to the end of the backlog, seq N, and goes away.
	first := startStream(t, c, 0, func(ch herd.VerdictChange) bool { return ch.CaughtUp })
	first.wait(t)
	if first.after != n || !errors.Is(first.err, errStop) {
		t.Fatalf("first stream returned %d, %v; want %d, stop", first.after, first.err, n)
	}

	// Five changes while it is away.
	var seqs []uint64
	for i := 10; i < 15; i++ {
		seqs = append(seqs, setVerdict(t, c, domain(i), herd.VerdictSuspicious))
	}

	// Back with after=N: the five, in order, then caught-up, then live
	// changes only; nothing twice, nothing from before N.
	second := startStream(t, c, n, nil)
	for i, seq := range seqs {
		checkChange(t, second.next(t), seq, domain(10+i), herd.VerdictSuspicious)
	}
	if ch := second.next(t); !ch.CaughtUp {
		t.Fatalf("after the five missed changes: %+v, want caught-up", ch)
	}
	last := setVerdict(t, c, domain(99), herd.VerdictClean)
	checkChange(t, second.next(t), last, domain(99), herd.VerdictClean)
	select {
	case ch := <-second.changes:
		t.Fatalf("unexpected change %+v", ch)
	default:
	}
	second.cancel()
	second.wait(t)
	if second.after != last {
		t.Fatalf("second stream returned %d, want %d", second.after, last)
	}
}

func TestStreamWireFormat(t *testing.T) {
	c, ts := MustOpenServer(t)
	seq0 := setVerdict(t, c, domain(0), herd.VerdictMalicious)
	seq1 := setVerdict(t, c, domain(1), herd.VerdictMalicious)

	// ?after= takes precedence over Last-Event-ID.
	ctx, cancel := context.WithCancel(ctxFor(t))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/v1/verdicts/stream?after="+strconv.FormatUint(seq0, 10), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Last-Event-ID", "0")
	res, err := (&http.Client{Transport: ts.HTTP.Transport}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, headers %v", res.StatusCode, res.Header)
	}
	data, err := json.Marshal(httpapi.StreamEvent{Seq: seq1, Record: mustGet(t, c, domain(1))})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"retry: 2000", "",
		"id: " + strconv.FormatUint(seq1, 10), "event: verdict", "data: " + string(data), "",
		"event: caught-up", "data: {}", "",
	}
	sc := bufio.NewScanner(res.Body)
	for i, w := range want {
		if !sc.Scan() {
			t.Fatalf("line %d: stream ended (%v), want %q", i, sc.Err(), w)
		}
		if sc.Text() != w {
			t.Fatalf("line %d: %q, want %q", i, sc.Text(), w)
		}
	}
	cancel()

	for _, tt := range []struct {
		header http.Header
		query  string
		msg    string
	}{
		{nil, "?after=x", `after "x": not a sequence number`},
		{nil, "?after=-1", `after "-1": not a sequence number`},
		{http.Header{"Last-Event-Id": {"abc"}}, "", `Last-Event-ID "abc": not a sequence number`},
	} {
		eb := ts.do(t, "GET", "/v1/verdicts/stream"+tt.query, tt.header, nil).errorBody(t, http.StatusBadRequest)
		if eb.Error.Code != herd.EINVALID || eb.Error.Message != tt.msg {
			t.Errorf("%s %v: error %+v, want %q", tt.query, tt.header, eb.Error, tt.msg)
		}
	}
}

func mustGet(t *testing.T, c *httpapi.Client, obj herd.Object) herd.Record {
	t.Helper()
	vr, err := c.GetVerdict(ctxFor(t), obj)
	if err != nil || !vr.Stored {
		t.Fatalf("GetVerdict %v: %+v, %v", obj, vr, err)
	}
	return vr.Record
}

func TestOversizedBody(t *testing.T) {
	_, ts := MustOpenServer(t)
	for _, tt := range []struct {
		path  string
		limit int
	}{
		{"/v1/lookup", 8 << 20},
		{"/v1/telemetry", 16 << 20},
	} {
		// A valid start, so that only the size is wrong.
		body := `{"objects":[{"kind":"url","value":"http://example.com/` + strings.Repeat("a", tt.limit) + `"}]}`
		if tt.path == "/v1/telemetry" {
			body = `{"events":[{"id":"a","category":"web","time":"2025-11-24T09:00:00Z","payload":{"x":"` + strings.Repeat("a", tt.limit) + `"}}]}`
		}
		eb := ts.do(t, "POST", tt.path, nil, strings.NewReader(body)).errorBody(t, http.StatusRequestEntityTooLarge)
		if want := fmt.Sprintf("body: larger than %d bytes", tt.limit); eb.Error.Code != herd.ETOOLARGE || eb.Error.Message != want {
			t.Errorf("POST %s: error %+v, want too_large %q", tt.path, eb.Error, want)
		}
	}
}

func TestMetrics(t *testing.T) {
	c, ts := MustOpenServer(t)
	ctx := ctxFor(t)
	if _, err := c.LookupAnswers(ctx, ips(4)); err != nil {
		t.Fatal(err)
	}
	if _, err := c.LookupAnswers(ctx, []herd.Object{{Kind: herd.KindMD5, Value: herd.EICARMD5}}); err != nil {
		t.Fatal(err)
	}
	ts.do(t, "POST", "/v1/lookup", nil, strings.NewReader(`{"objects":[]}`))
	if _, err := c.SendTelemetry(ctx, testDevice, []herd.Event{event("m1"), event("m2")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendTelemetry(ctx, testDevice, []herd.Event{event("m2")}); err != nil {
		t.Fatal(err)
	}

	a := ts.do(t, "GET", "/metrics", nil, nil)
	if a.status != http.StatusOK || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, Content-Type %q", a.status, a.header.Get("Content-Type"))
	}
	lines := map[string]bool{}
	for l := range strings.SplitSeq(string(a.body), "\n") {
		lines[l] = true
	}
	for _, want := range []string{
		"herd_lookup_objects_total 5",
		`herd_telemetry_events_total{result="stored"} 2`,
		`herd_telemetry_events_total{result="duplicate"} 1`,
		`herd_api_errors_total{code="invalid"} 1`,
		`herd_http_request_duration_seconds_count{route="POST /v1/lookup"} 3`,
		"herd_verdict_streams 0",
	} {
		if !lines[want] {
			t.Errorf("metrics lack the line %q", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", a.body)
	}
}

func TestUnknownRoute(t *testing.T) {
	_, ts := MustOpenServer(t)
	for _, tt := range []struct{ method, path string }{
		{"GET", "/v1/nope"},
		{"POST", "/v2/lookup"},
		{"GET", "/"},
		{"DELETE", "/v1/admin/verdict"},
	} {
		eb := ts.do(t, tt.method, tt.path, bearer(adminToken), nil).errorBody(t, http.StatusNotFound)
		if want := "no route " + tt.method + " " + tt.path; eb.Error.Code != herd.ENOTFOUND || eb.Error.Message != want || eb.Error.Problems != nil {
			t.Errorf("%s %s: error %+v, want not_found %q", tt.method, tt.path, eb.Error, want)
		}
	}
}

func TestHealth(t *testing.T) {
	c, ts := MustOpenServer(t)
	if err := c.Health(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	if a := ts.do(t, "GET", "/healthz", nil, nil); a.status != http.StatusOK || string(a.body) != `{"status":"ok"}`+"\n" {
		t.Fatalf("healthz: %d %s", a.status, a.body)
	}
	// With the storage gone, the server says so.
	ts.storageClosed = true
	ts.DB.Close()
	if a := ts.do(t, "GET", "/healthz", nil, nil); a.status != http.StatusServiceUnavailable || string(a.body) != `{"status":"unavailable"}`+"\n" {
		t.Fatalf("healthz without storage: %d %s", a.status, a.body)
	}
	if err := c.Health(ctxFor(t)); herd.ErrorCode(err) != herd.EUNAVAILABLE {
		t.Fatalf("Health without storage: %v, want unavailable", err)
	}
}
