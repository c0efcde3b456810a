package sigdb_test

import (
	"bytes"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/sigdb"
)

// Digests of the empty file, one per kind.
const (
	emptyMD5    = "d41d8cd98f00b204e9800998ecf8427e"
	emptySHA1   = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
	emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

type parsed struct {
	Line int
	Sig  sigdb.Signature
}

func parseAll(t *testing.T, text string) ([]parsed, error) {
	t.Helper()
	var got []parsed
	err := sigdb.Parse(strings.NewReader(text), "t.hsb", func(line int, s sigdb.Signature) error {
		got = append(got, parsed{line, s})
		return nil
	})
	return got, err
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []parsed
	}{
		{"md5 upper-case hex", strings.ToUpper(emptyMD5) + ":0:Test.MD5\n",
			[]parsed{{1, sigdb.Signature{herd.KindMD5, emptyMD5, 0, "Test.MD5"}}}},
		{"sha1 any size", emptySHA1 + ":*:Test.SHA1\n",
			[]parsed{{1, sigdb.Signature{herd.KindSHA1, emptySHA1, -1, "Test.SHA1"}}}},
		{"sha256 no final newline", emptySHA256 + ":68:Win.Trojan.Agent-1234-0",
			[]parsed{{1, sigdb.Signature{herd.KindSHA256, emptySHA256, 68, "Win.Trojan.Agent-1234-0"}}}},
		{"largest size", emptySHA256 + ":4294967294:Big\n",
			[]parsed{{1, sigdb.Signature{herd.KindSHA256, emptySHA256, 4294967294, "Big"}}}},
		{"md5 in an hsb, sha256 in an hdb: kind by length", emptyMD5 + ":1:A\n" + emptySHA256 + ":2:B\n",
			[]parsed{
				{1, sigdb.Signature{herd.KindMD5, emptyMD5, 1, "A"}},
				{2, sigdb.Signature{herd.KindSHA256, emptySHA256, 2, "B"}},
			}},
		{"flevel suffixes", emptyMD5 + ":1:A:73\n" + emptySHA1 + ":2:B:51:255\n" + emptySHA256 + ":3:C:90:\n",
			[]parsed{
				{1, sigdb.Signature{herd.KindMD5, emptyMD5, 1, "A"}},
				{2, sigdb.Signature{herd.KindSHA1, emptySHA1, 2, "B"}},
				{3, sigdb.Signature{herd.KindSHA256, emptySHA256, 3, "C"}},
			}},
		{"comments, blank lines and CRLF keep line numbers",
			"# ClamAV main.hsb\r\n\r\n   \t\n" + emptySHA256 + ":*:Name With Spaces\r\n#" + emptySHA1 + ":1:Off\n\n" + emptyMD5 + ":7:Unicodé\r\n",
			[]parsed{
				{4, sigdb.Signature{herd.KindSHA256, emptySHA256, -1, "Name With Spaces"}},
				{7, sigdb.Signature{herd.KindMD5, emptyMD5, 7, "Unicodé"}},
			}},
		{"empty file", "", nil},
		{"only comments", "#a\n#b", nil},
		{"longest name", emptyMD5 + ":1:" + strings.Repeat("n", 255) + "\n",
			[]parsed{{1, sigdb.Signature{herd.KindMD5, emptyMD5, 1, strings.Repeat("n", 255)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAll(t, tt.text)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tt.want)
			}
			db := sigdb.New()
			if err := db.Load(strings.NewReader(tt.text), "t.hsb"); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if db.Len() != len(tt.want) {
				t.Errorf("Len = %d, want %d", db.Len(), len(tt.want))
			}
		})
	}
}

// badLines are malformed lines with the message each must produce, after
// the file and line number.
var badLines = []struct {
	name, line, want string
}{
	{"truncated", "abc", `truncated line "abc": want HASH:SIZE:NAME`},
	{"no name field", emptyMD5 + ":12", `truncated line "` + emptyMD5 + `:12": want HASH:SIZE:NAME`},
	{"63 hex digits", emptySHA256[:63] + ":1:X", `hash "` + emptySHA256[:63] + `": want 32, 40 or 64 hex digits (md5, sha1, sha256), got 63 characters`},
	{"empty hash", ":1:X", `hash "": want 32, 40 or 64 hex digits (md5, sha1, sha256), got 0 characters`},
	{"non-hex", emptySHA256[:9] + "g" + emptySHA256[10:] + ":1:X", `hash "` + emptySHA256[:9] + "g" + emptySHA256[10:] + `": not a hex digit at position 10`},
	{"non-hex first of pair", "x" + emptyMD5[1:] + ":1:X", `hash "x` + emptyMD5[1:] + `": not a hex digit at position 1`},
	{"bad size", emptySHA1 + ":12x:X", `size "12x": not a number`},
	{"negative size", emptySHA1 + ":-1:X", `size "-1": not a number`},
	{"empty size", emptySHA1 + "::X", `size "": not a number`},
	{"size too large", emptySHA1 + ":4294967295:X", `size "4294967295": too large (at most 4294967294)`},
	{"size overflows int64", emptySHA1 + ":99999999999999999999999:X", `size "99999999999999999999999": too large (at most 4294967294)`},
	{"missing name", emptyMD5 + ":12:", `name: missing`},
	{"missing name before flevel", emptyMD5 + ":12::51", `name: missing`},
	{"too-long name", emptyMD5 + ":12:" + strings.Repeat("n", 256), `name: longer than 255 bytes`},
	{"control character in name", emptyMD5 + ":12:Bad\x01Name", `name: contains control characters`},
	{"tab in name", emptyMD5 + ":12:Bad\tName", `name: contains control characters`},
	{"C1 control in name", emptyMD5 + ":12:Bad\u0085Name", `name: contains control characters`},
	{"invalid UTF-8 in name", emptyMD5 + ":12:Bad\xffName", `name: not valid UTF-8`},
	{"bad flevel", emptyMD5 + ":12:X:new", `flevel "new": not a number`},
	{"empty flevel", emptyMD5 + ":12:X:", `flevel "": not a number`},
	{"bad max flevel", emptyMD5 + ":12:X:51:z", `max flevel "z": not a number`},
	{"too many fields", emptyMD5 + ":12:X:51:60:70", `too many fields: want HASH:SIZE:NAME[:MINFLEVEL[:MAXFLEVEL]]`},
	{"long comment", "#" + strings.Repeat("c", 5000), `line: longer than 4096 bytes`},
	{"very long line", strings.Repeat("a", 100000), `line: longer than 4096 bytes`},
}

func TestParseErrors(t *testing.T) {
	const head = "# header\n" + emptySHA256 + ":*:Good\n"
	for _, tt := range badLines {
		t.Run(tt.name, func(t *testing.T) {
			// The bad line last without a newline, or followed by a good one.
			for _, tail := range []string{"", "\n" + emptySHA1 + ":*:After\n", "\r\n" + emptySHA1 + ":*:After"} {
				text := head + tt.line + tail
				want := "t.hsb:3: " + tt.want

				var lines []int
				err := sigdb.Parse(strings.NewReader(text), "t.hsb", func(line int, s sigdb.Signature) error {
					lines = append(lines, line)
					return nil
				})
				if got := herd.ErrorCode(err); got != herd.EINVALID {
					t.Fatalf("Parse error code = %q (%v), want %q", got, err, herd.EINVALID)
				}
				if err.Error() != want {
					t.Errorf("Parse error:\n got %s\nwant %s", err, want)
				}
				if !slices.Equal(lines, []int{2}) {
					t.Errorf("Parse reported lines %v before the error, want [2]", lines)
				}

				db := sigdb.New()
				err = db.Load(strings.NewReader(text), "t.hsb")
				if herd.ErrorCode(err) != herd.EINVALID || err.Error() != want {
					t.Errorf("Load error:\n got %v\nwant %s", err, want)
				}
				if db.Len() != 0 {
					t.Errorf("Len after failed Load = %d, want 0", db.Len())
				}
			}
		})
	}
}

func TestParseStopsAtCallbackError(t *testing.T) {
	stop := fmt.Errorf("enough")
	var n int
	err := sigdb.Parse(strings.NewReader(emptyMD5+":1:A\n"+emptySHA1+":1:B\n"), "t.hdb", func(int, sigdb.Signature) error {
		n++
		return stop
	})
	if err != stop || n != 1 {
		t.Errorf("Parse = %v after %d calls, want %v after 1", err, n, stop)
	}
}

// digests returns content's digests as a scanner computes them.
func digests(content []byte) *herd.FileDigests {
	return &herd.FileDigests{
		Size:     int64(len(content)),
		SHA256:   sha256.Sum256(content),
		SHA1:     sha1.Sum(content),
		MD5:      md5.Sum(content),
		HaveSHA1: true,
		HaveMD5:  true,
	}
}

func mustLoad(tb testing.TB, db *sigdb.DB, text string) {
	tb.Helper()
	if err := db.Load(strings.NewReader(text), "t.hsb"); err != nil {
		tb.Fatal(err)
	}
}

func TestLoadBadFileLeavesDBUnchanged(t *testing.T) {
	db := sigdb.New()
	mustLoad(t, db, emptySHA256+":0:First\n")
	bad := emptyMD5 + ":0:Second\n" + emptySHA1 + ":0:Third\nnot a signature\n"
	err := db.Load(strings.NewReader(bad), "daily.hdb")
	if want := `daily.hdb:3: truncated line "not a signature": want HASH:SIZE:NAME`; err == nil || err.Error() != want {
		t.Fatalf("Load = %v, want %s", err, want)
	}
	if db.Len() != 1 {
		t.Errorf("Len = %d, want 1", db.Len())
	}
	if db.NeedsMD5() || db.NeedsSHA1() {
		t.Errorf("NeedsMD5, NeedsSHA1 = %v, %v after a failed Load, want false, false", db.NeedsMD5(), db.NeedsSHA1())
	}
	d := digests(nil)
	if name, ok := db.Match(d); name != "First" || !ok {
		t.Errorf("Match(empty file) = %q, %v; want First, true", name, ok)
	}
	d.SHA256 = [32]byte{}
	if name, ok := db.Match(d); ok {
		t.Errorf("Match by md5/sha1 of the failed file = %q, want no match", name)
	}
}

func TestMatchSizes(t *testing.T) {
	content := []byte("not really malware, 37 bytes of text.")
	d := digests(content)
	hashes := map[herd.Kind]string{
		herd.KindSHA256: hex.EncodeToString(d.SHA256[:]),
		herd.KindSHA1:   hex.EncodeToString(d.SHA1[:]),
		herd.KindMD5:    hex.EncodeToString(d.MD5[:]),
	}
	for kind, h := range hashes {
		t.Run(string(kind), func(t *testing.T) {
			only := func(size int64) *herd.FileDigests {
				// Zero the other kinds' digests so only kind can match.
				o := &herd.FileDigests{Size: size}
				switch kind {
				case herd.KindSHA256:
					o.SHA256 = d.SHA256
				case herd.KindSHA1:
					o.SHA1, o.HaveSHA1 = d.SHA1, true
				case herd.KindMD5:
					o.MD5, o.HaveMD5 = d.MD5, true
				}
				return o
			}
			exact := sigdb.New()
			mustLoad(t, exact, fmt.Sprintf("%s:%d:Exact\n", h, len(content)))
			anyDB := sigdb.New()
			mustLoad(t, anyDB, h+":*:Any\n")
			tests := []struct {
				db       *sigdb.DB
				size     int64
				wantName string
			}{
				{exact, int64(len(content)), "Exact"},
				{exact, int64(len(content)) + 1, ""},
				{exact, int64(len(content)) + 1<<32, ""}, // sizes are stored in 32 bits: no wrap-around
				{exact, 0, ""},
				{anyDB, int64(len(content)), "Any"},
				{anyDB, 0, "Any"},
				{anyDB, 1 << 40, "Any"},
			}
			for _, tt := range tests {
				name, ok := tt.db.Match(only(tt.size))
				if name != tt.wantName || ok != (tt.wantName != "") {
					t.Errorf("Match(size %d) = %q, %v; want %q", tt.size, name, ok, tt.wantName)
				}
			}
			// The kind must be computed to be matched.
			if kind != herd.KindSHA256 {
				o := only(int64(len(content)))
				o.HaveSHA1, o.HaveMD5 = false, false
				if name, ok := exact.Match(o); ok {
					t.Errorf("Match without Have%s = %q, want no match", kind, name)
				}
			}
		})
	}
}

func TestMatchOrderAndDuplicates(t *testing.T) {
	d := digests(nil)
	db := sigdb.New()
	mustLoad(t, db, emptyMD5+":0:ByMD5\n"+emptySHA1+":0:BySHA1\n"+
		emptySHA256+":5:Five\n"+emptySHA256+":0:Zero\n"+emptySHA256+":7:Seven\n")
	if name, _ := db.Match(d); name != "Zero" {
		t.Errorf("Match = %q, want Zero (sha256 first, the duplicate with the right size)", name)
	}
	d.Size = 7
	if name, _ := db.Match(d); name != "Seven" {
		t.Errorf("Match(size 7) = %q, want Seven", name)
	}
	d.Size = 6
	if name, ok := db.Match(d); ok {
		t.Errorf("Match(size 6) = %q, want none", name)
	}
	d.Size = 0
	d.SHA256 = [32]byte{}
	if name, _ := db.Match(d); name != "BySHA1" {
		t.Errorf("Match without sha256 hit = %q, want BySHA1", name)
	}
	d.HaveSHA1 = false
	if name, _ := db.Match(d); name != "ByMD5" {
		t.Errorf("Match without sha1 = %q, want ByMD5", name)
	}
	if !db.NeedsMD5() || !db.NeedsSHA1() || db.Len() != 5 {
		t.Errorf("NeedsMD5, NeedsSHA1, Len = %v, %v, %d; want true, true, 5", db.NeedsMD5(), db.NeedsSHA1(), db.Len())
	}
}

func TestBuiltin(t *testing.T) {
	db := sigdb.Builtin()
	if db.Len() != 1 || db.NeedsMD5() || db.NeedsSHA1() {
		t.Errorf("Len, NeedsMD5, NeedsSHA1 = %d, %v, %v; want 1 (sha256 only), false, false", db.Len(), db.NeedsMD5(), db.NeedsSHA1())
	}
	eicar := digests([]byte(herd.EICAR))
	for _, tt := range []struct {
		kind string
		d    herd.FileDigests
	}{
		{"sha256", herd.FileDigests{Size: eicar.Size, SHA256: eicar.SHA256}},
		{"any size", herd.FileDigests{Size: 1 << 20, SHA256: eicar.SHA256}},
	} {
		if name, ok := db.Match(&tt.d); name != herd.EICARThreat || !ok {
			t.Errorf("Match(EICAR by %s) = %q, %v; want %q", tt.kind, name, ok, herd.EICARThreat)
		}
	}
	for _, content := range []string{"", herd.EICAR + "\n", strings.ToLower(herd.EICAR)} {
		if name, ok := db.Match(digests([]byte(content))); ok {
			t.Errorf("Match(%q) = %q, want no match", content, name)
		}
	}
}

func TestLoadSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.hsb")
	daily := filepath.Join(dir, "daily.hdb")
	var b bytes.Buffer
	if err := sigdb.WriteBenchHSB(&b, 3000); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(main, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(daily, []byte(emptyMD5+":0:Daily.Empty\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	db := sigdb.Builtin()
	for _, p := range []string{main, daily} {
		if err := db.LoadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if db.Len() != 3002 {
		t.Errorf("Len = %d, want 3002", db.Len())
	}
	for _, tt := range []struct {
		d    *herd.FileDigests
		want string
	}{
		{digests([]byte(herd.EICAR)), herd.EICARThreat},
		{digests(nil), "Daily.Empty"},
		{benchDigests(2999), "Herd.Bench.Trojan-0002999"},
	} {
		if name, _ := db.Match(tt.d); name != tt.want {
			t.Errorf("Match = %q, want %q", name, tt.want)
		}
	}
	err := db.LoadFile(filepath.Join(dir, "missing.hsb"))
	if !os.IsNotExist(err) {
		t.Errorf("LoadFile(missing) = %v, want a not-exist error", err)
	}
}

// benchDigests returns the digests of the file that WriteBenchHSB's line i
// describes.
func benchDigests(i int) *herd.FileDigests {
	var num [8]byte
	for j := range 8 {
		num[7-j] = byte(i >> (8 * j))
	}
	return &herd.FileDigests{Size: int64(1000 + i), SHA256: sha256.Sum256(num[:])}
}

func TestWriteBenchHSB(t *testing.T) {
	var b bytes.Buffer
	if err := sigdb.WriteBenchHSB(&b, 2); err != nil {
		t.Fatal(err)
	}
	want := "cd2662154e6d76b2b2b92e70c0cac3ccf534f9b74eb5b89819ec509083d00a50:1001:Herd.Bench.Trojan-0000001\n" +
		"cd04a4754498e06db5a13c5f371f1f04ff6d2470f24aa9bd886540e5dce77f70:1002:Herd.Bench.Trojan-0000002\n"
	if b.String() != want {
		t.Errorf("WriteBenchHSB(2) =\n%s\nwant\n%s", b.String(), want)
	}
}

// TestLargeLoad covers what only large files exercise: parsing in parallel
// chunks (line numbers must still be the file's) and two-byte buckets.
func TestLargeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 30 MB database")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	const n = 300_000
	var b bytes.Buffer
	if err := sigdb.WriteBenchHSB(&b, n); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()

	db := sigdb.New()
	if err := db.Load(bytes.NewReader(good), "big.hsb"); err != nil {
		t.Fatal(err)
	}
	if db.Len() != n {
		t.Fatalf("Len = %d, want %d", db.Len(), n)
	}
	for i := 1; i <= n; i++ {
		d := benchDigests(i)
		if name, ok := db.Match(d); !ok || name != fmt.Sprintf("Herd.Bench.Trojan-%07d", i) {
			t.Fatalf("Match(line %d) = %q, %v; want Herd.Bench.Trojan-%07d", i, name, ok, i)
		}
		if i%1000 == 0 {
			d.Size++
			if name, ok := db.Match(d); ok {
				t.Errorf("Match(line %d, wrong size) = %q, want none", i, name)
			}
		}
	}
	if name, ok := db.Match(benchDigests(n + 1)); ok {
		t.Errorf("Match(absent) = %q, want none", name)
	}

	// A bad line in the last quarter, which a later parsing worker reads.
	lines := bytes.SplitAfter(good, []byte("\n"))
	badAt := n - n/8
	lines[badAt-1] = []byte("deadbeef:1:X\r\n")
	err := db.Load(bytes.NewReader(bytes.Join(lines, nil)), "big.hsb")
	want := fmt.Sprintf(`big.hsb:%d: hash "deadbeef": want 32, 40 or 64 hex digits (md5, sha1, sha256), got 8 characters`, badAt)
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
	if db.Len() != n {
		t.Errorf("Len after failed Load = %d, want %d", db.Len(), n)
	}
}

// hideLen hides a reader's Len method, as a pipe or socket has none.
type hideLen struct{ r io.Reader }

func (h hideLen) Read(p []byte) (int, error) { return h.r.Read(p) }

func TestLoadReaders(t *testing.T) {
	var b bytes.Buffer
	if err := sigdb.WriteBenchHSB(&b, 5000); err != nil {
		t.Fatal(err)
	}
	good := b.Bytes()
	for _, tt := range []struct {
		name string
		r    io.Reader
	}{
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(good))},
		{"half reads", iotest.HalfReader(hideLen{bytes.NewReader(good)})},
		{"data with EOF", iotest.DataErrReader(hideLen{bytes.NewReader(good)})},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db := sigdb.New()
			if err := db.Load(tt.r, "r.hsb"); err != nil {
				t.Fatal(err)
			}
			if db.Len() != 5000 {
				t.Errorf("Len = %d, want 5000", db.Len())
			}
			if name, _ := db.Match(benchDigests(4321)); name != "Herd.Bench.Trojan-0004321" {
				t.Errorf("Match = %q, want Herd.Bench.Trojan-0004321", name)
			}
		})
	}

	t.Run("read error", func(t *testing.T) {
		db := sigdb.Builtin()
		boom := errors.New("disk on fire")
		err := db.Load(io.MultiReader(bytes.NewReader(good), iotest.ErrReader(boom)), "r.hsb")
		if !errors.Is(err, boom) || err.Error() != "read r.hsb: disk on fire" {
			t.Errorf("Load = %v, want read r.hsb: disk on fire", err)
		}
		if db.Len() != 1 {
			t.Errorf("Len after failed Load = %d, want 1", db.Len())
		}
	})

	// A line longer than a whole read block, with no newline in it.
	t.Run("line longer than a block", func(t *testing.T) {
		text := emptyMD5 + ":1:A\n" + emptyMD5 + ":1:" + strings.Repeat("x", 1<<20) + "\n" + emptyMD5 + ":1:C\n"
		err := sigdb.New().Load(hideLen{strings.NewReader(text)}, "r.hsb")
		if want := "r.hsb:2: line: longer than 4096 bytes"; err == nil || err.Error() != want {
			t.Errorf("Load = %v, want %s", err, want)
		}
	})
}

// TestNames checks that every name survives front coding: names of varied
// lengths that share prefixes of every length with their neighbours.
func TestNames(t *testing.T) {
	var b strings.Builder
	want := make(map[[32]byte]string)
	prev := "Win.Trojan.Agent"
	for i := range 5000 {
		// Keep a pseudo-random part of the previous name and add to it.
		keep := min(len(prev), (i*7919)%(len(prev)+1))
		name := prev[:keep] + strings.Repeat(string(rune('A'+i%26)), i%5) + fmt.Sprint(i)
		if i%97 == 0 {
			name = strings.Repeat("é", 127) // 254 bytes
		}
		if len(name) > 255 {
			name = name[:200]
		}
		name = strings.ToValidUTF8(name, "?") // where a cut split an é
		h := sha256.Sum256([]byte(name + fmt.Sprint(i)))
		fmt.Fprintf(&b, "%x:*:%s\n", h, name)
		want[h] = name
		prev = name
	}
	db := sigdb.New()
	mustLoad(t, db, b.String())
	if db.Len() != len(want) {
		t.Fatalf("Len = %d, want %d", db.Len(), len(want))
	}
	for h, name := range want {
		if got, ok := db.Match(&herd.FileDigests{SHA256: h}); got != name || !ok {
			t.Fatalf("Match(%x) = %q, %v; want %q", h, got, ok, name)
		}
	}
}

// TestMatchConcurrent is for the race detector: Match takes no lock.
func TestMatchConcurrent(t *testing.T) {
	db := sigdb.Builtin()
	eicar := digests([]byte(herd.EICAR))
	other := digests([]byte("clean"))
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				if name, ok := db.Match(eicar); name != herd.EICARThreat || !ok {
					errs <- fmt.Sprintf("Match(EICAR) = %q, %v", name, ok)
					return
				}
				if name, ok := db.Match(other); ok {
					errs <- fmt.Sprintf("Match(clean) = %q", name)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
