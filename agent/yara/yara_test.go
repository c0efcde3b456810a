package yara

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/herdsec/herd"
)

func TestRuleFiles(t *testing.T) {
	got, err := ruleFiles([]string{"testdata/rules", "testdata/rules/more/notes.txt"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"testdata/rules/eicar.yar", "testdata/rules/more/marker.yara", "testdata/rules/more/notes.txt"}
	if !slices.Equal(got, want) {
		t.Errorf("ruleFiles = %q, want %q", got, want)
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "readme.txt"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		paths []string
		want  string
	}{
		{nil, "no rule files given"},
		{[]string{"testdata/none.yar"}, "rules testdata/none.yar: no such file or directory"},
		{[]string{empty}, "no .yar or .yara files"},
	} {
		_, err := ruleFiles(tc.paths)
		if herd.ErrorCode(err) != herd.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ruleFiles(%q) = %v, want EINVALID %q", tc.paths, err, tc.want)
		}
	}
}

func TestOptions(t *testing.T) {
	o, err := Options{}.withDefaults()
	if err != nil || o.MaxSize != DefaultMaxSize || o.Timeout != DefaultTimeout || o.Scanners < 1 || o.Scanners > maxScanners {
		t.Errorf("defaults = %+v, %v", o, err)
	}
	for _, bad := range []Options{{MaxSize: -1}, {Timeout: -time.Second}, {Scanners: -1}, {Scanners: 33}} {
		if _, err := Load([]string{"testdata/rules"}, bad); herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("Load with %+v = %v, want EINVALID", bad, err)
		}
	}
}

func TestReadLimited(t *testing.T) {
	b, err := readLimited("f", strings.NewReader("12345"), 5)
	if err != nil || string(b) != "12345" {
		t.Errorf("at the limit = %q, %v", b, err)
	}
	_, err = readLimited("big.bin", strings.NewReader("123456"), 5)
	if herd.ErrorCode(err) != herd.ETOOLARGE || !strings.Contains(err.Error(), "big.bin: over the YARA size limit (5 bytes)") {
		t.Errorf("over the limit = %v", err)
	}
	_, err = readLimited("f", errReader{}, 5)
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error = %v", err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestWithoutYARA checks what a build without YARA says.
func TestWithoutYARA(t *testing.T) {
	if Supported {
		t.Skip("built with YARA")
	}
	_, err := Load([]string{"testdata/rules"}, Options{})
	if herd.ErrorCode(err) != herd.EUNAVAILABLE || !strings.Contains(err.Error(), "built without YARA support: rebuild with -tags yara") {
		t.Errorf("Load = %v", err)
	}
	var e Engine
	if _, err := e.Scan(t.Context(), "f", strings.NewReader(herd.EICAR)); !strings.Contains(err.Error(), "rebuild with -tags yara") {
		t.Errorf("Scan = %v", err)
	}
}
