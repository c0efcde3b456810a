package cache_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/cache"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/reputation"
)

var (
	U = herd.VerdictUnknown
	M = herd.VerdictMalicious
	C = herd.VerdictClean
)

// The cache answers what it holds after the cloud is gone, and says which
// objects it could not answer.
func TestServiceAnswersWithoutTheCloud(t *testing.T) {
	cl := MustStartCloud(t)
	bad, unknown, never := obj("bad"), obj("unknown"), obj("never asked")
	cl.MustSet(t, malicious(bad, "Herd.Test.Bad"))
	svc := &cache.Service{Cache: MustOpen(t, t.TempDir(), cache.Options{Cloud: cl.URL}), Inner: cl.MustClient(t)}

	if got := doLookup(t, svc, bad, unknown); got.err != nil || !reflect.DeepEqual(got.verdicts, []herd.Verdict{M, U}) {
		t.Fatalf("with the cloud: %+v", got)
	}
	cl.Stop()
	if _, err := cl.MustClient(t).Lookup(context.Background(), []herd.Object{bad}); herd.ErrorCode(err) != herd.EUNAVAILABLE {
		t.Fatalf("the cloud still answers (%v): the test proves nothing", err)
	}
	if got := doLookup(t, svc, bad, unknown); got.err != nil || !reflect.DeepEqual(got.verdicts, []herd.Verdict{M, U}) {
		t.Fatalf("cloud gone, every object cached: %+v; want the cached answers and no error", got)
	}
	got := doLookup(t, svc, never, bad)
	if _, ok := got.err.(*cache.PartialError); !ok || herd.ErrorCode(got.err) != herd.EUNAVAILABLE {
		t.Fatalf("cloud gone, one object not cached: error %v, want a PartialError (unavailable)", got.err)
	}
	if !reflect.DeepEqual(got.verdicts, []herd.Verdict{U, M}) || !reflect.DeepEqual(got.answered, []bool{false, true}) {
		t.Fatalf("cloud gone: %+v; want the cached malicious verdict answered, the other not", got)
	}
}

// Entries expire after the TTL the cloud gave each answer.
func TestEntriesExpirePerTTL(t *testing.T) {
	cl := MustStartCloud(t) // positive 1 h, negative 15 min
	bad, unknown := obj("bad"), obj("unknown")
	cl.MustSet(t, malicious(bad, "Herd.Test.Bad"))
	now := newClock()
	start := now.Now()
	svc := &cache.Service{Cache: MustOpen(t, t.TempDir(), cache.Options{Cloud: cl.URL, Now: now.Now}), Inner: cl.MustClient(t)}
	if got := doLookup(t, svc, bad, unknown); got.err != nil {
		t.Fatal(got.err)
	}
	cl.Stop()
	for _, tt := range []struct {
		at   time.Duration // since the answer
		want []bool        // answered: bad, unknown
	}{
		{14 * time.Minute, []bool{true, true}},
		{16 * time.Minute, []bool{true, false}},
		{59 * time.Minute, []bool{true, false}},
		{61 * time.Minute, []bool{false, false}},
	} {
		now.Set(start.Add(tt.at))
		got := doLookup(t, svc, bad, unknown)
		if !reflect.DeepEqual(got.answered, tt.want) {
			t.Errorf("after %v: answered %v, want %v (%+v)", tt.at, got.answered, tt.want, got)
		}
	}
}

// An unknown answer is kept at most 24 hours and a known one 7 days,
// whatever TTL the cloud gives.
func TestTTLCaps(t *testing.T) {
	cl := MustStartCloudTTL(t, 30*24*time.Hour, 72*time.Hour)
	bad, unknown := obj("bad"), obj("unknown")
	cl.MustSet(t, malicious(bad, "Herd.Test.Bad"))
	now := newClock()
	start := now.Now()
	svc := &cache.Service{Cache: MustOpen(t, t.TempDir(), cache.Options{Cloud: cl.URL, Now: now.Now}), Inner: cl.MustClient(t)}
	if got := doLookup(t, svc, bad, unknown); got.err != nil {
		t.Fatal(got.err)
	}
	cl.Stop()
	for _, tt := range []struct {
		at   time.Duration
		want []bool
	}{
		{cache.MaxNegativeTTL - time.Minute, []bool{true, true}},
		{cache.MaxNegativeTTL + time.Minute, []bool{true, false}},
		{cache.MaxPositiveTTL - time.Minute, []bool{true, false}},
		{cache.MaxPositiveTTL + time.Minute, []bool{false, false}},
	} {
		now.Set(start.Add(tt.at))
		if got := doLookup(t, svc, bad, unknown); !reflect.DeepEqual(got.answered, tt.want) {
			t.Errorf("after %v: answered %v, want %v", tt.at, got.answered, tt.want)
		}
	}
}

// The cache survives closing and reopening, and a cache opened for
// another cloud starts empty.
func TestSurvivesReopen(t *testing.T) {
	cl := MustStartCloud(t)
	bad := obj("bad")
	cl.MustSet(t, malicious(bad, "Herd.Test.Bad"))
	dir := t.TempDir()
	svc := &cache.Service{Cache: MustOpen(t, dir, cache.Options{Cloud: cl.URL}), Inner: cl.MustClient(t)}
	if got := doLookup(t, svc, bad); got.err != nil {
		t.Fatal(got.err)
	}
	cl.Stop()

	// A new process: the file alone, and no cloud.
	again := &cache.Service{Cache: MustOpen(t, dir, cache.Options{Cloud: cl.URL}), Inner: cl.MustClient(t)}
	if got := doLookup(t, again, bad); got.err != nil || got.verdicts[0] != M {
		t.Fatalf("after reopening: %+v; want the cached malicious verdict", got)
	}
	offline := &cache.Service{Cache: MustOpen(t, dir, cache.Options{})}
	if got := doLookup(t, offline, bad); got.err != nil || got.verdicts[0] != M {
		t.Fatalf("offline, any cloud: %+v; want the cached malicious verdict", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, cache.FileName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v, %v; want mode 0600", fi, err)
	}

	other := MustOpen(t, dir, cache.Options{Cloud: "http://127.0.0.1:1"})
	if _, found, _, err := other.Get([]herd.Object{bad}); err != nil || found[0] {
		t.Fatalf("opened for another cloud: found %v, %v; want an empty cache", found, err)
	}
	if _, found, _, err := MustOpen(t, dir, cache.Options{Cloud: cl.URL}).Get([]herd.Object{bad}); err != nil || found[0] {
		t.Fatalf("back to the first cloud: found %v, %v; want the cache emptied", found, err)
	}
}

// Past MaxEntries the entries that expire first are evicted; expired
// entries are pruned as new ones are written.
func TestEvictsEarliestExpiryFirst(t *testing.T) {
	now := newClock()
	c := MustOpen(t, t.TempDir(), cache.Options{MaxEntries: 3, Now: now.Now})
	ans := func(name string, v herd.Verdict, ttl time.Duration) cache.Answer {
		return cache.Answer{Record: herd.Record{Object: obj(name), Verdict: v}, TTL: ttl}
	}
	if err := c.Put([]cache.Answer{ans("a", M, 4*time.Hour), ans("b", U, 10*time.Minute), ans("c", C, 2*time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	if err := c.Put([]cache.Answer{ans("d", M, 3*time.Hour), ans("a", M, 5*time.Minute)}, 0); err != nil {
		t.Fatal(err)
	}
	// Four objects for three places: a (now 5 min, rewritten) goes first.
	_, found, _, err := c.Get([]herd.Object{obj("a"), obj("b"), obj("c"), obj("d")})
	if err != nil || !reflect.DeepEqual(found, []bool{false, true, true, true}) {
		t.Fatalf("found %v, %v; want a evicted (earliest expiry after its rewrite)", found, err)
	}
	if s, err := c.Stats(); err != nil || s.Entries != 3 || s.Fresh != 3 {
		t.Fatalf("stats %+v, %v; want 3 entries", s, err)
	}
	now.Add(time.Hour) // b expires
	if s, _ := c.Stats(); s.Entries != 3 || s.Fresh != 2 {
		t.Fatalf("stats %+v; want b held but stale", s)
	}
	if err := c.Put([]cache.Answer{ans("e", M, time.Hour)}, 0); err != nil {
		t.Fatal(err)
	}
	_, found, _, _ = c.Get([]herd.Object{obj("b"), obj("c"), obj("d"), obj("e")})
	if s, _ := c.Stats(); !reflect.DeepEqual(found, []bool{false, true, true, true}) || s.Entries != 3 {
		t.Fatalf("found %v, stats %+v; want b pruned and 3 entries", found, s)
	}
	// A TTL of 0 is not kept.
	if err := c.Put([]cache.Answer{ans("f", M, 0)}, 0); err != nil {
		t.Fatal(err)
	}
	if _, found, _, _ := c.Get([]herd.Object{obj("f")}); found[0] {
		t.Fatal("an answer with TTL 0 was kept")
	}
}

// Pushed changes replace held entries, drop deleted ones, ignore objects
// not held, and win over a lookup answer that was asked for before them.
func TestApply(t *testing.T) {
	now := newClock()
	c := MustOpen(t, t.TempDir(), cache.Options{Now: now.Now})
	held, gone, other := obj("held"), obj("gone"), obj("not held")
	if err := c.Put([]cache.Answer{{Record: herd.Record{Object: held, Verdict: U}, TTL: time.Minute}, {Record: herd.Record{Object: gone, Verdict: C}, TTL: 2 * time.Hour}}, 0); err != nil {
		t.Fatal(err)
	}
	_, _, since, _ := c.Get([]herd.Object{held}) // a lookup begins
	touched, err := c.Apply([]herd.VerdictChange{
		{Seq: 7, Record: herd.Record{Object: held, Verdict: M, Threat: "Herd.Pushed", Source: herd.SourceOperator}},
		{Seq: 8, Record: herd.Record{Object: gone, Verdict: C}, Deleted: true},
		{Seq: 9, Record: herd.Record{Object: other, Verdict: M}},
		{CaughtUp: true},
	})
	if err != nil || len(touched) != 2 || touched[0].Seq != 7 || touched[1].Seq != 8 {
		t.Fatalf("Apply touched %+v, %v; want changes 7 and 8", touched, err)
	}
	if seq, err := c.Seq(); seq != 9 || err != nil {
		t.Fatalf("stream position %d, %v; want 9", seq, err)
	}
	// The lookup that began before change 7 brings back its older answer.
	if err := c.Put([]cache.Answer{{Record: herd.Record{Object: held, Verdict: U}, TTL: time.Minute}}, since); err != nil {
		t.Fatal(err)
	}
	now.Add(30 * time.Minute) // past the old entry's minute: the pushed one lasts the positive TTL
	recs, found, _, err := c.Get([]herd.Object{held, gone, other})
	if err != nil || !reflect.DeepEqual(found, []bool{true, false, false}) {
		t.Fatalf("found %v, %v; want only the held, pushed entry", found, err)
	}
	if r := recs[0]; r.Verdict != M || r.Threat != "Herd.Pushed" || r.Source != herd.SourceOperator {
		t.Fatalf("held entry %+v; want the pushed verdict", r)
	}
}

// A Private (prefix lookup) service: the SHA-256 answers are kept, the
// other kinds, which Private never sends, are not.
func TestServiceOverPrivate(t *testing.T) {
	bad := obj("bad")
	sha1 := herd.Object{Kind: herd.KindSHA1, Value: "0123456789abcdef0123456789abcdef01234567"}
	idx := reputation.NewIndex()
	idx.Apply(herd.VerdictChange{Seq: 1, Record: herd.Record{Object: bad, Verdict: M, Threat: "Herd.Test.Bad", Source: herd.SourceOperator}})
	idx.Apply(herd.VerdictChange{Seq: 2, Record: herd.Record{Object: sha1, Verdict: M, Threat: "Herd.Test.SHA1", Source: herd.SourceOperator}})
	srv := httptest.NewServer((&httpapi.Server{Reputation: idx, Prefixes: idx, NegativeTTL: time.Hour}).Handler())
	client, _ := httpapi.NewClient(srv.URL)
	svc := &cache.Service{Cache: MustOpen(t, t.TempDir(), cache.Options{Cloud: srv.URL}), Inner: &httpapi.Private{Client: client}}
	if got := doLookup(t, svc, bad, obj("unknown"), sha1); got.err != nil || !reflect.DeepEqual(got.verdicts, []herd.Verdict{M, U, U}) {
		t.Fatalf("private lookup: %+v", got)
	}
	srv.Close()
	if got := doLookup(t, svc, bad, obj("unknown")); got.err != nil || !reflect.DeepEqual(got.verdicts, []herd.Verdict{M, U}) {
		t.Fatalf("after the server stopped: %+v; want both SHA-256 answers kept", got)
	}
	if s, err := svc.Cache.Stats(); err != nil || s.Entries != 2 {
		t.Fatalf("cache stats %+v, %v; want the 2 SHA-256 answers only: the SHA-1 one was never asked", s, err)
	}
}

// Once the cloud failed, the service answers from the cache alone for
// RetryAfter instead of waiting on the cloud for each batch.
func TestServiceStopsAskingADeadCloud(t *testing.T) {
	calls := 0
	inner := lookupFunc(func([]herd.Object) ([]herd.Record, error) {
		calls++
		return nil, herd.Errorf(herd.EUNAVAILABLE, "down")
	})
	now := newClock()
	svc := &cache.Service{Cache: MustOpen(t, t.TempDir(), cache.Options{Now: now.Now}), Inner: inner, RetryAfter: time.Minute}
	for i := range 3 {
		if got := doLookup(t, svc, obj(fmt.Sprint(i))); got.answered == nil || got.answered[0] {
			t.Fatalf("lookup %d: %+v; want a partial error", i, got)
		}
	}
	if calls != 1 {
		t.Fatalf("the dead cloud was asked %d times in a minute, want once", calls)
	}
	now.Add(time.Minute)
	doLookup(t, svc, obj("x"))
	if calls != 2 {
		t.Fatalf("asked %d times; want the cloud asked again after RetryAfter", calls)
	}
}

type lookupFunc func([]herd.Object) ([]herd.Record, error)

func (f lookupFunc) Lookup(_ context.Context, objs []herd.Object) ([]herd.Record, error) {
	return f(objs)
}

// A cache kept open holds the file against other processes (here, another
// Cache on the same file) until Close or KeepOpen of idleness; meanwhile a
// Service on the other one goes to the cloud and says why.
func TestKeepOpen(t *testing.T) {
	dir := t.TempDir()
	b := MustOpen(t, dir, cache.Options{LockTimeout: 100 * time.Millisecond})
	a := MustOpen(t, dir, cache.Options{KeepOpen: time.Hour})
	if err := a.Put([]cache.Answer{{Record: herd.Record{Object: obj("x"), Verdict: M}, TTL: time.Hour}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := b.Get([]herd.Object{obj("x")}); herd.ErrorCode(err) != herd.EUNAVAILABLE {
		t.Fatalf("while the other holds the file: %v, want EUNAVAILABLE", err)
	}
	var warned []error
	inner := lookupFunc(func(objs []herd.Object) ([]herd.Record, error) {
		return []herd.Record{{Object: objs[0], Verdict: C}}, nil
	})
	svc := &cache.Service{Cache: b, Inner: inner, Warn: func(err error) { warned = append(warned, err) }}
	if got := doLookup(t, svc, obj("x")); got.err != nil || got.verdicts[0] != C || len(warned) != 1 {
		t.Fatalf("lookup with the cache held elsewhere: %+v, warned %v; want the cloud's answer and a warning", got, warned)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if recs, found, _, err := b.Get([]herd.Object{obj("x")}); err != nil || !found[0] || recs[0].Verdict != M {
		t.Fatalf("after Close: %v, %v", found, err)
	}

	idle := MustOpen(t, dir, cache.Options{KeepOpen: 50 * time.Millisecond})
	if _, err := idle.Seq(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the idle cache to release the file", func() bool {
		_, err := b.Seq()
		return err == nil
	})
}

// A damaged cache file is replaced by an empty cache: it is only a cache.
func TestDamagedFileIsReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, cache.FileName), make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	c := MustOpen(t, dir, cache.Options{})
	if err := c.Put([]cache.Answer{{Record: herd.Record{Object: obj("x"), Verdict: M}, TTL: time.Hour}}, 0); err != nil {
		t.Fatal(err)
	}
	if _, found, _, err := c.Get([]herd.Object{obj("x")}); err != nil || !found[0] {
		t.Fatalf("new cache: found %v, %v", found, err)
	}
}
