package scan_test

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/reputation"
	"github.com/herdsec/herd/sigdb"
)

// tree is a folder of files to scan and what the scanner must find in it.
type tree struct {
	dir string
	// files maps the path of every regular file the scanner must hash to
	// its content.
	files map[string][]byte
	// eicar lists the files holding the EICAR test file.
	eicar []string
	// clean files of interesting sizes.
	empty, one, big, deep string
	// links are symbolic links (to EICAR and to a folder) that must not be
	// followed.
	links []string
}

// MustWriteTree writes a tree with EICAR twice (once nested), clean files
// of 0 bytes, 1 byte and 1 MiB+3 bytes (across the hasher's 256 KiB
// buffer), nested folders, symlinks to EICAR and to a folder, and a FIFO
// where the platform has them.
func MustWriteTree(tb testing.TB) tree {
	tb.Helper()
	dir := tb.TempDir()
	tr := tree{dir: dir, files: map[string][]byte{}}
	write := func(rel string, content []byte) string {
		tb.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			tb.Fatal(err)
		}
		tr.files[p] = content
		return p
	}
	tr.eicar = append(tr.eicar, write("eicar.com", []byte(herd.EICAR)))
	tr.eicar = append(tr.eicar, write("nested/x/eicar.txt", []byte(herd.EICAR)))
	tr.empty = write("empty", nil)
	tr.one = write("one", []byte{'!'})
	tr.big = write("nested/big.bin", randomBytes(1<<20+3, 1))
	tr.deep = write("nested/x/y/z/deep.txt", []byte("a clean file, four folders down\n"))
	write("nested/x/y/other.txt", randomBytes(5000, 2))

	for rel, target := range map[string]string{"link-to-eicar": tr.eicar[0], "nested/link-to-dir": filepath.Join(dir, "nested/x")} {
		p := filepath.Join(dir, rel)
		if err := os.Symlink(target, p); err != nil {
			tb.Fatal(err)
		}
		tr.links = append(tr.links, p)
	}
	// A FIFO is no regular file: opening it would block the scan forever.
	if err := mkfifo(filepath.Join(dir, "nested/fifo")); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		tb.Fatal(err)
	}
	return tr
}

func (tr tree) bytes() int64 {
	var n int64
	for _, c := range tr.files {
		n += int64(len(c))
	}
	return n
}

func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func sha256Hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
func sha1Hex(b []byte) string   { s := sha1.Sum(b); return hex.EncodeToString(s[:]) }
func md5Hex(b []byte) string    { s := md5.Sum(b); return hex.EncodeToString(s[:]) }

// MustScan scans and returns the summary and every reported result, keyed
// by path. A path reported twice fails the test.
func MustScan(tb testing.TB, paths []string, opt scan.Options) (scan.Summary, map[string]scan.Result) {
	tb.Helper()
	got := map[string]scan.Result{}
	var dup []string
	sum, err := scan.Scan(context.Background(), paths, opt, func(r scan.Result) {
		if _, ok := got[r.Path]; ok {
			dup = append(dup, r.Path)
		}
		got[r.Path] = r
	})
	if err != nil {
		tb.Fatalf("Scan: %v", err)
	}
	if dup != nil {
		tb.Fatalf("paths reported more than once: %q", dup)
	}
	return sum, got
}

func eicarLocal(path string) scan.Result {
	return scan.Result{Path: path, Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceLocalDB, Where: "local", Test: true, SHA256: herd.EICARSHA256}
}

func TestScanTree(t *testing.T) {
	tr := MustWriteTree(t)
	missing := filepath.Join(t.TempDir(), "gone")
	_, lstatErr := os.Lstat(missing)

	var progress [][2]int64
	sum, got := MustScan(t, []string{tr.dir, missing}, scan.Options{
		DB:       sigdb.Builtin(),
		Workers:  3,
		Progress: func(files, bytes int64) { progress = append(progress, [2]int64{files, bytes}) },
	})

	want := map[string]scan.Result{
		missing: {Path: missing, Err: lstatErr.Error()},
	}
	for _, p := range tr.eicar {
		want[p] = eicarLocal(p)
	}
	for p, r := range got {
		if w, ok := want[p]; !ok || r != w {
			t.Errorf("result %+v\nwant %+v", r, w)
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("no result for %s", p)
		}
	}
	for _, l := range tr.links {
		if _, ok := got[l]; ok {
			t.Errorf("symlink %s was followed", l)
		}
	}

	wantSum := scan.Summary{Files: int64(len(tr.files)), Bytes: tr.bytes(), Detections: 2, Errors: 1, LocalHits: 2}
	sum.Duration = 0
	if sum != wantSum {
		t.Errorf("summary %+v\nwant    %+v", sum, wantSum)
	}
	if wantSum.Files != 7 || wantSum.Bytes != 2*68+0+1+(1<<20+3)+32+5000 {
		t.Fatalf("the tree changed: %d files, %d bytes", wantSum.Files, wantSum.Bytes)
	}

	if len(progress) == 0 || progress[len(progress)-1] != [2]int64{sum.Files, sum.Bytes} {
		t.Errorf("progress calls %v: want the last to be the totals %d files, %d bytes", progress, sum.Files, sum.Bytes)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i][0] < progress[i-1][0] || progress[i][1] < progress[i-1][1] {
			t.Errorf("progress went backwards: %v", progress)
		}
	}
}

func TestScanSingleFileAndSymlinkRoot(t *testing.T) {
	tr := MustWriteTree(t)
	sum, got := MustScan(t, []string{tr.eicar[0], tr.one}, scan.Options{DB: sigdb.Builtin()})
	if len(got) != 1 || got[tr.eicar[0]] != eicarLocal(tr.eicar[0]) {
		t.Errorf("results %+v: want EICAR at %s only", got, tr.eicar[0])
	}
	if sum.Files != 2 || sum.Bytes != 69 || sum.Detections != 1 || sum.LocalHits != 1 || sum.Errors != 0 {
		t.Errorf("summary %+v: want 2 files, 69 bytes, 1 local detection", sum)
	}

	// Links named on the command line are followed (as ClamAV does): the
	// link to EICAR is scanned, and so is the folder behind the other link
	// (EICAR nested, other.txt, deep.txt); links inside folders are not.
	sum, got = MustScan(t, tr.links, scan.Options{DB: sigdb.Builtin()})
	if sum.Files != 4 || sum.Detections != 2 || got[tr.eicar[0]] != eicarLocal(tr.eicar[0]) || got[tr.eicar[1]] != eicarLocal(tr.eicar[1]) {
		t.Errorf("scanning links named on the command line: %d files, results %+v; want 4 files and both EICARs", sum.Files, got)
	}
}

func TestScanNoDatabase(t *testing.T) {
	tr := MustWriteTree(t)
	sum, got := MustScan(t, []string{tr.dir}, scan.Options{})
	if len(got) != 0 || sum.Detections != 0 || sum.Files != int64(len(tr.files)) {
		t.Errorf("no database, no cloud: summary %+v, results %+v; want every file hashed and nothing found", sum, got)
	}
}

func TestScanUnreadable(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no permission bits")
	}
	if os.Geteuid() == 0 {
		t.Skip("root reads files and folders whatever their mode")
	}
	tr := MustWriteTree(t)
	noFile := filepath.Join(tr.dir, "nested/no-read")
	noDir := filepath.Join(tr.dir, "nested/x/y")
	if err := os.WriteFile(noFile, []byte("secret"), 0o000); err != nil {
		t.Fatal(err)
	}
	hidden := 0
	for p := range tr.files {
		if strings.HasPrefix(p, noDir+string(filepath.Separator)) {
			delete(tr.files, p)
			hidden++
		}
	}
	if err := os.Chmod(noDir, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(noDir, 0o755) })

	sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin()})
	for _, p := range []string{noFile, noDir} {
		if r := got[p]; r.Err == "" || !strings.Contains(r.Err, "permission denied") {
			t.Errorf("%s: result %+v, want a permission error", p, r)
		}
	}
	if hidden != 2 || sum.Errors != 2 || sum.Files != int64(len(tr.files)) || sum.Detections != 2 {
		t.Errorf("summary %+v: want 2 errors, %d files, 2 detections (%d files hidden)", sum, len(tr.files), hidden)
	}
}

// TestScanReadError scans a file that opens but fails to read, for root too:
// /proc/self/mem at offset 0 is an unmapped address.
func TestScanReadError(t *testing.T) {
	const mem = "/proc/self/mem"
	if _, err := os.Stat(mem); err != nil {
		t.Skip(mem, ": ", err)
	}
	sum, got := MustScan(t, []string{mem}, scan.Options{DB: sigdb.Builtin()})
	if r := got[mem]; !strings.HasPrefix(r.Err, "read "+mem+": ") || r.Verdict != "" {
		t.Errorf("result %+v: want a read error", r)
	}
	if sum.Errors != 1 || sum.Files != 0 || sum.Detections != 0 {
		t.Errorf("summary %+v: want 1 error, 0 files", sum)
	}
}

// recordingCloud is a real reputation index that also keeps every lookup
// batch it was asked.
type recordingCloud struct {
	herd.ReputationService
	mu      sync.Mutex
	batches [][]herd.Object
}

func (c *recordingCloud) Lookup(ctx context.Context, objs []herd.Object) ([]herd.Record, error) {
	c.mu.Lock()
	c.batches = append(c.batches, slices.Clone(objs))
	c.mu.Unlock()
	return c.ReputationService.Lookup(ctx, objs)
}

// MustIndex returns an index holding the given records as stored verdicts.
func MustIndex(tb testing.TB, recs ...herd.Record) *reputation.Index {
	tb.Helper()
	idx := reputation.NewIndex()
	for i, r := range recs {
		if err := r.Validate(); err != nil {
			tb.Fatal(err)
		}
		idx.Apply(herd.VerdictChange{Seq: uint64(i + 1), Record: r})
	}
	return idx
}

func TestScanCloud(t *testing.T) {
	tr := MustWriteTree(t)
	one, deep, big, empty := tr.files[tr.one], tr.files[tr.deep], tr.files[tr.big], tr.files[tr.empty]
	idx := MustIndex(t,
		// by sha256
		herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(one)}, Verdict: herd.VerdictMalicious, Threat: "X", Source: herd.SourceOperator},
		// by md5 only
		herd.Record{Object: herd.Object{Kind: herd.KindMD5, Value: md5Hex(deep)}, Verdict: herd.VerdictMalicious, Threat: "ByMD5", Source: herd.SourceImport},
		// clean by sha256, suspicious by sha1: the worse wins
		herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(big)}, Verdict: herd.VerdictClean, Source: herd.SourceOperator},
		herd.Record{Object: herd.Object{Kind: herd.KindSHA1, Value: sha1Hex(big)}, Verdict: herd.VerdictSuspicious, Threat: "Maybe", Source: herd.SourceOperator},
		// clean only: not reported
		herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(empty)}, Verdict: herd.VerdictClean, Source: herd.SourceOperator},
	)
	cloud := &recordingCloud{ReputationService: idx}
	sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: cloud, CloudBatch: 2})

	want := map[string]scan.Result{
		tr.one:  {Path: tr.one, Verdict: herd.VerdictMalicious, Threat: "X", Source: herd.SourceOperator, Where: "cloud", SHA256: sha256Hex(one)},
		tr.deep: {Path: tr.deep, Verdict: herd.VerdictMalicious, Threat: "ByMD5", Source: herd.SourceImport, Where: "cloud", SHA256: sha256Hex(deep)},
		tr.big:  {Path: tr.big, Verdict: herd.VerdictSuspicious, Threat: "Maybe", Source: herd.SourceOperator, Where: "cloud", SHA256: sha256Hex(big)},
	}
	for _, p := range tr.eicar {
		want[p] = eicarLocal(p) // the local database decides first
	}
	if len(got) != len(want) {
		t.Errorf("%d results, want %d: %+v", len(got), len(want), got)
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("result %+v\nwant   %+v", got[p], w)
		}
	}
	nonLocal := int64(len(tr.files) - len(tr.eicar))
	if sum.Detections != 5 || sum.LocalHits != 2 || sum.CloudAsked != nonLocal || sum.CloudFailed || sum.CloudError != "" || sum.Errors != 0 {
		t.Errorf("summary %+v: want 5 detections, 2 local, %d files asked of the cloud", sum, nonLocal)
	}

	// Every file the local database did not decide was asked for exactly
	// once, by its sha256, sha1 and md5 in that order, at most two files
	// (CloudBatch) per lookup.
	asked := map[string]int{}
	for _, b := range cloud.batches {
		if len(b) == 0 || len(b) > 6 || len(b)%3 != 0 {
			t.Errorf("lookup of %d objects: want 3 per file, at most 2 files", len(b))
			continue
		}
		for i := 0; i < len(b); i += 3 {
			asked[b[i].String()+" "+b[i+1].String()+" "+b[i+2].String()]++
		}
	}
	for p, c := range tr.files {
		k := "sha256:" + sha256Hex(c) + " sha1:" + sha1Hex(c) + " md5:" + md5Hex(c)
		n := asked[k]
		delete(asked, k)
		if slices.Contains(tr.eicar, p) {
			if n != 0 {
				t.Errorf("%s: decided locally, yet asked of the cloud %d times", p, n)
			}
		} else if n != 1 {
			t.Errorf("%s (%d bytes): asked of the cloud %d times by its digests, want once", p, len(c), n)
		}
	}
	if len(asked) != 0 {
		t.Errorf("the cloud was asked about digests of no file: %v", asked)
	}
}

func TestScanCloudOnly(t *testing.T) {
	tr := MustWriteTree(t)
	sum, got := MustScan(t, []string{tr.eicar[0]}, scan.Options{Cloud: reputation.NewIndex()})
	want := scan.Result{Path: tr.eicar[0], Verdict: herd.VerdictMalicious, Threat: herd.EICARThreat, Source: herd.SourceBuiltin, Where: "cloud", Test: true, SHA256: herd.EICARSHA256}
	if len(got) != 1 || got[tr.eicar[0]] != want {
		t.Errorf("results %+v\nwant %+v", got, want)
	}
	if sum.Detections != 1 || sum.LocalHits != 0 || sum.CloudAsked != 1 {
		t.Errorf("summary %+v: want 1 cloud detection", sum)
	}
}

// downCloud is a cloud that cannot be reached.
type downCloud struct{}

func (downCloud) Lookup(context.Context, []herd.Object) ([]herd.Record, error) {
	return nil, herd.Errorf(herd.EUNAVAILABLE, "cloud down for the test")
}

// shortCloud answers one record too few.
type shortCloud struct{}

func (shortCloud) Lookup(_ context.Context, objs []herd.Object) ([]herd.Record, error) {
	return make([]herd.Record, len(objs)-1), nil
}

func TestScanCloudFails(t *testing.T) {
	tr := MustWriteTree(t)
	for name, cloud := range map[string]herd.ReputationService{"unavailable": downCloud{}, "wrong answer count": shortCloud{}} {
		t.Run(name, func(t *testing.T) {
			sum, got := MustScan(t, []string{tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: cloud})
			for _, p := range tr.eicar {
				if got[p] != eicarLocal(p) {
					t.Errorf("local detection lost when the cloud failed: %+v", got[p])
				}
			}
			if len(got) != 2 || !sum.CloudFailed || sum.CloudAsked != 0 || sum.Detections != 2 || sum.LocalHits != 2 || sum.Files != int64(len(tr.files)) {
				t.Errorf("summary %+v, %d results: want cloud failed, 2 local detections, every file hashed", sum, len(got))
			}
			if name == "unavailable" && sum.CloudError != "cloud down for the test" {
				t.Errorf("CloudError = %q, want the cloud's message", sum.CloudError)
			}
			if sum.CloudError == "" {
				t.Error("CloudError is empty")
			}
		})
	}
}

func TestScanCanceled(t *testing.T) {
	tr := MustWriteTree(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := scan.Scan(ctx, []string{tr.dir, tr.dir, tr.dir}, scan.Options{DB: sigdb.Builtin(), Cloud: reputation.NewIndex()}, func(scan.Result) {})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Scan with a canceled context: error %v, want context.Canceled", err)
	}
}
