package scan_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/archive"
	"github.com/herdsec/herd/agent/scan"
	"github.com/herdsec/herd/sigdb"
)

type member struct {
	name string
	data []byte
}

func mustZip(tb testing.TB, ms ...member) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range ms {
		w, err := zw.Create(m.name)
		if err == nil {
			_, err = w.Write(m.data)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func mustTar(tb testing.TB, ms ...member) []byte {
	tb.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o644, Size: int64(len(m.data)), Typeflag: tar.TypeReg})
		if err == nil {
			_, err = tw.Write(m.data)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func mustGzip(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		tb.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

func mustXZ(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var b bytes.Buffer
	zw, err := xz.NewWriter(&b)
	if err == nil {
		_, err = zw.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// archiveTree is a folder of archives and what the scanner must find in
// them.
type archiveTree struct {
	dir   string
	files int64
	bytes int64
	// eicar lists the paths (file//member…) where EICAR must be found.
	eicar []string
	// members is how many members the scanner must hash.
	members int64
	// refused maps archives to the error they must be refused with.
	refused map[string]string
	clean   []byte // the content of clean.zip//clean.txt
}

// MustWriteArchives writes EICAR inside every format and nesting the
// scanner opens (the tar.bz2 and .bz2 are fixtures made with the bzip2
// tool), a clean archive, a zip bomb and a zip whose member climbs out of
// its folder.
func MustWriteArchives(tb testing.TB) archiveTree {
	tb.Helper()
	at := archiveTree{dir: tb.TempDir(), refused: map[string]string{}, clean: []byte("nothing to see\n")}
	e := member{"dir/eicar.com", []byte(herd.EICAR)}
	tarball := mustTar(tb, e)
	write := func(name string, data []byte, members int64, eicar ...string) string {
		tb.Helper()
		p := filepath.Join(at.dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			tb.Fatal(err)
		}
		at.files++
		at.bytes += int64(len(data))
		at.members += members
		for _, m := range eicar {
			at.eicar = append(at.eicar, p+"//"+m)
		}
		return p
	}
	fixture := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "archive", "testdata", name))
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	write("e.zip", mustZip(tb, e, member{"clean", at.clean}), 2, "dir/eicar.com")
	write("e.tar", tarball, 1, "dir/eicar.com")
	write("e.tar.gz", mustGzip(tb, tarball), 2, "e.tar//dir/eicar.com")
	write("e.tar.xz", mustXZ(tb, tarball), 2, "e.tar//dir/eicar.com")
	write("eicar.tar.bz2", fixture("eicar.tar.bz2"), 2, "eicar.tar//eicar.com")
	write("eicar.com.bz2", fixture("eicar.com.bz2"), 1, "eicar.com")
	write("eicar.com.gz", mustGzip(tb, []byte(herd.EICAR)), 1, "eicar.com")
	write("eicar.com.xz", mustXZ(tb, []byte(herd.EICAR)), 1, "eicar.com")
	write("nested.zip", mustZip(tb, member{"in.tgz", mustGzip(tb, mustTar(tb, member{"z.zip", mustZip(tb, e)}))}), 4, "in.tgz//in.tar//z.zip//dir/eicar.com")
	write("clean.zip", mustZip(tb, member{"clean.txt", at.clean}), 1)

	bomb := write("bomb.zip", mustZip(tb, member{"zeros", make([]byte, 4<<20)}), 0)
	at.refused[bomb] = `archive "` + bomb + `": member "zeros": compression ratio over 100:1: refused as a possible zip bomb`
	up := write("up.zip", mustZip(tb, member{"ok", []byte(herd.EICAR)}, member{"../../etc/cron.d/x", []byte("* * * * * root sh")}), 0)
	at.refused[up] = `archive "` + up + `": member "../../etc/cron.d/x": path escapes the archive: refused as unsafe`
	return at
}

func TestScanArchives(t *testing.T) {
	at := MustWriteArchives(t)
	sum, got := MustScan(t, []string{at.dir}, scan.Options{DB: sigdb.Builtin(), Workers: 2})
	want := map[string]scan.Result{}
	for _, p := range at.eicar {
		want[p] = eicarLocal(p)
	}
	for p, msg := range at.refused {
		want[p] = scan.Result{Path: p, Err: msg, Refused: true}
	}
	for p, r := range got {
		if w, ok := want[p]; !ok || r != w {
			t.Errorf("result %+v\nwant   %+v", r, w)
		}
	}
	for p := range want {
		if _, ok := got[p]; !ok {
			t.Errorf("no result for %s", p)
		}
	}
	n := int64(len(at.eicar))
	wantSum := scan.Summary{Files: at.files, Bytes: at.bytes, Members: at.members, Detections: n, LocalHits: n, Errors: 2, Refused: 2}
	sum.Duration = 0
	if sum != wantSum {
		t.Errorf("summary %+v\nwant    %+v", sum, wantSum)
	}

	// Switched off, archives are files like any other.
	sum, got = MustScan(t, []string{at.dir}, scan.Options{DB: sigdb.Builtin(), NoArchives: true})
	if len(got) != 0 || sum.Members != 0 || sum.Files != at.files {
		t.Errorf("without archives: %d results, summary %+v; want none, %d files", len(got), sum, at.files)
	}
}

func TestScanArchiveLimits(t *testing.T) {
	at := MustWriteArchives(t)
	nested := filepath.Join(at.dir, "nested.zip")
	_, got := MustScan(t, []string{nested}, scan.Options{DB: sigdb.Builtin(), Archives: &archive.Limits{MaxDepth: 2}})
	want := scan.Result{Path: nested, Refused: true,
		Err: `archive "` + nested + `//in.tgz": member "in.tar": archives nested more than 2 deep: refused as a possible zip bomb`}
	if len(got) != 1 || got[nested] != want {
		t.Errorf("results %+v\nwant %+v", got, want)
	}
}

// TestScanArchiveCloud: members the local database does not decide go to
// the cloud and, when it cannot answer, to the offline filter.
func TestScanArchiveCloud(t *testing.T) {
	at := MustWriteArchives(t)
	clean := filepath.Join(at.dir, "clean.zip")
	member := clean + "//clean.txt"
	idx := MustIndex(t, herd.Record{Object: herd.Object{Kind: herd.KindSHA256, Value: sha256Hex(at.clean)}, Verdict: herd.VerdictMalicious, Threat: "Herd.Test.Member", Source: herd.SourceOperator})
	sum, got := MustScan(t, []string{clean}, scan.Options{Cloud: idx})
	want := scan.Result{Path: member, Verdict: herd.VerdictMalicious, Threat: "Herd.Test.Member", Source: herd.SourceOperator, Where: "cloud", SHA256: sha256Hex(at.clean)}
	if len(got) != 1 || got[member] != want || sum.CloudAsked != 2 {
		t.Errorf("cloud: results %+v, %d asked\nwant %+v, 2 asked", got, sum.CloudAsked, want)
	}
	sum, got = MustScan(t, []string{clean}, scan.Options{Cloud: downCloud{}, Filter: MustFilter(t, at.clean)})
	want = scan.Result{Path: member, Verdict: herd.VerdictSuspicious, Threat: scan.FilterThreat, Source: scan.SourceFilter, Where: "filter", SHA256: sha256Hex(at.clean)}
	if len(got) != 1 || got[member] != want || sum.FilterChecked != 2 {
		t.Errorf("filter: results %+v, %d checked\nwant %+v, 2 checked", got, sum.FilterChecked, want)
	}
}

// needleEngine is a content engine that reads everything and finds a byte
// string anywhere in it.
type needleEngine struct{ needle, threat string }

func (needleEngine) Name() string { return "needle" }
func (e needleEngine) Scan(ctx context.Context, name string, r io.Reader) (string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	if bytes.Contains(b, []byte(e.needle)) {
		return e.threat, nil
	}
	return "", nil
}

// headEngine decides from a file's first two bytes and reads no further.
type headEngine struct{}

func (headEngine) Name() string { return "head" }
func (headEngine) Scan(ctx context.Context, name string, r io.Reader) (string, error) {
	b := make([]byte, 2)
	if _, err := io.ReadFull(r, b); err != nil {
		return "", nil // shorter than two bytes: nothing to see
	}
	if string(b) == "MZ" {
		return "Test.PE", nil
	}
	return "", nil
}

// downEngine cannot scan anything, as a daemon that is not running.
type downEngine struct{}

func (downEngine) Name() string { return "down" }
func (downEngine) Scan(context.Context, string, io.Reader) (string, error) {
	return "", os.ErrDeadlineExceeded
}

func TestScanEngines(t *testing.T) {
	dir := t.TempDir()
	// Hex digits compress about 2:1, within the archive limits, and never
	// spell NEEDLE: only the end does. 600 KB crosses the hasher's buffer.
	hay := []byte(hex.EncodeToString(randomBytes(300_000, 4)) + "NEEDLE")
	pe := append([]byte("MZ"), randomBytes(1<<20, 3)...)
	files := map[string][]byte{
		"needle.txt": hay,
		"n.zip":      mustZip(t, member{"deep/needle.txt", hay}, member{"clean", []byte("clean")}),
		"pe.exe":     pe,
		"clean":      []byte("clean"),
		"empty":      nil,
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := func(name string) string { return filepath.Join(dir, name) }
	engines := []scan.Engine{needleEngine{"NEEDLE", "Test.Needle"}, headEngine{}}
	sum, got := MustScan(t, []string{dir}, scan.Options{Engines: engines, Workers: 2})
	want := map[string]scan.Result{
		p("needle.txt"):                  {Path: p("needle.txt"), Verdict: herd.VerdictMalicious, Threat: "Test.Needle", Source: "needle", Where: "local", SHA256: sha256Hex(hay)},
		p("n.zip") + "//deep/needle.txt": {Path: p("n.zip") + "//deep/needle.txt", Verdict: herd.VerdictMalicious, Threat: "Test.Needle", Source: "needle", Where: "local", SHA256: sha256Hex(hay)},
		p("pe.exe"):                      {Path: p("pe.exe"), Verdict: herd.VerdictMalicious, Threat: "Test.PE", Source: "head", Where: "local", SHA256: sha256Hex(pe)},
	}
	for path, r := range got {
		if w, ok := want[path]; !ok || r != w {
			t.Errorf("result %+v\nwant   %+v", r, w)
		}
	}
	if len(got) != len(want) || sum.Detections != 3 || sum.Files != 5 || sum.Members != 2 {
		t.Errorf("%d results, summary %+v; want 3 detections in 5 files and 2 members", len(got), sum)
	}

	// An engine that cannot scan makes every file and member an error:
	// never silently clean.
	sum, got = MustScan(t, []string{dir}, scan.Options{Engines: []scan.Engine{downEngine{}}})
	for _, path := range []string{p("needle.txt"), p("n.zip"), p("n.zip") + "//deep/needle.txt", p("n.zip") + "//clean", p("pe.exe"), p("clean"), p("empty")} {
		if w := (scan.Result{Path: path, Err: "engine down: " + os.ErrDeadlineExceeded.Error()}); got[path] != w {
			t.Errorf("result %+v\nwant   %+v", got[path], w)
		}
	}
	if len(got) != 7 || sum.Errors != 7 {
		t.Errorf("engine down: %d results, summary %+v; want 7 errors", len(got), sum)
	}
}
