package pseudonym_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"

	"github.com/herdsec/herd"
	"github.com/herdsec/herd/pseudonym"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// MustOpen opens a keyring in a new file under tb's temp dir.
func MustOpen(tb testing.TB, cfg pseudonym.Config, now time.Time) *pseudonym.Keyring {
	tb.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(tb.TempDir(), "keys", "pseudonym.json")
	}
	k, err := pseudonym.Open(cfg, now)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestPseudonymShape(t *testing.T) {
	k := MustOpen(t, pseudonym.Config{}, t0)
	p := k.Pseudonym("device-1")
	if len(p) != 2*pseudonym.Size {
		t.Fatalf("Pseudonym = %q: len %d, want %d", p, len(p), 2*pseudonym.Size)
	}
	if _, err := hex.DecodeString(p); err != nil || strings.ToLower(p) != p {
		t.Fatalf("Pseudonym = %q: not lowercase hex", p)
	}
	if strings.Contains(p, "device") {
		t.Fatalf("Pseudonym = %q carries the device id", p)
	}
	if got := k.Epoch(); !got.Equal(t0) {
		t.Fatalf("Epoch = %v, want %v", got, t0)
	}
	cur, epoch := k.Current("device-1")
	if cur != p || !epoch.Equal(t0) {
		t.Fatalf("Current = %q, %v; want %q, %v", cur, epoch, p, t0)
	}
}

func TestDeterministicAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "pseudonym.json")
	cfg := pseudonym.Config{Path: path}
	k1 := MustOpen(t, cfg, t0)
	a, b := k1.Pseudonym("device-a"), k1.Pseudonym("device-b")
	if a == b {
		t.Fatalf("two devices share pseudonym %q", a)
	}
	if got := k1.Pseudonym("device-a"); got != a {
		t.Fatalf("second call = %q, first %q", got, a)
	}
	sa := k1.Stable("consent", "device-a")

	k2 := MustOpen(t, cfg, t0.Add(day))
	if got := k2.Pseudonym("device-a"); got != a {
		t.Fatalf("after reopen Pseudonym = %q, want %q", got, a)
	}
	if got := k2.Pseudonym("device-b"); got != b {
		t.Fatalf("after reopen Pseudonym = %q, want %q", got, b)
	}
	if got := k2.Stable("consent", "device-a"); got != sa {
		t.Fatalf("after reopen Stable = %q, want %q", got, sa)
	}
	if got := k2.Epochs(); len(got) != 1 || !got[0].Equal(t0) {
		t.Fatalf("after reopen Epochs = %v, want [%v]", got, t0)
	}
}

func TestDistinctKeyrings(t *testing.T) {
	// Two clouds (or a lost key file) give unrelated pseudonyms.
	k1 := MustOpen(t, pseudonym.Config{}, t0)
	k2 := MustOpen(t, pseudonym.Config{}, t0)
	if k1.Pseudonym("d") == k2.Pseudonym("d") {
		t.Fatal("two fresh keyrings agree on a pseudonym")
	}
	if k1.Stable("consent", "d") == k2.Stable("consent", "d") {
		t.Fatal("two fresh keyrings agree on a stable pseudonym")
	}
}

func TestManyDevicesDistinct(t *testing.T) {
	k := MustOpen(t, pseudonym.Config{}, t0)
	seen := make(map[string]string)
	for i := range 10000 {
		id := fmt.Sprintf("device-%d", i)
		p := k.Pseudonym(id)
		if prev, ok := seen[p]; ok {
			t.Fatalf("%s and %s share pseudonym %s", prev, id, p)
		}
		seen[p] = id
	}
	if k.Pseudonym("") == k.Pseudonym("\x00") {
		t.Fatal(`"" and "\x00" share a pseudonym`)
	}
}

func TestRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pseudonym.json")
	cfg := pseudonym.Config{Path: path, Period: 30 * day, Keep: 2}
	k := MustOpen(t, cfg, t0)
	p0 := k.Pseudonym("dev")
	stable := k.Stable("consent", "dev")

	// Not due yet.
	if rotated, err := k.Rotate(t0.Add(30*day - time.Second)); err != nil || rotated {
		t.Fatalf("Rotate before the period = %v, %v; want false, nil", rotated, err)
	}
	if got := k.Pseudonym("dev"); got != p0 {
		t.Fatalf("Pseudonym changed without rotation: %q, want %q", got, p0)
	}

	t1 := t0.Add(30 * day)
	if rotated, err := k.Rotate(t1); err != nil || !rotated {
		t.Fatalf("Rotate at the period = %v, %v; want true, nil", rotated, err)
	}
	p1 := k.Pseudonym("dev")
	if p1 == p0 {
		t.Fatal("rotation did not change the pseudonym")
	}
	if got := k.All("dev"); !slices.Equal(got, []string{p1, p0}) {
		t.Fatalf("All after one rotation = %q, want %q", got, []string{p1, p0})
	}
	if got := k.Epochs(); !equalTimes(got, []time.Time{t1, t0}) {
		t.Fatalf("Epochs = %v, want [%v %v]", got, t1, t0)
	}
	if got := k.Stable("consent", "dev"); got != stable {
		t.Fatalf("Stable changed by rotation: %q, want %q", got, stable)
	}
	// Rotating again at the same time does nothing: the new key is fresh.
	if rotated, err := k.Rotate(t1); err != nil || rotated {
		t.Fatalf("second Rotate at t1 = %v, %v; want false, nil", rotated, err)
	}

	t2, t3 := t1.Add(31*day), t1.Add(70*day)
	mustRotate(t, k, t2)
	p2 := k.Pseudonym("dev")
	if got := k.All("dev"); !slices.Equal(got, []string{p2, p1, p0}) {
		t.Fatalf("All after two rotations = %q, want %q", got, []string{p2, p1, p0})
	}
	mustRotate(t, k, t3)
	p3 := k.Pseudonym("dev")
	want := []string{p3, p2, p1} // p0's key is beyond Keep = 2 and is gone
	if got := k.All("dev"); !slices.Equal(got, want) {
		t.Fatalf("All after three rotations = %q, want %q", got, want)
	}
	if got := k.Epochs(); !equalTimes(got, []time.Time{t3, t2, t1}) {
		t.Fatalf("Epochs = %v, want [%v %v %v]", got, t3, t2, t1)
	}
	if len(slices.Compact([]string{p0, p1, p2, p3})) != 4 {
		t.Fatalf("pseudonyms repeat across epochs: %q", []string{p0, p1, p2, p3})
	}
	if got := k.Stable("consent", "dev"); got != stable {
		t.Fatalf("Stable changed by rotations: %q, want %q", got, stable)
	}

	// The rotations were persisted: a reopen sees the same keys, and the
	// dropped key is gone from the file too.
	k2 := MustOpen(t, cfg, t3)
	if got := k2.All("dev"); !slices.Equal(got, want) {
		t.Fatalf("after reopen All = %q, want %q", got, want)
	}
	if got := k2.Stable("consent", "dev"); got != stable {
		t.Fatalf("after reopen Stable = %q, want %q", got, stable)
	}
	if n := len(readFile(t, path).Created); n != 3 {
		t.Fatalf("file holds %d key times, want 3", n)
	}
}

func TestOpenRotatesStaleKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pseudonym.json")
	k1 := MustOpen(t, pseudonym.Config{Path: path}, t0)
	p0 := k1.Pseudonym("dev")
	late := t0.Add(pseudonym.DefaultPeriod + day)
	k2 := MustOpen(t, pseudonym.Config{Path: path}, late)
	if got := k2.Epochs(); !equalTimes(got, []time.Time{late, t0}) {
		t.Fatalf("Epochs after a late Open = %v, want [%v %v]", got, late, t0)
	}
	if got := k2.All("dev"); len(got) != 2 || got[0] == p0 || got[1] != p0 {
		t.Fatalf("All after a late Open = %q: want [new, %q]", got, p0)
	}
}

func TestOpenTrimsWhenKeepShrinks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pseudonym.json")
	cfg := pseudonym.Config{Path: path, Period: day, Keep: 3}
	k := MustOpen(t, cfg, t0)
	for i := 1; i <= 3; i++ {
		mustRotate(t, k, t0.Add(time.Duration(i)*day))
	}
	all := k.All("dev")
	if len(all) != 4 {
		t.Fatalf("All = %d pseudonyms, want 4", len(all))
	}
	cfg.Keep = 1
	k2 := MustOpen(t, cfg, t0.Add(3*day))
	if got := k2.All("dev"); !slices.Equal(got, all[:2]) {
		t.Fatalf("All with Keep 1 = %q, want %q", got, all[:2])
	}
}

func TestStablePurposes(t *testing.T) {
	k := MustOpen(t, pseudonym.Config{}, t0)
	consent := k.Stable("consent", "dev")
	if len(consent) != 2*pseudonym.Size {
		t.Fatalf("Stable = %q: len %d", consent, len(consent))
	}
	others := map[string]string{
		"rotating pseudonym":  k.Pseudonym("dev"),
		"other purpose":       k.Stable("license", "dev"),
		"other device":        k.Stable("consent", "dev2"),
		"shifted boundary":    k.Stable("consentd", "ev"),
		"shifted boundary 2":  k.Stable("consen", "tdev"),
		"empty purpose":       k.Stable("", "consentdev"),
		"NUL in purpose":      k.Stable("consent\x00", "dev"),
		"NUL moved to device": k.Stable("consent", "\x00dev"),
	}
	for name, p := range others {
		if p == consent {
			t.Errorf("%s: equals Stable(consent, dev) = %q", name, consent)
		}
	}
}

func TestFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no POSIX permissions")
	}
	dir := filepath.Join(t.TempDir(), "keys")
	path := filepath.Join(dir, "pseudonym.json")
	MustOpen(t, pseudonym.Config{Path: path}, t0)
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %#o, want %#o", p, got, want)
		}
	}
	// A rotation rewrites the file: still 0600.
	k := MustOpen(t, pseudonym.Config{Path: path, Period: day}, t0)
	mustRotate(t, k, t0.Add(day))
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("after rotation: %v, %v; want mode 0600", fi.Mode(), err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("key dir holds %v (%v): want only the key file, no temporary files", entries, err)
	}

	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := pseudonym.Open(pseudonym.Config{Path: path}, t0)
		if err == nil || !strings.Contains(err.Error(), "group or others") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("Open of a %#o file: err = %v; want a refusal naming the mode and the fix", mode, err)
		}
	}
}

func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	MustOpen(t, pseudonym.Config{Path: good}, t0)
	f := readFile(t, good)

	mutate := func(fn func(m map[string]any)) []byte {
		var m map[string]any
		data, _ := os.ReadFile(good)
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		out, _ := json.Marshal(m)
		return out
	}
	var someID string
	for id := range f.Created {
		someID = fmt.Sprint(id)
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a keyring file"},
		{"truncated", mustRead(t, good)[:40], "not a keyring file"},
		{"garbage", []byte("\x00\x01binary"), "not a keyring file"},
		{"trailing data", append(mustRead(t, good), "{}"...), "data after the JSON object"},
		{"unknown field", mutate(func(m map[string]any) { m["extra"] = 1 }), `unknown field "extra"`},
		{"wrong format", mutate(func(m map[string]any) { m["format"] = "v0" }), `format "v0"`},
		{"no rotating keys", mutate(func(m map[string]any) { delete(m, "rotating_keyset") }), "rotating_keyset: missing"},
		{"no stable key", mutate(func(m map[string]any) { m["stable_keyset"] = nil }), "stable_keyset: missing"},
		{"bad keyset", mutate(func(m map[string]any) { m["rotating_keyset"] = map[string]any{"primaryKeyId": 1} }), "rotating_keyset"},
		{"missing time", mutate(func(m map[string]any) { m["created"] = map[string]any{} }), "no time for key"},
		{"stray time", mutate(func(m map[string]any) {
			m["created"].(map[string]any)["12345"] = t0
		}), "key 12345 is not in rotating_keyset"},
		{"zero time", mutate(func(m map[string]any) {
			m["created"].(map[string]any)[someID] = time.Time{}
		}), "zero time"},
		{"AES-CMAC key", mutate(func(m map[string]any) {
			m["stable_keyset"] = tinkJSON(t, prf.AESCMACPRFKeyTemplate())
		}), "want an HMAC PRF key"},
		{"HMAC-SHA512 key", mutate(func(m map[string]any) {
			m["stable_keyset"] = tinkJSON(t, prf.HMACSHA512PRFKeyTemplate())
		}), "want HMAC-SHA256"},
		{"two stable keys", mutate(func(m map[string]any) {
			m["stable_keyset"] = twoKeys(t, m["stable_keyset"], m["rotating_keyset"])
		}), "stable_keyset: has 2 keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "k.json")
			if err := os.WriteFile(path, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := pseudonym.Open(pseudonym.Config{Path: path}, t0)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v; want it to name the file and say %q", err, tc.want)
			}
			t.Log(err)
			// The bad file is left alone for the operator, not replaced.
			if got := mustRead(t, path); string(got) != string(tc.data) {
				t.Fatal("Open changed a corrupt key file")
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  pseudonym.Config
		want string
	}{
		{pseudonym.Config{}, "path is empty"},
		{pseudonym.Config{Path: "x", Period: -time.Hour}, "period = -1h0m0s: must be > 0"},
		{pseudonym.Config{Path: "x", Keep: -1}, "keep = -1: must be >= 0"},
	} {
		_, err := pseudonym.Open(tc.cfg, t0)
		if err == nil || !strings.Contains(err.Error(), tc.want) || herd.ErrorCode(err) != herd.EINVALID {
			t.Errorf("Open(%+v): err = %v; want EINVALID saying %q", tc.cfg, err, tc.want)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	k := MustOpen(t, pseudonym.Config{Period: time.Hour, Keep: 2}, t0)
	stable := k.Stable("consent", "dev")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				id := fmt.Sprintf("dev-%d-%d", g, i)
				p, epoch := k.Current(id)
				all := k.All(id)
				eps := k.Epochs()
				// Whatever rotations happened in between, the pseudonym
				// of the epoch seen is among those All returns, unless
				// its key has been dropped since (keys go oldest first,
				// so one still kept after All was kept during All).
				if !epoch.Before(eps[len(eps)-1]) && !slices.Contains(all, p) {
					t.Errorf("Current(%s) = %q at %v: not in All = %q", id, p, epoch, all)
					return
				}
				if got := k.Stable("consent", "dev"); got != stable {
					t.Errorf("Stable changed: %q, want %q", got, stable)
					return
				}
				_ = k.Pseudonym(id)
			}
		})
	}
	wg.Go(func() {
		for i := 1; i <= 20; i++ {
			if _, err := k.Rotate(t0.Add(time.Duration(i) * time.Hour)); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	if got := k.Epochs(); len(got) != 3 || !got[0].Equal(t0.Add(20*time.Hour)) {
		t.Fatalf("Epochs after 20 rotations = %v: want 3, newest at +20h", got)
	}
}

func BenchmarkPseudonym(b *testing.B) {
	k := MustOpen(b, pseudonym.Config{}, t0)
	b.ReportAllocs()
	for b.Loop() {
		k.Pseudonym("3f0e6a52-8c1d-4d5e-9a5b-1c2d3e4f5a6b")
	}
}

func mustRotate(tb testing.TB, k *pseudonym.Keyring, now time.Time) {
	tb.Helper()
	rotated, err := k.Rotate(now)
	if err != nil || !rotated {
		tb.Fatalf("Rotate(%v) = %v, %v; want true, nil", now, rotated, err)
	}
}

func equalTimes(a, b []time.Time) bool {
	return slices.EqualFunc(a, b, time.Time.Equal)
}

type fileShape struct {
	Created map[string]time.Time `json:"created"`
}

func readFile(tb testing.TB, path string) fileShape {
	tb.Helper()
	var f fileShape
	if err := json.Unmarshal(mustRead(tb, path), &f); err != nil {
		tb.Fatal(err)
	}
	return f
}

func mustRead(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// tinkJSON returns a fresh Tink JSON keyset made from tmpl.
func tinkJSON(tb testing.TB, tmpl *tinkpb.KeyTemplate) any {
	tb.Helper()
	h, err := keyset.NewHandle(tmpl)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		tb.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(buf.Bytes(), &v); err != nil {
		tb.Fatal(err)
	}
	return v
}

// twoKeys returns a Tink JSON keyset holding the keys of both a and b.
func twoKeys(tb testing.TB, a, b any) any {
	tb.Helper()
	ka, kb := a.(map[string]any), b.(map[string]any)
	keys := append(ka["key"].([]any), kb["key"].([]any)...)
	return map[string]any{"primaryKeyId": ka["primaryKeyId"], "key": keys}
}
