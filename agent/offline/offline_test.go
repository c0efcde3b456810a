package offline_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/offline"
	"github.com/herdsec/herd/cloud"
	"github.com/herdsec/herd/httpapi"
	"github.com/herdsec/herd/reputation/filter"
)

func hash(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// bulk are hashes every test snapshot holds besides its names, so that a
// delta of a few hashes is small beside it (filter.Set.NeedsSnapshot).
var bulk = func() [][32]byte {
	var hs [][32]byte
	for i := range 1000 {
		hs = append(hs, hash("bulk "+itoa(uint64(i))))
	}
	return hs
}()

func MustBuild(tb testing.TB, gen uint64, names ...string) *filter.Snapshot {
	tb.Helper()
	hs := slices.Clone(bulk)
	for _, n := range names {
		hs = append(hs, hash(n))
	}
	s, err := filter.Build(gen, hs)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func MustBuildDelta(tb testing.TB, from, to uint64, names ...string) *filter.Delta {
	tb.Helper()
	var hs [][32]byte
	for _, n := range names {
		hs = append(hs, hash(n))
	}
	d, err := filter.BuildDelta(from, to, hs)
	if err != nil {
		tb.Fatal(err)
	}
	return d
}

// source is a cloud's filter service as the agent sees it: one snapshot,
// and the delta it serves from that snapshot's generation.
type source struct {
	snap  *filter.Snapshot
	delta *filter.Delta // from snap's generation; nil: nothing added
	asked []string      // "snapshot" or "delta from N"
}

func (s *source) FilterSnapshot(context.Context) (*filter.Snapshot, error) {
	s.asked = append(s.asked, "snapshot")
	return s.snap, nil
}

func (s *source) FilterDelta(_ context.Context, from uint64) (*filter.Delta, error) {
	s.asked = append(s.asked, "delta from "+itoa(from))
	if from < s.snap.Generation() {
		return nil, herd.Errorf(herd.ECONFLICT, "older than the snapshot")
	}
	if s.delta == nil || from >= s.delta.To() {
		return nil, nil
	}
	return s.delta, nil
}

func itoa(n uint64) string { return string(strconvAppend(nil, n)) }

func strconvAppend(b []byte, n uint64) []byte {
	if n >= 10 {
		b = strconvAppend(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

// MustLoad loads the filter held in dir and checks which of names it
// contains.
func MustLoad(tb testing.TB, dir string) (*filter.Set, offline.Info) {
	tb.Helper()
	set, info, err := offline.Load(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return set, info
}

func contains(set *filter.Set, names ...string) []string {
	var in []string
	for _, n := range names {
		if set.Contains(hash(n)) {
			in = append(in, n)
		}
	}
	return in
}

func MustUpdate(tb testing.TB, dir string, src offline.Source) offline.Result {
	tb.Helper()
	res, err := offline.Update(context.Background(), dir, src)
	if err != nil {
		tb.Fatal(err)
	}
	return res
}

func TestUpdateSnapshotThenDeltas(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	if set, info := MustLoad(t, dir); info.HasSnapshot || set.Contains(hash("a")) {
		t.Fatal("a filter held before any update")
	}
	src := &source{snap: MustBuild(t, 10, "a", "b")}
	res := MustUpdate(t, dir, src)
	if !res.Snapshot || res.Delta || res.Info.Generation != 10 || !slices.Equal(src.asked, []string{"snapshot", "delta from 10"}) {
		t.Fatalf("first update: %+v, asked %v", res, src.asked)
	}
	set, info := MustLoad(t, dir)
	if got := contains(set, "a", "b", "x"); !slices.Equal(got, []string{"a", "b"}) || info.Generation != 10 || time.Since(info.Updated) > time.Minute {
		t.Fatalf("after the snapshot: contains %v, info %+v", got, info)
	}

	src.asked, src.delta = nil, MustBuildDelta(t, 10, 15, "x")
	res = MustUpdate(t, dir, src)
	if res.Snapshot || !res.Delta || res.Info.Generation != 15 || !slices.Equal(src.asked, []string{"delta from 10"}) {
		t.Fatalf("second update: %+v, asked %v", res, src.asked)
	}
	// The cloud's deltas are cumulative from its snapshot: the next one
	// is asked from the snapshot's generation and replaces the last.
	src.asked, src.delta = nil, MustBuildDelta(t, 10, 20, "x", "y")
	res = MustUpdate(t, dir, src)
	if !res.Delta || !slices.Equal(src.asked, []string{"delta from 10"}) {
		t.Fatalf("third update: %+v, asked %v", res, src.asked)
	}
	set, info = MustLoad(t, dir)
	if got := contains(set, "a", "b", "x", "y", "z"); !slices.Equal(got, []string{"a", "b", "x", "y"}) || info.Generation != 20 || info.Deltas != 1 || info.Ignored != nil {
		t.Fatalf("after the deltas: contains %v, info %+v", got, info)
	}
	src.asked = nil
	if res := MustUpdate(t, dir, src); res.Snapshot || res.Delta || res.Info.Generation != 20 {
		t.Fatalf("update with nothing new: %+v", res)
	}
}

// A cloud with a newer snapshot refuses deltas from the old one: the agent
// takes the new snapshot and drops its delta.
func TestUpdateConflictTakesTheNewSnapshot(t *testing.T) {
	dir := t.TempDir()
	if err := offline.Save(dir, MustBuild(t, 10, "a"), MustBuildDelta(t, 10, 12, "x")); err != nil {
		t.Fatal(err)
	}
	src := &source{snap: MustBuild(t, 30, "a", "x", "n")}
	res := MustUpdate(t, dir, src)
	if !res.Snapshot || !slices.Equal(src.asked, []string{"delta from 10", "snapshot", "delta from 30"}) {
		t.Fatalf("update: %+v, asked %v", res, src.asked)
	}
	if _, err := os.Stat(filepath.Join(dir, offline.DeltaFile)); !os.IsNotExist(err) {
		t.Errorf("the old delta is still stored (%v)", err)
	}
	set, info := MustLoad(t, dir)
	if got := contains(set, "a", "x", "n"); len(got) != 3 || info.Generation != 30 || info.Deltas != 0 {
		t.Fatalf("contains %v, info %+v", got, info)
	}
}

// A cloud replica behind the agent never takes the filter back.
func TestUpdateNeverGoesBack(t *testing.T) {
	dir := t.TempDir()
	if err := offline.Save(dir, MustBuild(t, 10, "a"), MustBuildDelta(t, 10, 20, "x")); err != nil {
		t.Fatal(err)
	}
	src := &source{snap: MustBuild(t, 10, "a"), delta: MustBuildDelta(t, 10, 15)}
	if res := MustUpdate(t, dir, src); res.Delta || res.Snapshot || res.Info.Generation != 20 {
		t.Fatalf("update from a replica behind: %+v", res)
	}
	if set, _ := MustLoad(t, dir); !set.Contains(hash("x")) {
		t.Fatal("the delta held was lost")
	}
}

// A delta left over beside a newer snapshot is ignored, and said so; a
// damaged snapshot is an error until an update replaces it.
func TestLoadDamagedOrStale(t *testing.T) {
	dir := t.TempDir()
	if err := offline.Save(dir, MustBuild(t, 30, "a"), nil); err != nil {
		t.Fatal(err)
	}
	stale, _ := MustBuildDelta(t, 10, 20, "x").MarshalBinary()
	if err := os.WriteFile(filepath.Join(dir, offline.DeltaFile), stale, 0o600); err != nil {
		t.Fatal(err)
	}
	set, info := MustLoad(t, dir)
	if info.Ignored == nil || info.Generation != 30 || set.Contains(hash("x")) || !set.Contains(hash("a")) {
		t.Fatalf("stale delta: info %+v; want it ignored and the snapshot used", info)
	}

	b, _ := os.ReadFile(filepath.Join(dir, offline.SnapshotFile))
	b[len(b)/2] ^= 1
	os.WriteFile(filepath.Join(dir, offline.SnapshotFile), b, 0o600)
	if _, _, err := offline.Load(dir); herd.ErrorCode(err) != herd.EINVALID {
		t.Fatalf("damaged snapshot: %v, want EINVALID", err)
	}
	src := &source{snap: MustBuild(t, 31, "a", "b")}
	if res := MustUpdate(t, dir, src); !res.Snapshot || res.Info.Generation != 31 {
		t.Fatalf("update over a damaged snapshot: %+v", res)
	}
}

// Against a real cloud. Needs the cloud to serve GET /v1/filter.
func TestUpdateFromCloud(t *testing.T) {
	cl, srv := cloud.MustOpenTest(t)
	admin := &httpapi.Client{BaseURL: srv.URL, Token: cloud.TestToken}
	set := func(name string) {
		t.Helper()
		h := hash(name)
		ctx := context.Background()
		resp, err := admin.SetVerdicts(ctx, []httpapi.VerdictInput{{Kind: herd.KindSHA256, Value: hex.EncodeToString(h[:]), Verdict: herd.VerdictMalicious, Threat: "Herd.Test"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := cl.Index.WaitFor(ctx, resp.Seq); err != nil {
			t.Fatal(err)
		}
	}
	set("a")
	client, _ := httpapi.NewClient(srv.URL)
	dir := t.TempDir()
	res, err := offline.Update(context.Background(), dir, client)
	if herd.ErrorCode(err) == herd.ENOTFOUND {
		t.Skipf("the cloud serves no offline filter yet: %v", err)
	}
	if err != nil || !res.Snapshot {
		t.Fatalf("first update: %+v, %v", res, err)
	}
	set("b")
	waitUpdate := time.Now().Add(20 * time.Second)
	for {
		res = MustUpdate(t, dir, client)
		if s, _ := MustLoad(t, dir); s.Contains(hash("b")) {
			break
		}
		if time.Now().After(waitUpdate) {
			t.Fatalf("b never reached the filter: last update %+v", res)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s, _ := MustLoad(t, dir)
	if got := contains(s, "a", "b"); len(got) != 2 {
		t.Fatalf("filter holds %v, want a and b", got)
	}
}
