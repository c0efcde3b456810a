//go:build yara && cgo

package yara

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/herdsec/herd"
)

// MustLoad compiles the rules of paths or fails the test.
func MustLoad(tb testing.TB, paths []string, opt Options) *Engine {
	tb.Helper()
	e, err := Load(paths, opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

func TestScan(t *testing.T) {
	e := MustLoad(t, []string{"testdata/rules"}, Options{})
	if e.Name() != "yara" || e.Rules() != 3 {
		t.Errorf("Name, Rules = %q, %d; want yara, 3", e.Name(), e.Rules())
	}
	for _, tc := range []struct {
		name, content, want string
	}{
		{"eicar.com", herd.EICAR, "Herd_Test_EICAR"},
		{"eicar with a newline", herd.EICAR + "\r\n", "Herd_Test_EICAR"},
		{"eicar not at the start", "x" + herd.EICAR, ""},
		{"hex marker", "....HERD-TEST....", "Herd_Test_Marker"},
		{"text marker, any case", "a HERD-Yara-Marker b", "Herd_Test_Marker"},
		{"tiny MZ", "MZ\x90\x00", "Herd_Test_TinyMZ"},
		{"big MZ", "MZ" + strings.Repeat("\x00", 2000), ""},
		{"clean", "hello, world", ""},
		{"empty", "", ""},
	} {
		got, err := e.Scan(context.Background(), tc.name, strings.NewReader(tc.content))
		if err != nil || got != tc.want {
			t.Errorf("%s: Scan = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

func TestScanLimits(t *testing.T) {
	e := MustLoad(t, []string{"testdata/rules/eicar.yar"}, Options{MaxSize: 100})
	if got, err := e.Scan(context.Background(), "eicar", strings.NewReader(herd.EICAR)); err != nil || got != "Herd_Test_EICAR" {
		t.Errorf("under the limit = %q, %v", got, err)
	}
	_, err := e.Scan(context.Background(), "big.bin", strings.NewReader(herd.EICAR+strings.Repeat(" ", 100)))
	if herd.ErrorCode(err) != herd.ETOOLARGE || !strings.Contains(err.Error(), "big.bin") {
		t.Errorf("over the limit = %v; want ETOOLARGE naming the file", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Scan(ctx, "eicar", strings.NewReader(herd.EICAR)); err != context.Canceled {
		t.Errorf("canceled = %v", err)
	}
	e.Close()
	if _, err := e.Scan(context.Background(), "eicar", strings.NewReader(herd.EICAR)); herd.ErrorCode(err) != herd.EUNAVAILABLE {
		t.Errorf("after Close = %v", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestConcurrent runs more scans at once than there are scanners; the race
// detector checks the pool.
func TestConcurrent(t *testing.T) {
	e := MustLoad(t, []string{"testdata/rules"}, Options{Scanners: 2})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			content, want := fmt.Sprintf("clean %d", i), ""
			if i%3 == 0 {
				content, want = herd.EICAR, "Herd_Test_EICAR"
			}
			got, err := e.Scan(context.Background(), strconv.Itoa(i), strings.NewReader(content))
			if err != nil || got != want {
				errs <- fmt.Errorf("scan %d = %q, %v; want %q", i, got, err, want)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func writeRules(tb testing.TB, files map[string]string) string {
	tb.Helper()
	dir := tb.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func TestBadRules(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       string // after "<dir>/bad.yar:"
	}{
		{"syntax", "rule a {\n  condition:\n    true and\n}\n", "4: syntax error"},
		{"undefined string", "rule a {\n  condition:\n    $x\n}\n", "4: undefined string \"$x\""}, // YARA names the rule's last line,
		{"unreferenced string", "rule a {\n  strings:\n    $x = \"abc\"\n  condition:\n    true\n}\n", "6: unreferenced string \"$x\""},
		{"duplicate rule", "rule a { condition: true }\n\nrule a { condition: false }\n", "3: duplicated identifier \"a\""},
		{"unknown module", "import \"nosuch\"\nrule a { condition: true }\n", "1: unknown module \"nosuch\""},
		{"bad hex", "rule a {\n strings:\n  $h = { 4D 5 }\n condition:\n  $h\n}\n", "3: invalid hex string"},
	} {
		dir := writeRules(t, map[string]string{"bad.yar": tc.text})
		_, err := Load([]string{dir}, Options{})
		want := filepath.Join(dir, "bad.yar") + ":" + tc.want
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: Load = %v; want EINVALID containing %q", tc.name, err, want)
		}
	}
	// A bad file among good ones is named.
	dir := writeRules(t, map[string]string{"a.yar": "rule a { condition: true }\n", "b.yar": "rule b {\n condition: nosuch\n}\n"})
	_, err := Load([]string{"testdata/rules", dir}, Options{})
	if want := filepath.Join(dir, "b.yar") + ":2: undefined identifier \"nosuch\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Load = %v; want %q", err, want)
	}
}

func TestWarnings(t *testing.T) {
	dir := writeRules(t, map[string]string{"slow.yar": "rule slow {\n strings:\n  $a = { 00 ?? }\n condition:\n  $a\n}\n"})
	e := MustLoad(t, []string{dir}, Options{})
	w := e.Warnings()
	if len(w) == 0 || !strings.HasPrefix(w[0], filepath.Join(dir, "slow.yar")+":3: ") {
		t.Errorf("Warnings = %q; want one for slow.yar line 3", w)
	}
}

// problem is how Load names a problem: file:line: text.
var problem = regexp.MustCompile(`^yara: (.+?):(\d+): \S`)

// FuzzLoadRules checks that any rule text either compiles (and then scans
// without failing) or gives an EINVALID error naming the file and a line
// of it.
func FuzzLoadRules(f *testing.F) {
	for _, s := range []string{
		"rule a { condition: true }",
		"rule a {\n strings:\n  $h = { 4D 5A ?? [2-4] 00 }\n condition:\n  $h at 0 and filesize < 1MB\n}\n",
		"rule b {\n strings:\n  $s = /ab+c/ nocase\n condition:\n  #s > 2\n}\n",
		"import \"math\"\nrule c { condition: math.entropy(0, filesize) > 7 }",
		"rule a {\n condition:\n",
		"include \"x.yar\"",
		"",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		if strings.Contains(text, "include") {
			t.Skip("includes read other files")
		}
		path := filepath.Join(dir, "fuzz.yar")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		e, err := Load([]string{path}, Options{Scanners: 1})
		if err != nil {
			m := problem.FindStringSubmatch(err.Error())
			if herd.ErrorCode(err) != herd.EINVALID || m == nil || m[1] != path {
				t.Fatalf("Load(%q) = %v; want EINVALID naming %s and a line", text, err, path)
			}
			line, _ := strconv.Atoi(m[2])
			if lines := strings.Count(text, "\n") + 1; line < 0 || line > lines {
				t.Fatalf("Load(%q) = %v: line %d of %d", text, err, line, lines)
			}
			return
		}
		defer e.Close()
		if _, err := e.Scan(context.Background(), "eicar", strings.NewReader(herd.EICAR)); err != nil {
			t.Fatalf("rules %q compiled, scan failed: %v", text, err)
		}
	})
}

// BenchmarkScan measures one scan with the three test rules of 1 MiB of
// random bytes and of the EICAR file.
func BenchmarkScan(b *testing.B) {
	e := MustLoad(b, []string{"testdata/rules"}, Options{})
	random := make([]byte, 1<<20)
	_, _ = rand.NewChaCha8([32]byte{1}).Read(random)
	for _, bc := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"1MiB", random, ""},
		{"EICAR", []byte(herd.EICAR), "Herd_Test_EICAR"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.content)))
			b.ReportAllocs()
			for b.Loop() {
				got, err := e.Scan(context.Background(), bc.name, bytes.NewReader(bc.content))
				if err != nil || got != bc.want {
					b.Fatalf("Scan = %q, %v", got, err)
				}
			}
		})
	}
}
