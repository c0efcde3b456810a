package archive_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/agent/archive"
)

var eicar = []byte(herd.EICAR)

// got is what a walk gave its function for one member.
type got struct {
	Path    string
	Depth   int
	Archive archive.Format
	Data    string
}

// walkAll walks data and returns every member with its content (read
// whole) and Walk's error.
func walkAll(tb testing.TB, name string, data []byte, lim archive.Limits) ([]got, error) {
	tb.Helper()
	var gs []got
	err := archive.Walk(context.Background(), name, bytes.NewReader(data), int64(len(data)), lim, func(m archive.Member, r io.Reader) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if !strings.HasSuffix(m.Path, "//"+m.Name) {
			tb.Errorf("member %q: path %q does not end with its name", m.Name, m.Path)
		}
		gs = append(gs, got{m.Path, m.Depth, m.Archive, string(b)})
		return nil
	})
	return gs, err
}

// eicarAt is the member list of a walk that meets archives along the way
// (each with its content elided) and EICAR at the end.
func eicarAt(path string, depth int) got { return got{path, depth, archive.None, herd.EICAR} }

func TestWalkFormats(t *testing.T) {
	tarball := MustTar(t, file{name: "dir/", typ: tar.TypeDir}, file{name: "dir/eicar.com", data: eicar}, file{name: "clean.txt", data: []byte("clean\n")})
	inner := MustZip(t, file{name: "eicar.com", data: eicar})
	for _, tc := range []struct {
		name string
		data []byte
		want []got // Data "" for archives: checked apart
	}{
		{"e.zip", MustZip(t, file{name: "a/eicar.com", data: eicar}, file{name: "a/clean", data: []byte("ok")}),
			[]got{eicarAt("e.zip//a/eicar.com", 1), {"e.zip//a/clean", 1, archive.None, "ok"}}},
		{"e.tar", tarball, []got{eicarAt("e.tar//dir/eicar.com", 1), {"e.tar//clean.txt", 1, archive.None, "clean\n"}}},
		{"eicar.com.gz", MustGzip(t, "", eicar), []got{eicarAt("eicar.com.gz//eicar.com", 1)}},
		{"named.gz", MustGzip(t, "inside.com", eicar), []got{eicarAt("named.gz//inside.com", 1)}},
		{"eicar.com.bz2", MustRead(t, "testdata/eicar.com.bz2"), []got{eicarAt("eicar.com.bz2//eicar.com", 1)}},
		{"eicar.com.xz", MustXZ(t, eicar), []got{eicarAt("eicar.com.xz//eicar.com", 1)}},
		{"e.tar.gz", MustGzip(t, "", tarball), []got{{"e.tar.gz//e.tar", 1, archive.Tar, ""},
			eicarAt("e.tar.gz//e.tar//dir/eicar.com", 2), {"e.tar.gz//e.tar//clean.txt", 2, archive.None, "clean\n"}}},
		{"eicar.tar.bz2", MustRead(t, "testdata/eicar.tar.bz2"), []got{{"eicar.tar.bz2//eicar.tar", 1, archive.Tar, ""},
			eicarAt("eicar.tar.bz2//eicar.tar//eicar.com", 2)}},
		{"e.txz", MustXZ(t, tarball), []got{{"e.txz//e.tar", 1, archive.Tar, ""},
			eicarAt("e.txz//e.tar//dir/eicar.com", 2), {"e.txz//e.tar//clean.txt", 2, archive.None, "clean\n"}}},
		// Found by content, not name; a zip in a tar.gz in a zip.
		{"notes.txt", MustZip(t, file{name: "x.tgz", data: MustGzip(t, "", MustTar(t, file{name: "in.zip", data: inner}))}),
			[]got{{"notes.txt//x.tgz", 1, archive.Gzip, ""}, {"notes.txt//x.tgz//x.tar", 2, archive.Tar, ""},
				{"notes.txt//x.tgz//x.tar//in.zip", 3, archive.Zip, ""}, eicarAt("notes.txt//x.tgz//x.tar//in.zip//eicar.com", 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gs, err := walkAll(t, tc.name, tc.data, archive.Limits{})
			if err != nil {
				t.Fatalf("Walk: %v", err)
			}
			for i := range gs {
				if gs[i].Archive != archive.None {
					if archive.Detect([]byte(gs[i].Data)) != gs[i].Archive {
						t.Errorf("member %s: content is no %v", gs[i].Path, gs[i].Archive)
					}
					gs[i].Data = ""
				}
			}
			if !slices.Equal(gs, tc.want) {
				t.Errorf("members\n got %+v\nwant %+v", gs, tc.want)
			}
		})
	}
}

func TestWalkSkipsLinksAndDevices(t *testing.T) {
	data := MustTar(t,
		file{name: "passwd", data: []byte("/etc/passwd"), typ: tar.TypeSymlink},
		file{name: "hard", data: []byte("eicar.com"), typ: tar.TypeLink},
		file{name: "dev", typ: tar.TypeChar},
		file{name: "fifo", typ: tar.TypeFifo},
		file{name: "eicar.com", data: eicar})
	gs, err := walkAll(t, "links.tar", data, archive.Limits{})
	if err != nil || !slices.Equal(gs, []got{eicarAt("links.tar//eicar.com", 1)}) {
		t.Fatalf("Walk = %+v, %v; want eicar.com only", gs, err)
	}
}

func TestWalkNotArchive(t *testing.T) {
	for _, data := range [][]byte{nil, eicar, []byte("PK"), bytes.Repeat([]byte{0}, 1000)} {
		if gs, err := walkAll(t, "plain", data, archive.Limits{}); err != nil || gs != nil {
			t.Errorf("Walk(%q) = %+v, %v; want no members", data[:min(len(data), 10)], gs, err)
		}
	}
}

// nest wraps data in zips: depth zips in all, the innermost holding
// data as "eicar.com", each outer one holding the next as "<level>.zip".
func nest(tb testing.TB, depth int, data []byte) []byte {
	tb.Helper()
	data = MustZip(tb, file{name: "eicar.com", data: data})
	for i := depth - 1; i >= 1; i-- {
		data = MustZip(tb, file{name: fmt.Sprintf("%d.zip", i), data: data})
	}
	return data
}

func TestWalkDepth(t *testing.T) {
	// Five zips deep is within the default limits: EICAR is found.
	gs, err := walkAll(t, "d.zip", nest(t, 5, eicar), archive.Limits{})
	if err != nil || len(gs) != 5 || gs[4] != eicarAt("d.zip//1.zip//2.zip//3.zip//4.zip//eicar.com", 5) {
		t.Fatalf("five deep: %+v, %v; want EICAR at depth 5", gs, err)
	}
}

func TestWalkRefused(t *testing.T) {
	small := archive.Limits{MaxMembers: 100}
	// An overlapping-entry zip: two central directory entries point at
	// the same local file and data.
	overlap := MustZip(t, file{name: "a.bin", data: bytes.Repeat([]byte("abcd"), 1000)}, file{name: "b.bin", data: bytes.Repeat([]byte("abcd"), 1000)})
	cd := bytes.LastIndex(overlap, []byte("PK\x01\x02"))
	if cd < 0 || string(overlap[cd+46:cd+51]) != "b.bin" {
		t.Fatal("no central directory entry for b.bin")
	}
	copy(overlap[cd+42:cd+46], []byte{0, 0, 0, 0}) // b.bin's local header: a.bin's
	many := make([]file, 101)
	for i := range many {
		many[i] = file{name: fmt.Sprintf("f%03d", i), data: []byte{byte(i)}}
	}
	nested := MustZipBomb(t, []string{"0", "1", "2", "3"}, 4<<20) // 16 MiB of zeros
	for _, l := range []string{"1", "2"} {
		parts := make([]file, 16)
		for i := range parts {
			parts[i] = file{name: fmt.Sprintf("%s-%d.zip", l, i), data: nested}
		}
		nested = MustZip(t, parts...) // 16 and 256 times that
	}
	for _, tc := range []struct {
		name   string
		data   []byte
		lim    archive.Limits
		reason archive.Reason
		msg    string
	}{
		{"bomb.zip", MustZipBomb(t, []string{"zeros.bin"}, 100<<20), archive.Limits{}, archive.ReasonRatio,
			`archive "bomb.zip": member "zeros.bin": compression ratio over 100:1: refused as a possible zip bomb`},
		{"zeros.gz", MustGzipZeros(t, 100<<20), archive.Limits{}, archive.ReasonRatio,
			`archive "zeros.gz": member "zeros": compression ratio over 100:1: refused as a possible zip bomb`},
		{"big.zip", MustZip(t, file{name: "big", data: make([]byte, 3<<20)}), archive.Limits{MaxMember: 2 << 20, MaxRatio: 1 << 20}, archive.ReasonMemberSize,
			`archive "big.zip": member "big": more than 2 MiB: refused as a possible zip bomb`},
		{"42.zip", nested, archive.Limits{}, archive.ReasonRatio,
			`archive "42.zip//2-0.zip//1-0.zip": member "0": compression ratio over 100:1: refused as a possible zip bomb`},
		{"42.zip", nested, archive.Limits{MaxRatio: 1 << 30, MaxTotal: 10 << 20}, archive.ReasonTotalSize,
			`archive "42.zip//2-0.zip//1-0.zip": member "2": more than 10 MiB decompressed in all: refused as a possible zip bomb`},
		{"d.zip", nest(t, 6, eicar), archive.Limits{}, archive.ReasonDepth,
			`archive "d.zip//1.zip//2.zip//3.zip//4.zip": member "5.zip": archives nested more than 5 deep: refused as a possible zip bomb`},
		{"d.tar.gz", MustGzip(t, "", MustTar(t, file{name: "in.zip", data: MustZip(t, file{name: "eicar.com", data: eicar})})), archive.Limits{MaxDepth: 2}, archive.ReasonDepth,
			`archive "d.tar.gz//d.tar": member "in.zip": archives nested more than 2 deep: refused as a possible zip bomb`},
		{"many.zip", MustZip(t, many...), small, archive.ReasonMembers,
			`archive "many.zip": 101 members, more than 100: refused as a possible zip bomb`},
		{"many.tar", MustTar(t, many...), small, archive.ReasonMembers,
			`archive "many.tar": member "f100": more than 100 members: refused as a possible zip bomb`},
		{"overlap.zip", overlap, archive.Limits{}, archive.ReasonOverlap,
			`archive "overlap.zip": member "b.bin": compressed data overlaps member "a.bin"'s: refused as a possible zip bomb`},
		{"up.zip", MustZip(t, file{name: "ok", data: eicar}, file{name: "../x", data: eicar}), archive.Limits{}, archive.ReasonPath,
			`archive "up.zip": member "../x": path escapes the archive: refused as unsafe`},
		{"abs.zip", MustZip(t, file{name: "/etc/passwd", data: eicar}), archive.Limits{}, archive.ReasonPath,
			`archive "abs.zip": member "/etc/passwd": absolute path: refused as unsafe`},
		{"mid.tar", MustTar(t, file{name: "a/../../b", data: eicar}), archive.Limits{}, archive.ReasonPath,
			`archive "mid.tar": member "a/../../b": path escapes the archive: refused as unsafe`},
		{"win.zip", MustZip(t, file{name: `..\..\x.exe`, data: eicar}), archive.Limits{}, archive.ReasonPath,
			`archive "win.zip": member "..\\..\\x.exe": backslash in name (a Windows path separator): refused as unsafe`},
		{"drive.tar", MustTar(t, file{name: "C:x.exe", data: eicar}), archive.Limits{}, archive.ReasonPath,
			`archive "drive.tar": member "C:x.exe": Windows drive path: refused as unsafe`},
		{"gzname.gz", MustGzip(t, "../../.bashrc", eicar), archive.Limits{}, archive.ReasonPath,
			`archive "gzname.gz": member "../../.bashrc": path escapes the archive: refused as unsafe`},
		{"outer.zip", MustZip(t, file{name: "inner.tar", data: MustTar(t, file{name: "../../x", data: eicar})}), archive.Limits{}, archive.ReasonPath,
			`archive "outer.zip//inner.tar": member "../../x": path escapes the archive: refused as unsafe`},
	} {
		t.Run(tc.name+"/"+string(tc.reason), func(t *testing.T) {
			gs, err := walkAll(t, tc.name, tc.data, tc.lim)
			var re *archive.RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("Walk = %v, want a *RefusedError", err)
			}
			if re.Reason != tc.reason || err.Error() != tc.msg {
				t.Errorf("refused for %q:\n%s\nwant %q:\n%s", re.Reason, err, tc.reason, tc.msg)
			}
			if re.Bomb() != (tc.reason != archive.ReasonPath) {
				t.Errorf("Bomb() = %v for %q", re.Bomb(), re.Reason)
			}
			// A zip's names are checked before any content is read.
			if strings.HasSuffix(tc.name, ".zip") && re.Archive == tc.name && tc.reason == archive.ReasonPath && len(gs) != 0 {
				t.Errorf("members read before the refusal: %+v", gs)
			}
		})
	}
}

func TestWalkSafeNames(t *testing.T) {
	names := []string{"a/../b", "./x", "dir/./f", "..foo", "a..b/c", "ab:c", "ü/ñ"}
	files := make([]file, len(names))
	for i, n := range names {
		files[i] = file{name: n, data: []byte(n)}
	}
	gs, err := walkAll(t, "ok.tar", MustTar(t, files...), archive.Limits{})
	if err != nil || len(gs) != len(names) {
		t.Fatalf("Walk = %+v, %v; want every member", gs, err)
	}
}

func TestWalkSpillsToTempDir(t *testing.T) {
	tmp := t.TempDir()
	big := randomish(1<<20 + 1000)
	data := MustZip(t, file{name: "in.tar", data: MustTar(t, file{name: "big", data: big}, file{name: "eicar.com", data: eicar})})
	var seen []string
	err := archive.Walk(context.Background(), "s.zip", bytes.NewReader(data), int64(len(data)), archive.Limits{MaxSpill: 1 << 20, TempDir: tmp},
		func(m archive.Member, r io.Reader) error {
			b, err := io.ReadAll(r)
			if m.Name == "big" && !bytes.Equal(b, big) {
				t.Errorf("big: %d bytes, not the ones stored", len(b))
			}
			if m.Archive != archive.None {
				if ents, _ := os.ReadDir(tmp); len(ents) != 1 {
					t.Errorf("walking %s: %d files in the temp dir, want its spill", m.Path, len(ents))
				}
			}
			seen = append(seen, m.Path)
			return err
		})
	if err != nil || !slices.Equal(seen, []string{"s.zip//in.tar", "s.zip//in.tar//big", "s.zip//in.tar//eicar.com"}) {
		t.Fatalf("Walk = %v, %v", seen, err)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temp dir holds %d files after Walk, want none", len(ents))
	}
}

func randomish(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestWalkErrors(t *testing.T) {
	tgz := MustGzip(t, "", MustTar(t, file{name: "eicar.com", data: eicar}))
	truncated := tgz[:len(tgz)-20]
	if _, err := walkAll(t, "cut.tar.gz", truncated, archive.Limits{}); err == nil || !strings.Contains(err.Error(), `"cut.tar.gz`) || errors.As(err, new(*archive.RefusedError)) {
		t.Errorf("truncated tar.gz: %v; want an I/O error naming it, not a refusal", err)
	}
	boom := errors.New("stop here")
	data := MustZip(t, file{name: "a", data: eicar})
	err := archive.Walk(context.Background(), "f.zip", bytes.NewReader(data), int64(len(data)), archive.Limits{}, func(archive.Member, io.Reader) error { return boom })
	if !errors.Is(err, boom) || err.Error() != `archive "f.zip": member "a": stop here` {
		t.Errorf("fn's error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := archive.Walk(ctx, "f.zip", bytes.NewReader(data), int64(len(data)), archive.Limits{}, func(archive.Member, io.Reader) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	for lim, field := range map[archive.Limits]string{{MaxDepth: -1}: "MaxDepth = -1", {MaxRatio: -2}: "MaxRatio = -2", {MaxMembers: -3}: "MaxMembers = -3"} {
		if err := archive.Walk(context.Background(), "f.zip", bytes.NewReader(data), int64(len(data)), lim, nil); err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("limits %+v: %v; want an error naming %s", lim, err, field)
		}
	}
}

// BenchmarkWalkTarGz walks a tar.gz of 4 MiB of hex text and EICAR,
// reading every member: the cost of looking inside a compressed archive.
func BenchmarkWalkTarGz(b *testing.B) {
	text := make([]byte, 4<<20)
	const digits = "0123456789abcdef"
	for i, r := range randomish(len(text)) {
		text[i] = digits[r&15]
	}
	data := MustGzip(b, "", MustTar(b, file{name: "text", data: text}, file{name: "eicar.com", data: eicar}))
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		err := archive.Walk(context.Background(), "b.tar.gz", bytes.NewReader(data), int64(len(data)), archive.Limits{TempDir: b.TempDir()},
			func(m archive.Member, r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
		if err != nil {
			b.Fatal(err)
		}
	}
}

// TestWalkRefusesSparseTar: a sparse member stores none of its holes, so a
// small plain tar could expand without bound; it is refused, not read.
func TestWalkRefusesSparseTar(t *testing.T) {
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar command to make a sparse archive")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "holes"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("end"), 300<<20) // 300 MiB, nearly all hole
	f.Close()
	out := filepath.Join(dir, "sparse.tar")
	if b, err := exec.Command("tar", "--sparse", "-C", dir, "-cf", out, "holes").CombinedOutput(); err != nil {
		t.Skipf("tar --sparse: %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 1<<20 {
		t.Skipf("this tar stored the holes (%d bytes): no sparse member to test", len(data))
	}
	_, err = walkAll(t, "sparse.tar", data, archive.Limits{})
	var ref *archive.RefusedError
	if !errors.As(err, &ref) || !strings.Contains(ref.Detail, "sparse") || ref.Member != "holes" {
		t.Fatalf("sparse tar: %v, want refused as sparse", err)
	}
}
