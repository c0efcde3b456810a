package cache_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
	"github.com/herdsec/herd/httpapi"
)

// waitFor polls cond for up to 20 seconds.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cached returns the fresh cached verdict of o, or "" if there is none.
func cached(tb testing.TB, c *cache.Cache, o herd.Object) herd.Verdict {
	tb.Helper()
	recs, found, _, err := c.Get([]herd.Object{o})
	if err != nil {
		tb.Fatal(err)
	}
	if !found[0] {
		return ""
	}
	return recs[0].Verdict
}

// following runs Follow until the test ends or stop is called.
type following struct {
	cancel context.CancelFunc
	done   chan error
}

func startFollow(tb testing.TB, c *cache.Cache, s cache.Streamer, opt cache.FollowOptions) *following {
	ctx, cancel := context.WithCancel(context.Background())
	f := &following{cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- cache.Follow(ctx, c, s, opt) }()
	tb.Cleanup(func() { f.stop(tb) })
	return f
}

func (f *following) stop(tb testing.TB) {
	tb.Helper()
	if f.cancel == nil {
		return
	}
	f.cancel()
	f.cancel = nil
	if err := <-f.done; err != nil {
		tb.Errorf("Follow: %v", err)
	}
}

// A verdict the cloud sets reaches the cache through the stream, both
// from the backlog and live, where the cache would otherwise go on
// answering its cached unknown for the negative TTL.
func TestFollowPushesChangesIntoTheCache(t *testing.T) {
	cl := MustStartCloud(t)
	a, b := obj("a"), obj("b")
	c := MustOpen(t, t.TempDir(), cache.Options{Cloud: cl.URL})
	svc := &cache.Service{Cache: c, Inner: cl.MustClient(t)}
	if got := doLookup(t, svc, a, b); got.err != nil {
		t.Fatal(got.err)
	}
	cl.MustSet(t, malicious(a, "Herd.Pushed.A"))
	if got := doLookup(t, svc, a); got.err != nil || got.verdicts[0] != U {
		t.Fatalf("before following: %+v; want the cached unknown (else the test proves nothing)", got)
	}

	caughtUp := make(chan uint64, 16)
	f := startFollow(t, c, cl.MustClient(t), cache.FollowOptions{CaughtUp: func(seq uint64) { caughtUp <- seq }})
	waitFor(t, "the backlog's change to reach the cache", func() bool { return cached(t, c, a) == M })
	select {
	case <-caughtUp:
	case <-time.After(20 * time.Second):
		t.Fatal("Follow never caught up")
	}
	seq := cl.MustSet(t, malicious(b, "Herd.Pushed.B"))
	waitFor(t, "a live change to reach the cache", func() bool { return cached(t, c, b) == M })
	f.stop(t)
	if got, err := c.Seq(); err != nil || got != seq {
		t.Fatalf("stored stream position %d, %v; want %d", got, err, seq)
	}

	cl.Stop()
	recs, err := svc.Lookup(context.Background(), []herd.Object{a, b})
	if err != nil || recs[0].Threat != "Herd.Pushed.A" || recs[1].Threat != "Herd.Pushed.B" || recs[1].Verdict != M {
		t.Fatalf("cloud gone: %+v, %v; want both pushed verdicts", recs, err)
	}
}

// Follow reconnects after failures, and a new Follow resumes after the
// position stored by the last one.
func TestFollowReconnectsAndResumes(t *testing.T) {
	cl := MustStartCloud(t)
	var (
		mu      sync.Mutex
		lastIDs []string // Last-Event-ID of each stream request
		failing = 2
	)
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/verdicts/stream" {
			mu.Lock()
			lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
			fail := failing > 0
			failing--
			mu.Unlock()
			if fail {
				http.Error(w, "down for a moment", http.StatusServiceUnavailable)
				return
			}
		}
		cl.Handler.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	stream, _ := httpapi.NewClient(proxy.URL)

	a, b := obj("a"), obj("b")
	c := MustOpen(t, t.TempDir(), cache.Options{Cloud: proxy.URL})
	if err := c.Put([]cache.Answer{{Record: herd.Record{Object: a, Verdict: U}, TTL: time.Hour}, {Record: herd.Record{Object: b, Verdict: U}, TTL: time.Hour}}, 0); err != nil {
		t.Fatal(err)
	}
	seqA := cl.MustSet(t, malicious(a, "Herd.A"))
	var retries []error
	opt := cache.FollowOptions{MinBackoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond, Retry: func(err error, _ time.Duration) {
		mu.Lock()
		retries = append(retries, err)
		mu.Unlock()
	}}
	f := startFollow(t, c, stream, opt)
	waitFor(t, "change a after two failed connections", func() bool { return cached(t, c, a) == M })
	f.stop(t)
	mu.Lock()
	if len(retries) < 2 || herd.ErrorCode(retries[0]) != herd.EUNAVAILABLE {
		t.Errorf("retries %v; want the two failures reported", retries)
	}
	n := len(lastIDs)
	mu.Unlock()

	cl.MustSet(t, malicious(b, "Herd.B"))
	f = startFollow(t, c, stream, opt)
	waitFor(t, "change b after resuming", func() bool { return cached(t, c, b) == M })
	f.stop(t)
	mu.Lock()
	defer mu.Unlock()
	if want := strconv.FormatUint(seqA, 10); len(lastIDs) <= n || lastIDs[n] != want {
		t.Fatalf("stream requests' Last-Event-ID %q; the one after restarting should be %q", lastIDs, want)
	}
}

// streamFunc is a Streamer made of a function.
type streamFunc func(ctx context.Context, after uint64, fn func(herd.VerdictChange) error) (uint64, error)

func (f streamFunc) Stream(ctx context.Context, after uint64, fn func(herd.VerdictChange) error) (uint64, error) {
	return f(ctx, after, fn)
}

// When another process gives the cache to another cloud, Follow stops
// with ECONFLICT instead of writing this cloud's changes into it.
func TestFollowStopsWhenTheCacheChangesHands(t *testing.T) {
	dir := t.TempDir()
	c := MustOpen(t, dir, cache.Options{Cloud: "http://cloud-a:8440"})
	next := make(chan herd.VerdictChange)
	s := streamFunc(func(ctx context.Context, after uint64, fn func(herd.VerdictChange) error) (uint64, error) {
		for {
			select {
			case ch := <-next:
				if err := fn(ch); err != nil {
					return after, err
				}
				after = ch.Seq
			case <-ctx.Done():
				return after, ctx.Err()
			}
		}
	})
	done := make(chan error, 1)
	go func() {
		done <- cache.Follow(context.Background(), c, s, cache.FollowOptions{MinBackoff: time.Millisecond})
	}()
	next <- herd.VerdictChange{Seq: 1, Record: herd.Record{Object: obj("x"), Verdict: M}}
	waitFor(t, "change 1 stored", func() bool { seq, _ := c.Seq(); return seq == 1 })
	MustOpen(t, dir, cache.Options{Cloud: "http://cloud-b:8440"})
	next <- herd.VerdictChange{Seq: 2, Record: herd.Record{Object: obj("x"), Verdict: M}}
	select {
	case err := <-done:
		if herd.ErrorCode(err) != herd.ECONFLICT {
			t.Fatalf("Follow returned %v, want ECONFLICT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Follow went on writing into another cloud's cache")
	}
}
