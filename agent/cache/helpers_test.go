package cache_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/jetstream"
)

// testCloud is a real cloud in the test process, and its admin client.
type testCloud struct {
	*cloud.Cloud
	srv   *httptest.Server
	URL   string
	Admin *httpapi.Client
}

// MustStartCloud starts a cloud with the test TTLs (positive 1 h,
// negative 15 min).
func MustStartCloud(tb testing.TB) *testCloud {
	tb.Helper()
	cl, srv := cloud.MustOpenTest(tb)
	return newTestCloud(cl, srv)
}

// MustStartCloudTTL starts a cloud that gives agents the TTLs pos and neg.
func MustStartCloudTTL(tb testing.TB, pos, neg time.Duration) *testCloud {
	tb.Helper()
	cl, err := cloud.Open(context.Background(), cloud.Options{
		Data:        tb.TempDir(),
		JetStream:   jetstream.Config{MaxMemory: 64 << 20, MaxStore: 512 << 20},
		AdminToken:  cloud.TestToken,
		PositiveTTL: pos,
		NegativeTTL: neg,
	})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(cl.Handler)
	tb.Cleanup(func() {
		srv.Close()
		cl.Close()
	})
	return newTestCloud(cl, srv)
}

func newTestCloud(cl *cloud.Cloud, srv *httptest.Server) *testCloud {
	return &testCloud{Cloud: cl, srv: srv, URL: srv.URL, Admin: &httpapi.Client{BaseURL: srv.URL, Token: cloud.TestToken}}
}

// Stop makes the cloud unreachable (its store goes on until the test ends).
func (c *testCloud) Stop() { c.srv.Close() }

// MustSet stores verdicts through the admin API and waits until the
// cloud's index serves them.
func (c *testCloud) MustSet(tb testing.TB, vs ...httpapi.VerdictInput) uint64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Admin.SetVerdicts(ctx, vs)
	if err != nil || resp.Stored != len(vs) {
		tb.Fatalf("set verdicts: %+v, %v", resp, err)
	}
	if err := c.Index.WaitFor(ctx, resp.Seq); err != nil {
		tb.Fatal(err)
	}
	return resp.Seq
}

// MustClient returns an agent API client of the cloud.
func (c *testCloud) MustClient(tb testing.TB) *httpapi.Client {
	tb.Helper()
	cl, err := httpapi.NewClient(c.URL)
	if err != nil {
		tb.Fatal(err)
	}
	return cl
}

func malicious(o herd.Object, threat string) httpapi.VerdictInput {
	return httpapi.VerdictInput{Kind: o.Kind, Value: o.Value, Verdict: herd.VerdictMalicious, Threat: threat}
}

// obj returns the SHA-256 object of s.
func obj(s string) herd.Object {
	h := sha256.Sum256([]byte(s))
	return herd.Object{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:])}
}

// clock is a settable time for the cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// MustOpen opens the cache in dir.
func MustOpen(tb testing.TB, dir string, opt cache.Options) *cache.Cache {
	tb.Helper()
	c, err := cache.Open(dir, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// lookup is the outcome of one Service lookup: the verdicts, and which
// objects were answered (all of them if err is nil).
type lookup struct {
	verdicts []herd.Verdict
	answered []bool
	err      error
}

func doLookup(tb testing.TB, s herd.ReputationService, objs ...herd.Object) lookup {
	tb.Helper()
	recs, err := s.Lookup(context.Background(), objs)
	var l lookup
	l.err = err
	switch p := err.(type) {
	case nil:
		l.answered = make([]bool, len(objs))
		for i := range l.answered {
			l.answered[i] = true
		}
	case *cache.PartialError:
		l.answered = p.Answered()
	default:
		return l
	}
	if len(recs) != len(objs) {
		tb.Fatalf("%d records for %d objects", len(recs), len(objs))
	}
	for i, r := range recs {
		if r.Object != objs[i] {
			tb.Fatalf("record %d is of %v, want %v", i, r.Object, objs[i])
		}
		l.verdicts = append(l.verdicts, r.Verdict)
	}
	return l
}
