package scan_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/reputation/filter"
	"github.com/herdsec/herd/sigdb"
)

// MustFilter returns an offline filter holding the SHA-256 of contents.
func MustFilter(tb testing.TB, contents ...[]byte) *filter.Set {
	tb.Helper()
	var hs [][32]byte
	for _, c := range contents {
		hs = append(hs, sha256.Sum256(c))
	}
	snap, err := filter.Build(1, hs)
	if err != nil {
		tb.Fatal(err)
	}
	var set filter.Set
	if err := set.Apply(snap); err != nil {
		tb.Fatal(err)
	}
	return &set
}

// mustNotMatch fails if the filter holds one of contents by chance.
func mustNotMatch(tb testing.TB, set *filter.Set, contents ...[]byte) {
	tb.Helper()
	for _, c := range contents {
		if set.Contains(sha256.Sum256(c)) {
			tb.Fatalf("the test filter matches a %d-byte clean file by chance", len(c))
		}
	}
}

func filterHit(path string, content []byte) scan.Result {
	return scan.Result{Path: path, Verdict: herd.VerdictSuspicious, Threat: scan.FilterThreat, Source: scan.SourceFilter, Where: "filter", SHA256: sha256Hex(content)}
}

// checkResults compares the results with want, where every EICAR file is
// found locally.
func checkResults(t *testing.T, tr tree, got map[string]scan.Result, want map[string]scan.Result) {
	t.Helper()
	for _, p := range tr.eicar {
		want[p] = eicarLocal(p)
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d: %+v", len(got), len(want), got)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("result %+v\nwant   %+v", got[p], w)
		}
	}
}

func (tr tree) others(except ...string) [][]byte {
	var out [][]byte
	for p, c := range tr.files {
		skip := false
		for _, e := range append(except, tr.eicar...) {
			skip = skip || p == e
		}
		if !skip {
			out = append(out, c)
		}
	}
	return out
}

// Without a cloud, or with the cloud down, every file the local database
// did not decide is checked against the filter.
func TestScanFilterWithoutTheCloud(t *testing.T) {
	tr := MustWriteTree(t)
	set := MustFilter(t, tr.files[tr.one], tr.files[tr.deep])
	mustNotMatch(t, set, tr.others(tr.one, tr.deep)...)
	nonLocal := int64(len(tr.files) - len(tr.eicar))
	for name, cloud := range map[string]herd.ReputationService{"no cloud": nil, "cloud down": downCloud{}} {
		t.Run(name, func(t *testing.T) {
			sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: cloud, Filter: set, CloudBatch: 2})
			checkResults(t, tr, got, map[string]scan.Result{
				tr.one:  filterHit(tr.one, tr.files[tr.one]),
				tr.deep: filterHit(tr.deep, tr.files[tr.deep]),
			})
			if sum.FilterChecked != nonLocal || sum.FilterHits != 2 || sum.Detections != 4 || sum.CloudAsked != 0 || sum.CloudFailed != (cloud != nil) {
				t.Errorf("summary %+v: want %d files checked against the filter, 2 hits", sum, nonLocal)
			}
		})
	}
}

// With the cloud answering, the filter is not consulted: the cloud's
// answer wins, so a filter hit the cloud does not know is no detection.
func TestScanFilterNotUsedWhenTheCloudAnswers(t *testing.T) {
	tr := MustWriteTree(t)
	set := MustFilter(t, tr.files[tr.one], tr.files[tr.deep])
	idx := MustIndex(t, herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(tr.files[tr.deep])}, Verdict: herd.VerdictMalicious, Threat: "Confirmed", Source: herd.SourceOperator})
	sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: idx, Filter: set})
	checkResults(t, tr, got, map[string]scan.Result{
		tr.deep: {Path: tr.deep, Verdict: herd.VerdictMalicious, Threat: "Confirmed", Source: herd.SourceOperator, Where: "cloud", SHA256: sha256Hex(tr.files[tr.deep])},
	})
	if sum.FilterChecked != 0 || sum.FilterHits != 0 {
		t.Errorf("summary %+v: the filter was consulted although the cloud answered", sum)
	}
}

// partialCloud answers from a fixed set of records only, as the agent's
// cache does when the cloud is down, and says which it answered.
type partialCloud map[herd.Object]herd.Record

type partialError []bool

func (partialError) Error() string      { return "cloud down, cache answered some" }
func (e partialError) Answered() []bool { return e }

func (c partialCloud) Lookup(_ context.Context, objs []herd.Object) ([]herd.Record, error) {
	recs := make([]herd.Record, len(objs))
	ok := make(partialError, len(objs))
	for i, o := range objs {
		recs[i] = herd.Record{Object: o, Verdict: herd.VerdictUnknown}
		if r, found := c[o]; found {
			recs[i], ok[i] = r, true
		}
	}
	return recs, ok
}

// A partial answer: what was answered is reported; files whose SHA-256
// was answered are not checked against the filter (the cloud's answer,
// though cached, wins); the rest are.
func TestScanPartialAnswers(t *testing.T) {
	tr := MustWriteTree(t)
	one, deep, big := tr.files[tr.one], tr.files[tr.deep], tr.files[tr.big]
	sha1One := herd.Object{Kind: herd.KindSHA1, Value: sha1Hex(one)}
	sha256Deep := herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(deep)}
	cloud := partialCloud{
		sha1One:    {Object: sha1One, Verdict: herd.VerdictMalicious, Threat: "Cached", Source: herd.SourceOperator},
		sha256Deep: {Object: sha256Deep, Verdict: herd.VerdictUnknown},
	}
	set := MustFilter(t, deep, big)
	mustNotMatch(t, set, tr.others(tr.deep, tr.big)...)
	sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: cloud, Filter: set, CloudBatch: 2})
	checkResults(t, tr, got, map[string]scan.Result{
		tr.one: {Path: tr.one, Verdict: herd.VerdictMalicious, Threat: "Cached", Source: herd.SourceOperator, Where: "cloud", SHA256: hex.EncodeToString(sha256Sum(one))},
		tr.big: filterHit(tr.big, big),
	})
	nonLocal := int64(len(tr.files) - len(tr.eicar))
	if !sum.CloudFailed || sum.CloudError == "" || sum.FilterChecked != nonLocal-2 || sum.FilterHits != 1 || sum.Detections != 4 {
		t.Errorf("summary %+v: want the cloud failed, %d files checked against the filter (all but the two answered), 1 hit", sum, nonLocal-2)
	}
}

func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }
